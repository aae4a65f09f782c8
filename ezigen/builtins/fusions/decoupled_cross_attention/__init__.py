"""The ``decoupled-cross-attention`` fusion: IP-Adapter (Ye et al. 2023) on any SD/SDXL UNet.

Image tokens c_i = Proj(E) from the encoder's tokens E (``linear``: one embedding -> N tokens;
``resampler``: a perceiver resampler over patch tokens -> N queries). Every cross-attention
layer gets extra key/value projections for them, and adds

    Attn(Q, K_t, V_t) + s_l * Attn(Q, W_k' c_i, W_v' c_i)          (s_l = fusion.scale x layer scale)

IP-Adapter's CFG convention: the unconditional branch gets the encoder's "no subject" tokens
(``negative: empty``; ``subject`` gives it the subject as EZIGen does). Weight files use the
official IP-Adapter layout (``image_proj.*`` and ``ip_adapter.{1,3,5,...}.to_{k,v}_ip.weight``),
which diffusers' ``load_ip_adapter`` reads, and official ``.bin``/``.safetensors`` files load.
"""

from __future__ import annotations

from typing import Any

from ezigen.builtins.fusions.decoupled_cross_attention.config import (
    Projection, NegativeSubject, DecoupledCrossAttentionConfig,
)
from ezigen.values import FeatureKind

__all__ = ["DecoupledCrossAttention", "Projection", "NegativeSubject", "DecoupledCrossAttentionConfig"]


class DecoupledCrossAttention:
    """IP-Adapter-style decoupled cross-attention on every cross-attention layer (TOKENS features)."""

    config_class = DecoupledCrossAttentionConfig
    example_config = {"image_embed_dim": 32}

    @classmethod
    def input_kinds(cls, config: DecoupledCrossAttentionConfig) -> frozenset[FeatureKind]:
        return frozenset({FeatureKind.TOKENS})

    @classmethod
    def from_config(cls, config: DecoupledCrossAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.decoupled_cross_attention.model import DecoupledCrossAttentionModel

        return DecoupledCrossAttentionModel(config, backbone, encoder)

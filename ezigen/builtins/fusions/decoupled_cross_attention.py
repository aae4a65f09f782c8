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

import enum
from typing import Any

import attrs

from ezigen.config import in_range, setting
from ezigen.values import FeatureKind


class Projection(enum.Enum):
    LINEAR = "linear"
    RESAMPLER = "resampler"


class NegativeSubject(enum.Enum):
    EMPTY = "empty"  # IP-Adapter: the unconditional branch sees "no image"
    SUBJECT = "subject"  # EZIGen's convention: the subject in both branches


@attrs.frozen
class DecoupledCrossAttentionConfig:
    weights: str | None = setting(
        None, doc="IP-Adapter weights: an official file (.bin / .safetensors, e.g. hf://h94/IP-Adapter/models/"
        "ip-adapter_sd15.safetensors) or one trained by `ezigen train`; null = untrained init.", tiny="drop",
    )
    scale: float = setting(1.0, doc="Global image-prompt scale s (IP-Adapter's scale; 0 = off).",
                           validator=in_range(0.0, 10.0))
    layer_scales: Any = setting(
        None, doc="Per-layer scales in InstantStyle's format, e.g. {up: {block_0: [0.0, 1.0, 0.0]}}; layers "
        "not named get 0 when given (diffusers' set_ip_adapter_scale rules); null = 1 everywhere.",
    )
    projection: Projection = setting(Projection.LINEAR, doc="linear (IP-Adapter) | resampler (IP-Adapter Plus).")
    num_tokens: int | None = setting(None, doc="Image tokens N; null = 4 (linear) or 16 (resampler).",
                                     validator=in_range(1, 1024))
    negative: NegativeSubject = setting(NegativeSubject.EMPTY, doc="What the unconditional CFG branch sees: "
                                        "empty (IP-Adapter) | subject (EZIGen's convention).")
    image_embed_dim: int | None = setting(None, doc="Encoder token size D; null = taken from the recipe's encoder.",
                                          validator=in_range(1, 100000))


class DecoupledCrossAttention:
    """IP-Adapter-style decoupled cross-attention on every cross-attention layer (TOKENS features)."""

    config_class = DecoupledCrossAttentionConfig
    example_config = {"image_embed_dim": 32}

    @classmethod
    def input_kinds(cls, config: DecoupledCrossAttentionConfig) -> frozenset[FeatureKind]:
        return frozenset({FeatureKind.TOKENS})

    @classmethod
    def from_config(cls, config: DecoupledCrossAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.decoupled_cross_attention_modules import DecoupledCrossAttentionFusion

        return DecoupledCrossAttentionFusion(config, backbone, encoder)

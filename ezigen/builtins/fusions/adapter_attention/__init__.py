"""The ``adapter-attention`` fusion: EZIGen's per-block adapter attention (spec §2.3).

In every transformer block of the generating UNet, between self- and cross-attention:

    h1 = h + Attn1(LN1(h))                                # frozen self-attention
    u  = LN_a(h1)                                         # adapter LayerNorm (copy of norm1)
    kv = concat_tokens(u, w_l * S_l)                      # (B, HW + N*HW, C); S_l: subject features
    o  = Attn_a(Q = u, K = kv, V = kv)  [+ u if residual_connection]
    h1 = h1 + s * o                                       # s: fusion.scale x the step's subject scale

``Attn_a`` starts as a copy of the block's ``attn1`` and ``LN_a`` of its ``norm1`` (no zero
init); ``w`` holds one trainable scalar per block (init 1). The released SD2.1 model uses
``residual_connection: true`` (the "double residual" quirk: the adapter adds its own LayerNormed
input); the authors' SDXL configs use false. Weight files use the released key layout:
``<block>.adapter.{to_q,to_k,to_v,to_out.0}.*``, ``<block>.adapter_norm.*`` and ``learnable_weights``.
"""

from __future__ import annotations

from typing import Any

from ezigen.builtins.fusions.adapter_attention.config import AdapterAttentionConfig
from ezigen.values import FeatureKind

__all__ = ["AdapterAttention", "AdapterAttentionConfig"]


class AdapterAttention:
    """EZIGen's adapter attention in every transformer block, between self- and cross-attention (spec §2.3).

    This registry entry is torch-free; ``from_config`` builds the module from the backbone's UNet.
    """

    config_class = AdapterAttentionConfig

    @classmethod
    def input_kinds(cls, config: AdapterAttentionConfig) -> frozenset[FeatureKind]:
        return frozenset({FeatureKind.SPATIAL})

    @classmethod
    def from_config(cls, config: AdapterAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel

        return AdapterAttentionModel(config, backbone)

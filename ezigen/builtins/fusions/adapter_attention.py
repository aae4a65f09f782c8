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

import attrs

from ezigen.config import in_range, setting
from ezigen.values import FeatureKind


@attrs.frozen
class AdapterAttentionConfig:
    weights: str | None = setting(
        None, doc="Adapter weights (.safetensors from `ezigen train` or `ezigen weights convert`); null = "
        "initialised as copies of each block's attn1/norm1 (untrained).", tiny="drop",
    )
    scale: float = setting(1.0, doc="Strength of the adapter output s (1 = as trained; 0 = off).",
                           validator=in_range(0.0, 10.0))
    residual_connection: bool | None = setting(
        None, doc="Add the adapter's LayerNormed input to its output (released SD2.1: true; SDXL configs: false); "
        "null = the backbone's default (true for SD2.1-style, false for SDXL-style).",
    )
    gated: bool = setting(False, doc="The released (unused) gate: a trainable (1, 1) scalar g per block, initialised "
                          "to 0, multiplying the attention output inside the adapter, before its double residual: "
                          "g o + u, no tanh.")
    tanh_gate: bool = setting(False, doc="ezigen's gate (the toy model's): tanh(g) times the whole adapter output, "
                              "tanh(g) (o [+ u]), g (1,) per block initialised to 0 (training starts from the "
                              "frozen model). Not with gated.")
    only_up: bool = setting(False, doc="Adapters only in the up blocks (an option of the authors' SDXL code).")

    def __attrs_post_init__(self) -> None:
        if self.gated and self.tanh_gate:
            raise ValueError("gated (the released g o + u) and tanh_gate (ezigen's tanh(g) (o + u)) are two different "
                             "gates: set at most one of them")


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
        from ezigen.builtins.fusions.adapter_attention_modules import AdapterAttentionFusion

        return AdapterAttentionFusion(config, backbone)

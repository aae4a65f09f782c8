"""The ``token-adapter-attention`` fusion: EZIGen's adapter fed by a token encoder (the encoder ablation).

The same per-block adapter attention as ``adapter-attention`` (spec §2.3), with the subject
tokens of block l coming from a learned projection of the encoder's tokens instead of
frozen-UNet features:

    kv = concat_tokens(LN_a(h1), w_l * proj_l(E))          E: (B, N*T, D) CLIP / DINOv2 tokens

so that "EZIGen's adapter with a CLIP (or DINO) encoder" is one line in a recipe.
"""

from __future__ import annotations

from typing import Any

from ezigen.builtins.fusions.token_adapter_attention.config import TokenAdapterAttentionConfig
from ezigen.values import FeatureKind

__all__ = ["TokenAdapterAttention", "TokenAdapterAttentionConfig"]


class TokenAdapterAttention:
    """EZIGen's adapter attention reading projected encoder tokens (TOKENS features)."""

    config_class = TokenAdapterAttentionConfig
    example_config = {"token_dim": 32}

    @classmethod
    def input_kinds(cls, config: TokenAdapterAttentionConfig) -> frozenset[FeatureKind]:
        return frozenset({FeatureKind.TOKENS})

    @classmethod
    def from_config(cls, config: TokenAdapterAttentionConfig, backbone: Any, encoder: Any = None):
        from ezigen.builtins.fusions.token_adapter_attention.model import TokenAdapterAttentionModel

        return TokenAdapterAttentionModel(config, backbone, encoder)

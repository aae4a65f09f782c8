"""The module of ``token-adapter-attention``: adapter-attention plus one projection per block."""

from __future__ import annotations

from typing import Any

import torch

from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel
from ezigen.errors import EzigenError
from ezigen.values import FeatureKind

INIT_SEED = 0


class TokenAdapterAttentionModel(AdapterAttentionModel):
    fusion_type = "token-adapter-attention"

    def __init__(self, config: Any, backbone: Any, encoder: Any = None):
        super().__init__(config, backbone)
        dim = config.token_dim or getattr(encoder, "output_dim", None)
        if dim is None:
            raise EzigenError("token-adapter-attention needs the encoder's token size: pair it with a token "
                              "encoder (clip, dino) or set fusion.token_dim")
        self.token_dim = int(dim)
        unet = backbone.unet
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            self.token_projections = torch.nn.ModuleList(
                torch.nn.Linear(self.token_dim, unet.get_submodule(name).norm1.normalized_shape[0])
                for name in self.layers
            ).to(device=unet.device, dtype=unet.dtype)

    def subject_tokens(self, features: Any, name: str, index: int) -> torch.Tensor:
        """S_l = proj_l(E): (b, N*T, D) -> (b, N*T, C_l)."""
        projection = self.token_projections[index]
        return projection(features.tokens.to(projection.weight.dtype))

    def subject_source(self, features: Any, name: str, index: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """E and proj_l's parameters: the precomputed K/V of block l follow both."""
        return features.tokens, list(self.token_projections[index].parameters())

    def check_features(self, features: Any) -> None:
        if features.kind is not FeatureKind.TOKENS or features.tokens is None:
            raise EzigenError(f"token-adapter-attention reads token features, got {features.kind.value}")
        if features.tokens.shape[-1] != self.token_dim:
            raise EzigenError(f"subject tokens have size {features.tokens.shape[-1]}, but the adapter's projections "
                              f"expect {self.token_dim}")

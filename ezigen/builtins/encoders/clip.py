"""The ``clip`` subject encoder: a CLIP image tower (IP-Adapter's ViT-H/14 by default).

- ``embedding: pooled``: the projected image embedding ``image_embeds``, one token (1, 1, D_proj)
  per image (IP-Adapter); its "no subject" tokens are zeros, as diffusers' IP-Adapter pipelines use.
- ``embedding: patch``: the penultimate layer's hidden states (1, 1 + P, D) per image
  (IP-Adapter Plus); "no subject" = the encoder on a zero image, as diffusers does.

Preprocessing is the model's own ``CLIPImageProcessor`` (no torchvision).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ezigen.builtins.encoders.token_base import TokenEncoder
from ezigen.builtins.revisions import revision_setting
from ezigen.config import setting


class ClipEmbedding(enum.Enum):
    POOLED = "pooled"
    PATCH = "patch"


@attrs.frozen
class ClipEncoderConfig:
    pretrained: str = setting("h94/IP-Adapter", doc="CLIP vision model: hub id or folder (tiny:clip offline; "
                              "toy:clip the toy world's).",
                              tiny="clip")
    revision: str | None = revision_setting("h94/IP-Adapter")
    subfolder: str | None = setting("models/image_encoder", doc="Folder of the image encoder inside `pretrained` "
                                    "(IP-Adapter's layout); null for a plain model repo.")
    embedding: ClipEmbedding = setting(ClipEmbedding.POOLED, doc="pooled: image_embeds (1 token); "
                                       "patch: penultimate hidden states (1 + P tokens).")


class ClipSubjectEncoder(TokenEncoder):
    """CLIP image embeddings or patch tokens of the subject (TOKENS)."""

    config_class = ClipEncoderConfig
    example_config = {"pretrained": "tiny:clip"}
    name = "clip"

    def load(self) -> tuple[Any, Any]:
        from ezigen.builtins.image_models import load_clip_vision

        subfolder = None if self.config.pretrained.startswith(("tiny:", "toy:")) else self.config.subfolder
        return load_clip_vision(self.config.pretrained, subfolder, self.config.revision)

    def tokens(self, pixel_values: Any) -> Any:
        if self.config.embedding is ClipEmbedding.POOLED:
            return self.model(pixel_values=pixel_values).image_embeds[:, None, :]  # (N, 1, D_proj)
        return self.model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2]  # (N, 1+P, D)

    def null_tokens(self, pixel_values: Any) -> Any:
        if self.config.embedding is ClipEmbedding.POOLED:
            return pixel_values.new_zeros(1, 1, self.output_dim)
        return super().null_tokens(pixel_values)

    @property
    def output_dim(self) -> int:
        if self.config.embedding is ClipEmbedding.POOLED:
            return int(self.model.config.projection_dim)
        return int(self.model.config.hidden_size)

"""The ``dino`` subject encoder: DINOv2 (default facebook/dinov2-base) CLS and patch tokens.

Output per image: ``tokens: all`` the last hidden state (1 + P, D) (CLS first), ``cls`` only
the CLS token, ``patch`` only the patch tokens. Preprocessed by the model's own image
processor. "No subject" tokens: the encoder on a zero image.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ezigen.builtins.encoders.token_base import TokenEncoder
from ezigen.builtins.revisions import revision_setting
from ezigen.config import setting


class DinoTokens(enum.Enum):
    ALL = "all"
    CLS = "cls"
    PATCH = "patch"


@attrs.frozen
class DinoEncoderConfig:
    pretrained: str = setting("facebook/dinov2-base", doc="DINOv2 (or DINO) model: hub id or folder "
                              "(tiny:dino offline; toy:dino the toy world's).", tiny="dino")
    revision: str | None = revision_setting("facebook/dinov2-base")
    tokens: DinoTokens = setting(DinoTokens.ALL, doc="all (CLS + patches) | cls | patch.")


class DinoSubjectEncoder(TokenEncoder):
    """DINOv2 tokens of the subject (TOKENS)."""

    config_class = DinoEncoderConfig
    example_config = {"pretrained": "tiny:dino"}
    name = "dino"

    def load(self) -> tuple[Any, Any]:
        from ezigen.builtins.image_models import load_dino

        return load_dino(self.config.pretrained, self.config.revision)

    def tokens(self, pixel_values: Any) -> Any:
        hidden = self.model(pixel_values=pixel_values).last_hidden_state  # (N, 1 + P, D)
        if self.config.tokens is DinoTokens.CLS:
            return hidden[:, :1]
        if self.config.tokens is DinoTokens.PATCH:
            return hidden[:, 1:]
        return hidden

    @property
    def output_dim(self) -> int:
        return int(self.model.config.hidden_size)

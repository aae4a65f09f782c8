"""What the token encoders (``clip``, ``dino``) share: preprocessing with the model's own image
processor, one forward pass per subject, the "empty subject" tokens, and the cache key.

Output: TOKENS features, ``tokens`` (1, N * T, D) for N subject images of T tokens each
(``info["tokens_per_image"] = T``), and ``extras["null_tokens"]`` (1, T, D): what the encoder
gives for no subject (zero embeddings for a pooled embedding; the encoder run on a zero image
otherwise), which IP-Adapter-style fusions use in the unconditional CFG branch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ezigen.config import unstructure
from ezigen.values import FeatureKind, SubjectFeatures, SubjectInput


class TokenEncoder:
    """Base class: subclasses set ``name`` and implement ``load()`` and ``tokens(pixel_values)``."""

    name = ""

    def __init__(self, config: Any):
        self.config = config
        self.model, self.processor = self.load()

    @classmethod
    def from_config(cls, config: Any, backbone: Any = None) -> TokenEncoder:
        return cls(config)

    @classmethod
    def output_kind(cls, config: Any) -> FeatureKind:
        return FeatureKind.TOKENS

    def load(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def tokens(self, pixel_values: Any) -> Any:
        """(N, 3, S, S) preprocessed pixels -> (N, T, D) tokens."""
        raise NotImplementedError

    def null_tokens(self, pixel_values: Any) -> Any:
        """(1, T, D) tokens for "no subject": the encoder on a zero (mean-coloured) image by default."""
        return self.tokens(pixel_values[:1].new_zeros(pixel_values[:1].shape))

    @property
    def output_dim(self) -> int:
        raise NotImplementedError

    def cache_key(self) -> str:
        payload = json.dumps({"encoder": self.name, **unstructure(self.config)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to(self, device: Any = None, dtype: Any = None) -> TokenEncoder:
        self.model.to(device=device, dtype=dtype)
        return self

    def encode(self, subject: SubjectInput, backbone: Any = None) -> SubjectFeatures:
        import torch

        inputs = self.processor(images=list(subject.images), return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=self.model.device, dtype=self.model.dtype)
        with torch.no_grad():
            tokens = self.tokens(pixels)  # (N, T, D)
            null = self.null_tokens(pixels)  # (1, T, D)
        count, per_image, dim = tokens.shape
        info = {"encoder": self.name, "images": count, "tokens_per_image": per_image, "dim": dim,
                **unstructure(self.config), "image_size": int(pixels.shape[-1])}
        return SubjectFeatures(
            FeatureKind.TOKENS,
            tokens=tokens.reshape(1, count * per_image, dim).detach(),
            extras={"null_tokens": null.detach()},
            info=info,
        )

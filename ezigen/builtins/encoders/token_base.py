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

    def encode_batch(self, images: list[list[Any]], prompts: list[list[str]], slots: int, backbone: Any,
                     generator: Any) -> SubjectFeatures:
        """Training: B samples of up to ``slots`` images -> tokens (B, slots * T, D), ``slot_mask`` (B, slots).

        Empty slots get zero pixel values (the mean colour after normalisation)."""
        import torch

        batch = len(images)
        flat = [image for subject_images in images for image in subject_images[:slots]]
        inputs = self.processor(images=flat, return_tensors="pt")["pixel_values"]
        pixels = torch.zeros((batch * slots,) + tuple(inputs.shape[1:]), dtype=inputs.dtype)
        slot_mask = torch.zeros(batch, slots, dtype=torch.bool)
        used = 0
        for b, subject_images in enumerate(images):
            for j in range(min(len(subject_images), slots)):
                pixels[b * slots + j] = inputs[used]
                slot_mask[b, j] = True
                used += 1
        pixels = pixels.to(device=self.model.device, dtype=self.model.dtype)
        with torch.no_grad():
            tokens = self.tokens(pixels)  # (B*slots, T, D)
            null = self.null_tokens(pixels)
        per_image, dim = tokens.shape[1], tokens.shape[2]
        info = {"encoder": self.name, "tokens_per_image": per_image, "dim": dim, "slots": slots,
                **unstructure(self.config)}
        return SubjectFeatures(FeatureKind.TOKENS, tokens=tokens.reshape(batch, slots * per_image, dim).detach(),
                               slot_mask=slot_mask.to(self.model.device), extras={"null_tokens": null.detach()},
                               info=info)

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

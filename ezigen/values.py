"""Small frozen values passed between components.

They hold tensors and images but import neither torch nor PIL at module import time.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image


class FeatureKind(enum.Enum):
    """What a subject encoder produces, and what a fusion can read.

    - ``SPATIAL``: per-layer hidden states keyed by UNet layer name, (N_sub, HW_l, C_l) each
      (EZIGen's frozen-UNet features).
    - ``TOKENS``: one token sequence (N_sub, N, D) (CLIP / DINOv2 embeddings or patch tokens).
    - ``REFERENCE``: the clean reference latent and its conditioning, for fusions that run the
      UNet on it at every step (training-free reference attention).
    """

    SPATIAL = "spatial"
    TOKENS = "tokens"
    REFERENCE = "reference"


class BackboneKind(enum.Enum):
    """The two UNet families: SD2.1-style (one text encoder) and SDXL-style (two, added time ids)."""

    SD = "sd"
    SDXL = "sdxl"


@attrs.frozen
class SubjectInput:
    """The subject: one or more RGB images (already decoded) and its class prompt, e.g. "a dog".

    ``key`` identifies the content (sha256 of the decoded pixels and the prompt); encoders use it
    with their own config to cache features.
    """

    images: tuple[Image.Image, ...]
    prompt: str
    key: str

    @classmethod
    def from_images(cls, images: list[Image.Image] | tuple[Image.Image, ...], prompt: str) -> SubjectInput:
        digest = hashlib.sha256()
        for image in images:
            digest.update(f"{image.mode}{image.size}".encode())
            # in bands of rows: the same digest as image.tobytes(), without a second full-size copy
            for top in range(0, image.height, 256):
                digest.update(image.crop((0, top, image.width, min(top + 256, image.height))).tobytes())
        digest.update(prompt.encode("utf-8"))
        return cls(images=tuple(images), prompt=prompt, key=digest.hexdigest())


@attrs.frozen(eq=False)
class SubjectFeatures:
    """What a subject encoder produced for one subject.

    ``layers`` (SPATIAL): layer name -> tensor (1, N_sub * HW_l, C_l), the N_sub images'
    tokens concatenated along the token axis (spec §2.2 point 8).
    ``tokens`` (TOKENS): tensor (1, N_sub * N, D).
    ``reference`` (REFERENCE): dict with ``latents`` (N_sub, 4, h, w) and the conditioning.
    ``slot_mask`` (training): (B, N_sub) bool, True where a subject slot holds a real image
    (False: padding), for fusions that can mask padded slots out of attention.
    ``extras``: further tensors, e.g. ``null_tokens`` (1, T, D): the encoder's "no subject" tokens.
    ``info``: plain data describing how they were made (encoder, model, timestep, ...).
    """

    kind: FeatureKind
    layers: Mapping[str, torch.Tensor] | None = None
    tokens: torch.Tensor | None = None
    reference: Mapping[str, Any] | None = None
    slot_mask: torch.Tensor | None = None
    extras: Mapping[str, torch.Tensor] = attrs.field(factory=dict)
    info: Mapping[str, Any] = attrs.field(factory=dict)

    def to(self, device: Any = None, dtype: Any = None) -> SubjectFeatures:
        def move(t: Any) -> Any:
            if hasattr(t, "to") and hasattr(t, "is_floating_point"):
                return t.to(device=device, dtype=dtype if t.is_floating_point() else None)
            return t

        return attrs.evolve(
            self,
            layers={k: move(v) for k, v in self.layers.items()} if self.layers is not None else None,
            tokens=move(self.tokens) if self.tokens is not None else None,
            reference={k: move(v) for k, v in self.reference.items()} if self.reference is not None else None,
            slot_mask=self.slot_mask.to(device=device) if self.slot_mask is not None else None,
            extras={k: move(v) for k, v in self.extras.items()},
        )


@attrs.frozen
class StepGuidance:
    """Guidance at one denoising step.

    ``text_scale`` g_t: classifier-free text guidance, eps = eps_u + g_t (eps_c - eps_u);
    g_t <= 1 runs the conditional branch alone, as diffusers does.
    ``subject_scale`` s: multiplies the subject path (fusion scale); 0 switches it off at this
    step and leaves the UNet bit-identical to the plain backbone.
    """

    text_scale: float
    subject_scale: float

    @property
    def subject_active(self) -> bool:
        return self.subject_scale != 0.0

"""Keeping the background: blend the inverted latents back in after every denoising step (spec §4.4 step 3).

After the edit's denoising step i (i = 0 .. K-1, counted from the restart index k0), with M the
latent-size mask (1 = edit) and r = x_inv reversed (r[0] = z_K, the start; r[K] = z_0, clean):

    x <- x * M + r[j] * (1 - M)         j = i      (``released``: one step behind; at i = 0 the start itself)
                                        j = i + 1  (``corrected``: the noise level step i reached; SDXL dev code)

r is the *first* iteration's inversion: later iterations invert their own input, but blend the
source's background.
"""

from __future__ import annotations

from typing import Any

from ezigen.editing.config import BlendIndex
from ezigen.errors import EzigenError


def reference_index(step: int, mode: BlendIndex) -> int:
    """j for the edit's step i (module docstring)."""
    return step if mode is BlendIndex.RELEASED else step + 1


class Blender:
    """The per-step callback ``(index, timestep, latents) -> blended latents`` of an edit."""

    def __init__(self, mask: Any, start: int, mode: BlendIndex):
        self.mask = mask  # (1, 1, h, w) in [0, 1]
        self.start = start  # k0: the scheduled index of the edit's first denoising step
        self.mode = mode
        self.reference: list[Any] | None = None  # x_inv of the first iteration, [z_0 .. z_K]

    def keep(self, intermediates: list[Any]) -> None:
        """Remember the first iteration's inversion as the background reference (later calls are ignored)."""
        if self.reference is None:
            self.reference = list(intermediates)

    def __call__(self, index: int, timestep: int, latents: Any) -> Any:
        reversed_reference = self.reference[::-1]
        j = reference_index(index - self.start, self.mode)
        if not 0 <= j < len(reversed_reference):
            raise EzigenError(f"editing: step {index} has no inverted latent to blend (index {j} of "
                              f"{len(reversed_reference)}); the inversion and the edit's steps do not line up")
        mask = self.mask.to(device=latents.device, dtype=latents.dtype)
        return latents * mask + reversed_reference[j].to(latents.dtype) * (1 - mask)  # (B, C, h, w)

"""The edit's inputs: the source image at its working size and the mask at the latent size (spec §4.4 step 1).

- Source: resized (bicubic) so its short side is ``S`` (released: 512; ``editing.short_side``,
  null = ``backbone.resolution``); the long side keeps the aspect ratio, rounded down to a
  multiple ``m`` of what the UNet accepts (m = VAE factor x 2^(down blocks - 1): 64 on SD, so
  every UNet level has whole latent cells). Non-square sizes are allowed: the latents come from
  the image itself, not from noise of the recipe's square size.
- Mask (white = the region to edit): read as grayscale L in [0, 1]; resized (bilinear) to the
  source's working size, then bilinearly to the latent size (h, w) = (H / f, W / f):

      M = interpolate(L, (h, w), mode="bilinear")            # (1, 1, h, w), in [0, 1]

  A mask of another aspect ratio than the source is stretched to it, with a warning
  (:class:`MaskResizedWarning`); a mask with no white at all (no pixel >= 128: all black, or
  all grey as 100 everywhere) is an error: there is nothing to edit. An all-white mask edits
  everything and is allowed. Every mask error and warning starts ``mask 'PATH'`` (the argument
  and, for a path, the file).
"""

from __future__ import annotations

import warnings
from typing import Any

from ezigen.errors import EzigenError
from ezigen.images import load_image

WHITE = 128  # a mask pixel at or above this (of 255) marks the region to edit
ASPECT_TOLERANCE = 0.01  # relative difference of w/h below which a mask counts as the source's shape


class MaskResizedWarning(UserWarning):
    """The mask had another aspect ratio than the source and was stretched to it."""


def working_size(width: int, height: int, short_side: int, multiple: int) -> tuple[int, int]:
    """(W, H) with min(W, H) ~ ``short_side`` and the aspect ratio kept, both rounded down to ``multiple``."""
    scale = short_side / min(width, height)
    def snap(value: float) -> int:
        return max(multiple, int(value) // multiple * multiple)

    return snap(round(width * scale)), snap(round(height * scale))


def size_multiple(backbone: Any) -> int:
    """The pixel multiple the backbone's UNet accepts: VAE factor x 2^(number of down blocks - 1)."""
    levels = len(getattr(backbone.unet.config, "down_block_types", ())) or 1
    return int(backbone.vae_scale_factor) * 2 ** (levels - 1)


def load_source(image: Any) -> Any:
    """A path or PIL image -> RGB PIL image (a :class:`~ezigen.errors.SubjectImageError` naming it otherwise)."""
    return load_image(image, "source image")


def resize_source(source: Any, short_side: int, multiple: int) -> Any:
    """The source at its working size (module docstring)."""
    from PIL import Image

    size = working_size(source.width, source.height, short_side, multiple)
    return source if source.size == size else source.resize(size, Image.Resampling.BICUBIC)


def check_mask(mask: Any, source_size: tuple[int, int], size: tuple[int, int] | None = None) -> tuple[Any, str | None]:
    """A path or PIL image -> (the mask as an L image at ``size``, a warning line or None).

    The aspect ratio is compared with the (original) ``source_size``; ``size`` (default:
    ``source_size``) is the working size the mask is resized to. Raises :class:`EzigenError`
    for a mask that is not an image or has nothing to edit.
    """
    from PIL import Image

    picture = load_image(mask, "mask")
    gray = picture.convert("L")
    brightest = gray.getextrema()[1]
    if brightest < WHITE:  # all black or all grey: nothing crosses the threshold, so nothing would be edited
        raise EzigenError(f"mask{_named(mask)}: no pixel >= {WHITE} (white = the region to edit; the brightest is "
                          f"{brightest} of 255), so there is nothing to edit (an all-white mask edits the whole image)")
    warning = None
    (mw, mh), (sw, sh) = gray.size, source_size
    if abs((mw / mh) / (sw / sh) - 1.0) > ASPECT_TOLERANCE:
        warning = (f"mask{_named(mask)} is {mw}x{mh}, another aspect ratio than the source ({sw}x{sh}); "
                   "it was stretched to the source's size")
    size = tuple(size or source_size)
    if gray.size != size:
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    return gray, warning


def load_mask(mask: Any, source_size: tuple[int, int], size: tuple[int, int] | None = None) -> Any:
    """:func:`check_mask`, with the aspect-ratio warning issued as a :class:`MaskResizedWarning`."""
    gray, warning = check_mask(mask, source_size, size)
    if warning is not None:
        warnings.warn(warning, MaskResizedWarning, stacklevel=2)
    return gray


def mask_to_latent(mask: Any, latent_size: tuple[int, int], device: Any = None, dtype: Any = None):
    """An L image -> M (1, 1, h, w) in [0, 1], bilinear to ``latent_size`` = (h, w)."""
    import numpy as np
    import torch

    values = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None]  # (1, 1, H, W)
    latent = torch.nn.functional.interpolate(values, size=tuple(latent_size), mode="bilinear", align_corners=False)
    return latent.to(device=device, dtype=dtype or torch.float32)


def to_pixels(image: Any):
    """An RGB PIL image -> (1, 3, H, W) float32 in [-1, 1], as :func:`ezigen.images.to_tensor` without resizing."""
    import numpy as np
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous() * 2.0 - 1.0


def _named(value: Any) -> str:
    """`` 'PATH'`` for a path, `` (an image)`` for an image object: what follows "mask" in a message."""
    import os

    return f" {os.fspath(value)!r}" if isinstance(value, (str, os.PathLike)) else " (an image)"

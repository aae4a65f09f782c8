"""Boxes, crops and pads shared by the COCO and YouTube-VIS builders, plus their file helpers.

Boxes are ``(x0, y0, x1, y1)`` integer pixel boxes with exclusive ends. Everything that makes
an image bigger pads around the centre (the extra pixel of an odd pad goes right/bottom).
Resizes use PIL's antialiased bilinear filter (the ezigen subject preprocessing uses the same).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
from PIL import Image

from ezigen.errors import DataError

Box = tuple[int, int, int, int]
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
RESAMPLE = Image.Resampling.BILINEAR

# ---------------------------------------------------------------------------------------- boxes


def mask_box(mask: np.ndarray) -> Box | None:
    """The tight box around a boolean mask's True pixels, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def scale_xywh(bbox: list[float], scale_x: float, scale_y: float, width: int, height: int) -> Box:
    """A COCO ``[x, y, w, h]`` box scaled by (scale_x, scale_y): floor the start, ceil the end, clip."""
    x, y, w, h = (float(v) for v in bbox)
    x0 = min(max(math.floor(x * scale_x), 0), width)
    y0 = min(max(math.floor(y * scale_y), 0), height)
    x1 = min(max(math.ceil((x + w) * scale_x), 0), width)
    y1 = min(max(math.ceil((y + h) * scale_y), 0), height)
    return x0, y0, x1, y1


def expand_box(box: Box, ratio: float, width: int, height: int) -> Box:
    """The box scaled by ``ratio`` about its centre (sides ``ratio * w``, ``ratio * h``), clipped."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = (x1 - x0) * ratio / 2, (y1 - y0) * ratio / 2
    return (max(int(cx - half_w), 0), max(int(cy - half_h), 0),
            min(int(math.ceil(cx + half_w)), width), min(int(math.ceil(cy + half_h)), height))


def square_box(box: Box, width: int, height: int) -> Box:
    """The box grown to a square of side ``max(w, h)`` about its centre, clipped to the image."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    nx0, ny0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    return max(nx0, 0), max(ny0, 0), min(nx0 + side, width), min(ny0 + side, height)


def box_size(box: Box) -> tuple[int, int]:
    return box[2] - box[0], box[3] - box[1]


# ---------------------------------------------------------------------------------------- pixels


def paint_outside(image: Image.Image, mask: np.ndarray, color: tuple[int, int, int] = WHITE) -> Image.Image:
    """RGB image with every pixel outside ``mask`` set to ``color`` (the subject "on white")."""
    pixels = np.array(image.convert("RGB"))
    pixels[~mask] = color
    return Image.fromarray(pixels)


def pad_to_size(image: Image.Image, width: int, height: int, fill: Any) -> Image.Image:
    """Centre ``image`` on a ``fill`` canvas of (width, height) >= its size."""
    canvas = Image.new(image.mode, (width, height), fill)
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def pad_by_ratio(image: Image.Image, ratio: float, fill: Any) -> Image.Image:
    """Pad to ``(int(w * ratio), int(h * ratio))``, centred (AnyDoor-style margin around a subject)."""
    width = max(int(image.width * ratio), image.width)
    height = max(int(image.height * ratio), image.height)
    return pad_to_size(image, width, height, fill)


def resize_square(image: Image.Image, side: int, nearest: bool = False) -> Image.Image:
    """Resize to ``side x side`` (aspect not kept); ``nearest`` for masks."""
    return image.resize((side, side), Image.Resampling.NEAREST if nearest else RESAMPLE)


def mask_image(mask: np.ndarray) -> Image.Image:
    """Boolean mask -> 8-bit PNG-able image, 255 inside."""
    return Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L")


# ---------------------------------------------------------------------------------------- files


def read_json(path: str, option: str, expected: str) -> Any:
    """Parse a JSON file, or raise DataError naming the option, the file and what was expected."""
    if not os.path.isfile(path):
        raise DataError(f"{option} {path!r}: no such file (expected {expected})")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"{option} {path!r}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                        f"expected {expected}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{option} {path!r}: cannot be read ({exc}); expected {expected}") from None


def load_rgb(path: str, width: int | None = None, height: int | None = None) -> Image.Image:
    """An image file as RGB (no EXIF rotation: annotations refer to the stored pixels).

    Opened through :func:`ezigen.images.open_image` (a regular file; size from the header, checked
    against the annotation's ``width``/``height`` and the decode limit before any pixel is decoded).
    Raises DataError for a missing or unreadable file, or a size that differs from the annotation's.
    """
    from ezigen.images import check_decode_size, open_image

    with open_image(path, "image", DataError) as raw:
        if width is not None and height is not None and raw.size != (width, height):
            raise DataError(f"image {path!r} is {raw.width}x{raw.height}, the annotations say {width}x{height}")
        check_decode_size(raw, path, "image", extra=0 if raw.mode == "RGB" else 4, error=DataError)
        raw.load()
        return raw if raw.mode == "RGB" else raw.convert("RGB")


def image_size(path: str) -> tuple[int, int]:
    """(width, height) from the file's header alone (nothing decoded); DataError if it is not an image."""
    from ezigen.images import open_image

    with open_image(path, "image", DataError) as raw:
        return raw.size


def save_image(image: Image.Image, path: str) -> str:
    """Write an image atomically (JPEG quality 95 for .jpg, PNG otherwise); returns the path."""
    from ezigen.io import atomic_path

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        if path.lower().endswith((".jpg", ".jpeg")):
            image.save(tmp, format="JPEG", quality=95)
        else:
            image.save(tmp, format="PNG")
    return path


# ---------------------------------------------------------------------------------------- reports

Progress = Callable[[int, int, int], None]  # (done, total, samples written)


@attrs.define
class BuildReport:
    """What a builder wrote: the manifest, how many samples, and how many candidates were skipped, by reason."""

    manifest: str
    samples: int
    skipped: dict[str, int] = attrs.field(factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> str:
        text = f"{self.samples} samples"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        return text

"""Reading subject images robustly, and writing images atomically.

Two ways to decode (both give an 8-bit RGB PIL image; anything unreadable is a
:class:`SubjectImageError` naming the file and what is wrong with it):

- ``released=False`` (robust): EXIF orientation applied, transparency composited on white
  (EZIGen expects subjects on white), CMYK / palette / 16-bit / grayscale converted; very large
  images are reduced while decoding (JPEG draft mode) and then to at most ``MAX_SIDE`` pixels,
  so a 6000x4000 photo does not blow up memory.
- ``released=True``: exactly the released code's ``Image.open(path).convert("RGB")``: no EXIF
  transpose, alpha dropped (transparent pixels keep whatever colour they store), no reduction.
"""

from __future__ import annotations

import os
from typing import Any

from ezigen.errors import SubjectImageError

MAX_SIDE = 2048  # larger than any backbone resolution; subjects are resized to <= 1024 anyway


def load_image(source: Any, what: str = "subject image", *, released: bool = False) -> Any:
    """A path or PIL image -> RGB PIL image; ``released``: PIL's plain ``convert("RGB")`` (module docstring)."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return source.convert("RGB") if released else to_rgb(source)
    path = os.fspath(source)
    if not os.path.exists(path):
        raise SubjectImageError(f"{what} {path!r} does not exist")
    if os.path.isdir(path):
        raise SubjectImageError(f"{what} {path!r} is a folder, expected an image file")
    if os.path.getsize(path) == 0:
        raise SubjectImageError(f"{what} {path!r} is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            if released:
                return image.convert("RGB")
            if image.format == "JPEG":
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced scale: no 24-MP buffer
            image.load()
            return to_rgb(image)
    except Image.DecompressionBombError as exc:
        raise SubjectImageError(f"{what} {path!r} is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL says "cannot identify image file" for non-images and "image file is truncated" for cut files
        text = str(exc)
        if "cannot identify" in text:
            reason = "not an image (unrecognised format)"
        elif "truncated" in text or "broken" in text:
            reason = "truncated or corrupt image data"
        else:
            reason = f"unreadable ({text})"
        raise SubjectImageError(f"{what} {path!r}: {reason}") from None


def to_rgb(image: Any) -> Any:
    """Any PIL mode -> 8-bit RGB; EXIF orientation applied; alpha composited on white; <= MAX_SIDE."""
    from PIL import Image, ImageOps

    image = _to_rgba_or_rgb(ImageOps.exif_transpose(image))  # 8-bit first: resizing needs it
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image).convert("RGB")
    return image


def _to_rgba_or_rgb(image: Any) -> Any:
    if image.mode in ("RGB",):
        return image
    if image.mode == "RGBA":
        return image
    if image.mode in ("LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        import numpy as np
        from PIL import Image

        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype("uint8"), "L").convert("RGB")
    if image.mode == "F":
        import numpy as np
        from PIL import Image

        array = np.asarray(image, dtype=np.float64)
        array = (array - array.min()) / max(array.max() - array.min(), 1e-12)
        return Image.fromarray((array * 255 + 0.5).astype("uint8"), "L").convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def pad_to_square(image: Any, fill: Any = (255, 255, 255)) -> Any:
    """Centre ``image`` on a square canvas of ``fill`` in its own mode, side = max(w, h) (white for
    EZIGen subjects; 0 for masks). A square image is returned as it is."""
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def to_tensor(images: list[Any], size: int):
    """RGB PIL images -> contiguous float tensor (N, 3, size, size) in [-1, 1] (bilinear resize, no aspect kept).

    As torchvision's ``ToTensor`` + ``Normalize([0.5], [0.5])``: (x / 255 - 0.5) / 0.5, which is
    x / 255 * 2 - 1 bit for bit. Contiguous (NCHW), not the channels-last view of the HWC arrays:
    on CPU the VAE takes another kernel path for a channels-last input (1e-4 off the release).
    """
    import numpy as np
    import torch
    from PIL import Image

    arrays = [np.asarray(im.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0 for im in images]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) in [0, 1]
    return batch * 2.0 - 1.0


def save_image_atomic(image: Any, path: str) -> None:
    """Write a PNG so that ``path`` is either absent or complete (temp file + rename)."""
    from ezigen.io import atomic_path

    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")

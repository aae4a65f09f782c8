"""Reading subject images robustly with bounded memory, and writing images atomically.

Two ways to decode (both give an 8-bit RGB PIL image; anything unreadable is a
:class:`SubjectImageError` naming the file and what is wrong with it):

- ``released=False`` (robust): EXIF orientation applied, transparency composited on white
  (EZIGen expects subjects on white), CMYK / palette / 16-bit / grayscale converted; large images
  are reduced while decoding (JPEG draft mode: the DCT decodes at 1/2, 1/4 or 1/8 scale) and, once
  decoded, by an integer box filter (``Image.reduce``) in their own mode before any conversion,
  then to at most ``MAX_SIDE`` pixels, so a 6000x4000 photo does not blow up memory.
- ``released=True``: exactly the released code's ``Image.open(path).convert("RGB")``: no EXIF
  transpose, alpha dropped (transparent pixels keep whatever colour they store), no reduction.

**Bounded memory.** Every file goes through :func:`open_image`: it refuses what is not a regular
file (a FIFO would block, a symlink loop never resolves) before opening it, and reads the size
from the header before decoding. Decoding needs ``w * h * b`` bytes, ``b`` being Pillow's storage
per pixel for the mode (1 for L / P / 1, 2 for 16-bit, 4 for RGB, RGBA, CMYK, I, F, ...) plus one
full-size conversion where reducing needs one (P -> RGBA, 16-bit -> I, 1 -> L), or the released
``convert`` copy (none for an RGB file: the decoded image is already what ``convert`` returns). Above ``MAX_DECODE_BYTES`` (384 MiB; an RGB image of 100 MP) the file is refused
with its size and the limit; Pillow's own decompression-bomb limit (2 x ``Image.MAX_IMAGE_PIXELS``)
is a refusal too. So the peak for any accepted image stays under ~600 MB above the process's
baseline (tests/test_reliability_images.py measures it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import warnings
from collections.abc import Iterator
from typing import Any

from ezigen.errors import EzigenError, SubjectImageError

MAX_SIDE = 2048  # larger than any backbone resolution; subjects are resized to <= 1024 anyway
MAX_DECODE_BYTES = 384 * 2**20  # decode buffer + one full-size conversion (module docstring)
_STORAGE = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}  # Pillow bytes/pixel; else 4
_CONVERT_FIRST = {"1": "L", "P": "RGBA", "PA": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_image_file(path: str, what: str, error: type[EzigenError] = SubjectImageError) -> None:
    """Raise ``error`` unless ``path`` (symlinks followed) is a non-empty regular file, naming what it is."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{what} {path!r} is a symlink loop (its links never reach a file)") from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise error(f"{what} {path!r} is a symbolic link to {os.readlink(path)!r}, which does not exist") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise error(f"{what} {path!r} does not exist") from None
        raise error(f"{what} {path!r} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{what} {path!r} is a folder, expected an image file")
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise error(f"{what} {path!r} is not a regular file ({kind}); give an image file")
    if info.st_size == 0:
        raise error(f"{what} {path!r} is empty (0 bytes)")


def decode_bytes(size: tuple[int, int], mode: str, extra: int = 0) -> int:
    """Bytes Pillow needs to hold a ``size`` image of ``mode``, plus ``extra`` bytes per pixel."""
    return size[0] * size[1] * (_STORAGE.get(mode, 4) + extra)


def check_decode_size(image: Any, path: str, what: str, extra: int = 0,
                      error: type[EzigenError] = SubjectImageError) -> None:
    """Refuse, from the header alone, an image whose decode would need more than ``MAX_DECODE_BYTES``."""
    needed = decode_bytes(image.size, image.mode, extra)
    if needed > MAX_DECODE_BYTES:
        width, height = image.size
        raise error(f"{what} {path!r} is {width}x{height} pixels ({image.mode}, {width * height / 1e6:.0f} MP): "
                    f"decoding it needs about {needed / 2**20:.0f} MiB, more than the {MAX_DECODE_BYTES // 2**20} "
                    "MiB ezigen allows for one image; downscale it first (e.g. to 4096 px on the longer side)")


@contextlib.contextmanager
def open_image(path: str, what: str, error: type[EzigenError] = SubjectImageError) -> Iterator[Any]:
    """The one way image files are opened: file checks, then ``Image.open`` (header only, not decoded).

    Pillow's errors become ``error`` naming the file: its decompression-bomb limit, an unknown
    format, truncated data (also while the caller decodes inside the block).
    """
    from PIL import Image

    check_image_file(path, what, error)
    try:
        with warnings.catch_warnings():
            # our own limit (check_decode_size) is the one that counts; Pillow's warning would only add noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # our file object, not Pillow's: a decoded image stays valid after the file is closed
            with open(path, "rb") as fh:
                yield Image.open(fh)
    except Image.DecompressionBombError as exc:
        raise error(f"{what} {path!r} is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the file system's error, not the format's
            raise error(f"{what} {path!r} cannot be read ({exc.strerror or exc})") from None
        # PIL says "cannot identify image file" for non-images and "image file is truncated" for cut files
        text = str(exc)
        if "cannot identify" in text:
            reason = "not an image (unrecognised format)"
        elif "truncated" in text or "broken" in text:
            reason = "truncated or corrupt image data"
        else:
            reason = f"unreadable ({text})"
        raise error(f"{what} {path!r}: {reason}") from None


def load_image(source: Any, what: str = "subject image", *, released: bool = False) -> Any:
    """A path or PIL image -> RGB PIL image; ``released``: PIL's plain ``convert("RGB")`` (module docstring)."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return source.convert("RGB") if released else to_rgb(source)
    path = os.fspath(source)
    with open_image(path, what) as image:
        if released:
            # convert("RGB") makes a second, RGB copy, even of an RGB image; the loaded one has the same pixels
            check_decode_size(image, path, what, extra=0 if image.mode == "RGB" else 4)
            image.load()
            return image if image.mode == "RGB" else image.convert("RGB")
        if image.format == "JPEG":
            image.draft("RGB", _draft_request(image.size))  # decode at a reduced scale: no 24-MP buffer
        check_decode_size(image, path, what, extra=_conversion_bytes(image))
        image.load()
        return to_rgb(reduce_large(image))


def _draft_request(size: tuple[int, int]) -> tuple[int, int]:
    """The size to ask JPEG draft mode for: the image scaled so its longer side is ``MAX_SIDE``
    (draft then picks the largest DCT scale 1/2..1/8 that stays at least that big, on both sides)."""
    longest = max(size)
    if longest <= MAX_SIDE:
        return size
    return max(1, size[0] * MAX_SIDE // longest), max(1, size[1] * MAX_SIDE // longest)


def _conversion_bytes(image: Any) -> int:
    """Bytes per pixel of the full-size conversion :func:`reduce_large` makes first (0: none needed)."""
    if max(image.size) // MAX_SIDE < 2 or image.mode not in _CONVERT_FIRST:
        return 0
    return _STORAGE.get(_CONVERT_FIRST[image.mode], 4)


def reduce_large(image: Any) -> Any:
    """A decoded image at least twice ``MAX_SIDE`` -> reduced by the integer factor ``longest // MAX_SIDE``
    with ``Image.reduce`` (box filter, in its own mode: palette, 1-bit and 16-bit images are converted
    first, since averaging palette indices is meaningless and ``reduce`` takes no 16-bit mode).
    EXIF data travels with the image, so :func:`to_rgb` still applies the orientation."""
    factor = max(image.size) // MAX_SIDE
    if factor < 2:
        return image
    if image.mode in _CONVERT_FIRST:
        target = _CONVERT_FIRST[image.mode]
        if image.mode == "P" and "transparency" not in image.info:
            target = "RGB"
        image = image.convert(target)
    return image.reduce(factor)


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

        array = np.asarray(image, dtype=np.float32)  # float32: 4 bytes a pixel, not float64's 8
        top = 65535.0 if array.max() > 255 else 255.0
        array *= 255.0 / top
        array += 0.5
        np.clip(array, 0, 255, out=array)
        return Image.fromarray(array.astype("uint8"), "L").convert("RGB")
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

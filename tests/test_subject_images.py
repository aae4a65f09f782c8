"""Subject images: every readable image works; unreadable ones fail with one clear message and exit 2."""

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from ezigen.errors import SubjectImageError
from ezigen.images import MAX_SIDE, load_image, pad_to_square


def save(tmp_path, image, name, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return str(path)


def rgb_reference():
    image = Image.new("RGB", (40, 30), "white")
    image.paste((200, 20, 20), (5, 5, 20, 25))
    return image


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "LA", "1", "I;16", "I", "F"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    image = rgb_reference()
    if mode == "I;16":
        array = (np.asarray(image.convert("L"), dtype=np.uint16) * 257)
        converted = Image.fromarray(array)
        assert converted.mode == "I;16"
    elif mode in ("I", "F"):
        converted = image.convert("L").convert(mode)
    else:
        converted = image.convert(mode)
    ext = "tiff" if mode in ("CMYK", "I;16", "I", "F") else "png"
    loaded = load_image(save(tmp_path, converted, f"x.{ext}"))
    assert loaded.mode == "RGB" and loaded.size == (40, 30)


def test_sixteen_bit_keeps_its_brightness(tmp_path):
    array = np.full((8, 8), 65535, dtype=np.uint16)
    array[:4] = 32768
    loaded = np.asarray(load_image(save(tmp_path, Image.fromarray(array), "x.png")))
    assert loaded[6, 0, 0] == 255 and 126 <= loaded[0, 0, 0] <= 129


def test_transparency_is_composited_on_white(tmp_path):
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.putpixel((5, 5), (255, 0, 0, 255))
    loaded = load_image(save(tmp_path, image, "x.png"))
    assert loaded.getpixel((0, 0)) == (255, 255, 255) and loaded.getpixel((5, 5)) == (255, 0, 0)
    palette = image.convert("P")
    assert load_image(save(tmp_path, palette, "p.png")).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_honoured(tmp_path):
    image = Image.new("RGB", (40, 20), "white")
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = save(tmp_path, image, "x.jpg", exif=exif.tobytes(), quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    r, g, b = loaded.getpixel((10, 2))  # red is now at the top
    assert r > 200 and g < 80


def test_very_large_is_reduced_without_a_full_size_buffer(tmp_path):
    image = Image.new("RGB", (6000, 4000), (10, 200, 10))
    path = save(tmp_path, image, "big.jpg", quality=80)
    loaded = load_image(path)
    assert max(loaded.size) <= MAX_SIDE and abs(loaded.size[0] / loaded.size[1] - 1.5) < 0.01


def test_very_small_and_non_square_work_end_to_end(tmp_path):
    from tests.conftest import build

    tiny = save(tmp_path, Image.new("RGB", (8, 8), "red"), "small.png")
    wide = save(tmp_path, Image.new("RGB", (90, 30), "blue"), "wide.png")
    system = build("ablations/ezigen-sd21-single-pass", "sampling.steps=3")
    for path in (tiny, wide):
        assert system.generate("x", subject=path, subject_prompt="a thing", seed=0).image.size == (64, 64)


def test_pad_to_square_centres_on_white():
    padded = pad_to_square(Image.new("RGB", (30, 10), "black"))
    assert padded.size == (30, 30) and padded.getpixel((0, 0)) == (255, 255, 255)
    assert padded.getpixel((15, 15)) == (0, 0, 0)


def broken_files(tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(good, format="PNG")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (tmp_path / "text.png").write_text("this is not an image\n" * 10)
    return {
        "missing": (str(tmp_path / "nope.png"), "does not exist"),
        "empty": (str(tmp_path / "empty.png"), "empty (0 bytes)"),
        "truncated": (str(tmp_path / "truncated.png"), "truncated or corrupt"),
        "not an image": (str(tmp_path / "text.png"), "not an image"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "not an image"])
def test_unreadable_images_raise_one_clear_error(tmp_path, case):
    path, message = broken_files(tmp_path)[case]
    with pytest.raises(SubjectImageError, match=re.escape(message)):
        load_image(path)


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "not an image"])
def test_cli_exits_2_and_writes_no_image(tmp_path, capsys, case):
    from tests.test_cli import assert_user_error, run

    path, message = broken_files(tmp_path)[case]
    out = tmp_path / "out"
    code, _, err = run(["generate", "ezigen-sd21-base", "--tiny", "--subject", path, "--subject-prompt", "a dog",
                        "--prompt", "x", "--out", str(out)], capsys)
    assert_user_error(code, err, message, os.path.basename(path))
    assert not (out / "image.png").exists()


def test_cli_subject_mismatches(tmp_path, capsys, subject_path):
    from tests.test_cli import assert_user_error, run

    code, _, err = run(["generate", "text-only-sd21-base", "--tiny", "--subject", subject_path, "--prompt", "x",
                        "--out", str(tmp_path / "a")], capsys)
    assert_user_error(code, err, "has no subject_encoder")
    code, _, err = run(["generate", "ezigen-sd21-base", "--tiny", "--prompt", "x", "--out", str(tmp_path / "b")], capsys)
    assert_user_error(code, err, "needs a subject image")

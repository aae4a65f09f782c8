"""Images are size-checked from their header before decoding and reduced with bounded memory: the
peak for an accepted subject image stays under 600 MB above the process's baseline on the tiny
models; what would need more, Pillow's decompression bombs and files that are not regular files
are one message and exit 2, before any model loads."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from ezigen.errors import SubjectImageError
from ezigen.images import MAX_DECODE_BYTES, MAX_SIDE, load_image
from tests.conftest import REPO, run_cli

PEAK_LIMIT_MB = 600


def write_png(path, width, height, color_type=2, bit_depth=8, body=True):
    """A flat-colour PNG streamed row by row (never a full-size buffer here). ``body=False`` writes
    the header and an empty image stream only: enough for a refusal that must come before decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3, 3: 1, 6: 4}[color_type]
    pixel = bytes([200, 30, 30, 255][:channels]) if channels > 1 else b"\x07"
    row = b"\x00" + pixel * (width * bit_depth // 8)
    compressor = zlib.compressobj(1)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                                                     color_type, 0, 0, 0)))
        if color_type == 3:
            fh.write(chunk(b"PLTE", bytes(range(24))))
        parts = [compressor.compress(row) for _ in range(height)] if body else []
        fh.write(chunk(b"IDAT", b"".join(parts) + compressor.flush()) + chunk(b"IEND", b""))
    return str(path)


MEASURE = """
import json, os, resource, sys
from ezigen.images import load_image
from tests.conftest import build

def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

system = build("ablations/ezigen-sd21-single-pass", "sampling.steps=1")  # its encoder decodes as released
for path, robust in json.loads(sys.argv[1]):
    base = rss_mb()
    subject = load_image(path) if robust else path  # robust: as the CLIP / DINO encoders decode
    image = system.generate("x", subject=subject, subject_prompt="a thing", seed=0).image
    del subject
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"path": path, "increase_mb": peak - base, "size": list(image.size)}))
"""


def peak_increases_mb(cases):
    """For each (path, robust): peak RSS minus the RSS just before that image, the tiny system built
    once in a fresh process. ru_maxrss is the peak so far, so this never understates an image's cost
    (a later image's figure can only be overstated by an earlier, larger peak)."""
    env = {**os.environ, "PYTHONPATH": REPO, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(cases)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.strip().splitlines()[-len(cases):]]


def test_accepted_images_at_the_limits_stay_within_the_memory_budget(tmp_path):
    # a JPEG just under Pillow's DecompressionBombError (2 x MAX_IMAGE_PIXELS), decoded robustly: draft mode
    jpeg_side = int((2 * Image.MAX_IMAGE_PIXELS) ** 0.5) - 1
    jpeg = str(tmp_path / "big.jpg")
    Image.new("L", (jpeg_side, jpeg_side), 90).save(jpeg, quality=75)  # this process's buffer, not the measured one
    # the largest RGB PNG the released decoding accepts (RGB is stored at 4 bytes a pixel: about 100 MP)
    png_side = int((MAX_DECODE_BYTES / 4) ** 0.5)
    png = write_png(tmp_path / "big.png", png_side, png_side)
    measured = peak_increases_mb([[jpeg, True], [png, False]])  # the smaller peak first
    for case in measured:
        print(f"{os.path.basename(case['path'])}: peak {case['increase_mb']:.0f} MB above the baseline")
        assert case["size"] == [64, 64] and case["increase_mb"] <= PEAK_LIMIT_MB, case
    with Image.open(jpeg) as image:  # draft mode alone brings it near MAX_SIDE: the decoder never holds 179 MP
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        assert max(image.size) <= 4 * MAX_SIDE


@pytest.mark.parametrize("size, color_type, bit_depth, fragment", [
    ((13375, 13375), 2, 8, "13375x13375 pixels (RGB, 179 MP): decoding it needs about 682 MiB"),
    ((10000, 10000), 3, 8, "10000x10000 pixels (P, 100 MP): decoding it needs about 477 MiB"),  # + RGB copy
    ((9000, 9000), 0, 16, "9000x9000 pixels (I;16, 81 MP): decoding it needs about 463 MiB"),
])
def test_an_image_that_needs_too_much_memory_is_refused_from_its_header(tmp_path, capsys, size, color_type,
                                                                        bit_depth, fragment):
    path = write_png(tmp_path / "x.png", *size, color_type, bit_depth, body=False)  # decoding it would fail
    with pytest.raises(SubjectImageError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_image(path)
    code, _, err = run_cli(["generate", "ezigen-sd21-base", "--tiny", "--subject", path, "--prompt", "x",
                            "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and fragment in err and "Traceback" not in err and "downscale it first" in err
    assert not (tmp_path / "out").exists()


def test_released_decoding_counts_its_rgb_copy(tmp_path):
    path = write_png(tmp_path / "x.png", 9500, 9500, 0, body=False)  # L: 86 MiB decoded, 430 MiB with the copy
    with pytest.raises(SubjectImageError, match="needs about 430 MiB"):
        load_image(path, released=True)
    with pytest.raises(SubjectImageError, match="truncated or corrupt"):  # robust: no copy, so it is decoded
        load_image(path)


def test_pillows_decompression_bomb_error_is_exit_2(tmp_path, capsys):
    path = write_png(tmp_path / "bomb.png", 20000, 20000, 0, body=False)
    code, _, err = run_cli(["generate", "ezigen-sd21-base", "--tiny", "--subject", path, "--prompt", "x",
                            "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "is too large to decode safely" in err and "decompression bomb" in err, err
    assert "Traceback" not in err


def test_large_images_of_every_kind_are_reduced_in_their_own_mode(tmp_path):
    for color_type, bit_depth in ((0, 8), (0, 16), (3, 8), (6, 8)):
        path = write_png(tmp_path / f"m{color_type}-{bit_depth}.png", 4200, 300, color_type, bit_depth)
        image = load_image(path)
        assert image.mode == "RGB" and image.size == (2048, 146), (color_type, bit_depth, image.size)


@pytest.mark.parametrize("kind, fragment", [("fifo", "is not a regular file (a FIFO (named pipe))"),
                                            ("loop", "is a symlink loop"),
                                            ("dangling", "is a symbolic link to 'gone.png', which does not exist")])
def test_a_subject_that_is_not_a_file_says_what_it_is(tmp_path, capsys, kind, fragment):
    path = tmp_path / f"{kind}.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(path, path)
    else:
        os.symlink("gone.png", path)
    code, _, err = run_cli(["generate", "ezigen-sd21-base", "--tiny", "--subject", str(path), "--prompt", "x",
                            "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and fragment in err and "empty" not in err, err

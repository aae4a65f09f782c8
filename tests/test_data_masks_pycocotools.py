"""pycocotools (``ezigen[data]``) against the numpy decoder: identical RLE decodes, polygon masks
equal up to the documented edge difference, and hostile entries refused before its C code sees them."""

from __future__ import annotations

import numpy as np
import pytest

from ezigen.data import masks
from ezigen.data.masks import (
    counts_to_string, decode_counts, decode_segmentation, encode_counts, rasterize_polygons,
)

pytest.importorskip("pycocotools", reason="pycocotools is not installed (pip install 'ezigen[data]')")

EDGE_FRACTION = 0.035  # masks.py's docstring: differing pixels / pixels of the mask's bounding box


@pytest.fixture
def numpy_only(monkeypatch):
    monkeypatch.setattr(masks, "pycocotools_mask", lambda: None)


def random_masks(count=60, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        yield rng.random((h, w)) < rng.random(), h, w


def test_rle_decodes_are_identical(monkeypatch):
    for mask, h, w in random_masks():
        counts = encode_counts(mask)
        cases = ({"counts": counts, "size": [h, w]}, {"counts": counts_to_string(counts), "size": [h, w]})
        for segmentation in cases:
            with_coco = decode_segmentation(segmentation, h, w)
            with monkeypatch.context() as patch:
                patch.setattr(masks, "pycocotools_mask", lambda: None)
                with_numpy = decode_segmentation(segmentation, h, w)
            assert with_coco.dtype == with_numpy.dtype == bool
            assert (with_coco == with_numpy).all() and (with_coco == mask).all()


def outline(rng, h, w):
    """A COCO-like outline: 8-40 points around a centre at random radii, sub-pixel coordinates."""
    n = int(rng.integers(8, 41))
    angles = np.sort(rng.random(n)) * 2 * np.pi
    radius = rng.uniform(0.3, 1.0, n) * min(h, w) / 2.2
    cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1).reshape(-1).round(2).tolist()


def test_polygon_masks_differ_only_at_the_edges():
    from pycocotools import mask as coco

    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(24, 160, 2))
        polygon = outline(rng, h, w)
        ours = rasterize_polygons([polygon], h, w, use_pycocotools=False)
        theirs = rasterize_polygons([polygon], h, w, use_pycocotools=True)
        released = coco.decode(coco.merge(coco.frPyObjects([polygon], h, w))).astype(bool)  # annToMask
        assert (theirs == released).all()
        ys, xs = np.nonzero(ours | theirs)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        differ = ours != theirs
        assert differ.sum() < min(ours.sum(), theirs.sum())  # the same shape, not another one
        worst = max(worst, differ.sum() / box)
    print(f"largest differing-pixel fraction of a bounding box: {worst:.4f}")
    assert worst <= EDGE_FRACTION


@pytest.mark.parametrize("segmentation, fragment", [
    ([[2, float("nan"), 40, 2, 40, 40]], "not a finite number: nan"),
    ([[2, 1e300, 40, 2, 40, 40]], "lies far outside the 64x48 image"),
    ([[2, 2, 40, 2, 40]], "odd number of values (5)"),
    ([[True, 2, 40, 2, 40, 40]], "flat list of numbers"),
    ({"counts": [10**30, 5], "size": [48, 64]}, "sum to about 10^30"),
    ({"counts": "o" * 40 + "0", "size": [48, 64]}, "more than 64 bits"),
    ({"counts": "0" * 4000, "size": [48, 64]}, "sum to 0"),  # overrunning counts must never reach C
    ({"counts": [3072, 5], "size": [48, 64]}, "sum to 3077"),
])
def test_hostile_segmentations_are_refused_before_decoding(segmentation, fragment):
    for use in (True, False):
        with pytest.raises(ValueError) as info:
            if isinstance(segmentation, list):
                rasterize_polygons(segmentation, 48, 64, use_pycocotools=use)
            else:
                decode_segmentation(segmentation, 48, 64)
        assert fragment in str(info.value)


def test_the_numpy_path_is_used_without_pycocotools(numpy_only):
    square = rasterize_polygons([[0, 0, 10, 0, 10, 10, 0, 10]], 20, 20)
    assert square.sum() == 100 and (decode_counts([2, 1, 1, 2], 2, 3) == [[0, 1, 1], [0, 0, 1]]).all()
    with pytest.raises(ImportError, match="ezigen\\[data\\]"):
        rasterize_polygons([[0, 0, 10, 0, 10, 10]], 20, 20, use_pycocotools=True)

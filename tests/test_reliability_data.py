"""Hostile COCO entries and manifest lines: one message naming the file and the entry (exit 2), or with
--skip-bad the image skipped and counted; never a traceback, an overflow or a multi-GB allocation."""

from __future__ import annotations

import copy
import json
import resource

import pytest
from PIL import Image

from ezigen.data.manifest import read_manifest
from tests.conftest import run_cli
from tests.training_data import write_dataset

NAN, INF = float("nan"), float("inf")
SQUARE = [[2, 2, 40, 2, 40, 40, 2, 40]]


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco-bad")
    (root / "img").mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (64, 48), (30, 180, 30)).save(root / "img" / name)
    captions = {"annotations": [{"id": 1, "image_id": 1, "caption": "a dog"},
                                {"id": 2, "image_id": 2, "caption": "a dog"}]}
    (root / "caps.json").write_text(json.dumps(captions))
    return root


def instances():
    ann = {"image_id": 1, "category_id": 1, "segmentation": SQUARE, "area": 1400.0, "bbox": [2, 2, 38, 38]}
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
                       {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}],
            "annotations": [{"id": 11, **ann}, {"id": 21, **ann, "image_id": 2}],
            "categories": [{"id": 1, "name": "dog"}]}


def build(capsys, root, data, *extra, captions="caps.json"):
    path = root / "inst.json"
    path.write_text(json.dumps(data))  # NaN and Infinity as Python's JSON writes (and reads) them
    out = root / "out"
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    code, stdout, err = run_cli(["data", "coco", "--images", str(root / "img"), "--instances", str(path),
                                 "--captions", str(root / captions), "--out", str(out), "--resolution", "16",
                                 "--min-area", "1", *extra], capsys)
    assert "Traceback" not in err
    return code, err


def image(data, **fields):
    data["images"][0].update(fields)


def annotation(data, **fields):
    data["annotations"][0].update(fields)


CASES = [
    # (name, change, message fragment, skipped as)
    ("nan polygon", lambda d: annotation(d, segmentation=[[2, NAN, 40, 2, 40, 40]]),
     "annotation 11 (image 1): a polygon coordinate is not a finite number: nan", "bad image or mask"),
    ("inf polygon", lambda d: annotation(d, segmentation=[[2, INF, 40, 2, 40, 40]]),
     "a polygon coordinate is not a finite number: inf", "bad image or mask"),
    ("nan bbox", lambda d: annotation(d, bbox=[NAN, 2, 38, 38]),
     "annotations[0] (id 11) 'bbox' must be four finite numbers", "bad entry"),
    ("inf area", lambda d: annotation(d, area=INF), "annotations[0] (id 11) 'area' must be a finite number >= 0",
     "bad entry"),
    ("rle 1e30", lambda d: annotation(d, segmentation={"counts": [10**30, 5], "size": [48, 64]}),
     "annotation 11 (image 1): RLE counts sum to about 10^30", "bad image or mask"),
    ("rle string", lambda d: annotation(d, segmentation={"counts": "o" * 40 + "0", "size": [48, 64]}),
     "compressed RLE has a run length of more than 64 bits", "bad image or mask"),
    ("60000 square without area", lambda d: (image(d, width=60000, height=60000), d["annotations"][0].pop("area")),
     "images[0] (id 1) width must be an integer from 1 to 32768, got 60000", "bad entry"),
    ("20000 x 20000", lambda d: image(d, width=20000, height=20000),
     "images[0] (id 1) 20000x20000 is 400 MP, more than the 40 MP", "bad entry"),
    ("zero width", lambda d: image(d, width=0), "width must be an integer from 1 to 32768, got 0", "bad entry"),
    ("bool id", lambda d: image(d, id=True), "images[0] (id True) 'id' must be an integer", "bad entry"),
    ("not an object", lambda d: d["annotations"].insert(0, [1]), "annotations[0] is not an object",
     "bad entry"),  # belongs to no image: only the entry is skipped
    ("unknown category", lambda d: annotation(d, category_id=9), "category_id 9 is not in 'categories'",
     "bad entry"),
]


@pytest.mark.parametrize("change, fragment, reason", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_coco_entry_names_the_file_and_entry_or_is_skipped(capsys, coco_root, change, fragment, reason):
    data = instances()
    change(data)
    started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, err = build(capsys, coco_root, data)
    assert code == 2 and fragment in err and "inst.json" in err, err
    assert not (coco_root / "out" / "manifest.jsonl").exists()
    code, err = build(capsys, coco_root, data, "--skip-bad")
    samples = 2 if "not an object" in fragment else 1
    assert code == 0 and f"wrote {samples} samples; skipped: {reason} 1" in err, err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - started < 500_000  # KB: nothing near GBs


def test_duplicate_image_ids_are_refused_instead_of_overwriting(capsys, coco_root):
    data = instances()
    data["images"][1]["id"] = 1
    code, err = build(capsys, coco_root, data)
    assert code == 2 and "images[1] (id 1) repeats the id of images[0]; ids must be unique" in err
    data["images"].append({"id": 3, "file_name": "b.jpg", "width": 64, "height": 48})
    data["annotations"].append({**data["annotations"][0], "id": 31, "image_id": 3})
    (coco_root / "caps3.json").write_text(json.dumps({"annotations": [{"id": 3, "image_id": 3, "caption": "c"}]}))
    code, err = build(capsys, coco_root, data, "--skip-bad", captions="caps3.json")
    assert code == 0 and "skipped: bad entry 1" in err  # both entries of id 1 are skipped, id 3 is built
    built = read_manifest(str(coco_root / "out"))[0]
    assert [s.source for s in built] == ["coco:3"]


@pytest.mark.parametrize("masks", [[123], [{"a": 1}], [None, None]])
def test_a_manifest_line_with_bad_masks_is_a_bad_line(tmp_path, capsys, masks):
    write_dataset(str(tmp_path), count=2)
    path = tmp_path / "manifest.jsonl"
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["masks"] = masks
    path.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    samples, bad = read_manifest(str(tmp_path), skip_bad=True)  # what `train --skip-bad` reads
    assert len(samples) == 1 and len(bad) == 1
    assert str(bad[0]).endswith("manifest.jsonl:1: 'masks' must be a list of 1 paths or nulls")
    code, _, err = run_cli(["data", "merge", str(tmp_path), "--out", str(tmp_path / "merged")], capsys)
    assert code == 2 and "manifest.jsonl:1: 'masks' must be a list of 1 paths or nulls" in err
    assert "Traceback" not in err and not (tmp_path / "merged" / "manifest.jsonl").exists()


def test_a_cut_down_copy_of_the_good_entries_still_builds(capsys, coco_root):
    """The checks leave real-shaped entries alone: polygons, RLE lists and strings, bbox null, no area."""
    data = copy.deepcopy(instances())
    data["annotations"][0].update(bbox=None)
    data["annotations"][1].pop("area")
    code, err = build(capsys, coco_root, data)
    assert code == 0 and "wrote 2 samples" in err, err


# ---------------------------------------------------------------------------------------- fuzz

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

hostile = st.one_of(
    st.none(), st.booleans(), st.integers(-10**40, 10**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.one_of(st.integers(-10**20, 10**20), st.floats()), max_size=9),
    st.sampled_from([[[2, 2, 40, 2, 40, 40]], {"counts": [3072], "size": [48, 64]}, {"counts": "0", "size": [1]},
                     {"counts": "o" * 30, "size": [48, 64]}, [[[1, 2]]], [2, 2, 38, 38], {}, [[]]]),
)
FIELDS = [("images", "id"), ("images", "width"), ("images", "height"), ("images", "file_name"),
          ("annotations", "id"), ("annotations", "image_id"), ("annotations", "category_id"),
          ("annotations", "segmentation"), ("annotations", "area"), ("annotations", "bbox"),
          ("annotations", "iscrowd")]


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(FIELDS), hostile), min_size=1, max_size=3),
       skip_bad=st.booleans())
def test_fuzzed_coco_entries_exit_0_or_2_with_a_message(capsys, coco_root, changes, skip_bad):
    data = instances()
    for (kind, key), value in changes:
        data[kind][0][key] = value
    code, err = build(capsys, coco_root, data, *(["--skip-bad"] if skip_bad else []))
    assert code in (0, 2), err
    if code == 2:
        lines = err.strip().splitlines()  # progress lines may come first; the error is one line, last
        assert lines[-1].startswith("error: ") and all(line.startswith("ezigen data coco: ") for line in lines[:-1])


@settings(deadline=None, max_examples=60)
@given(segmentation=hostile, height=st.integers(1, 64), width=st.integers(1, 64))
def test_fuzzed_segmentations_decode_or_say_what_is_wrong(segmentation, height, width):
    from ezigen.data.masks import decode_segmentation

    try:
        mask = decode_segmentation(segmentation, height, width)
    except ValueError as exc:
        assert str(exc)
    else:
        assert mask.shape == (height, width) and mask.dtype == bool

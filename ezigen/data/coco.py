"""COCO-2014 instances + captions -> reconstruction samples (spec §3.1 "COCO-2014").

For each image, in the order of the instances file's ``images`` list (train2014 then val2014
when both are given, as released):

- **target**: the whole image resized to ``resolution x resolution`` (aspect not kept);
- **caption**: the longest of its captions (whitespace stripped; ties: lowest annotation id);
- **subjects**: its instances sorted by ``area`` (largest first; ties: lowest id). An instance is
  skipped when ``area < min_area``, or when the image has more than ``num_subjects`` (4)
  instances and it is not in the larger half: ``larger_half="released"`` keeps an instance
  whose area is one of the ``floor(n / 2)`` largest areas, as released (ties by value);
  ``"ceil"`` keeps the ranks ``0 .. ceil(n / 2) - 1``. For each kept
  instance: decode its mask (polygons or RLE, :mod:`ezigen.data.masks`), paint every pixel
  outside it white, resize the whole image to ``resolution``, crop the rescaled COCO ``bbox``,
  pad to a square with white and resize to ``resolution``. At most ``num_subjects`` are kept.
- **subject prompt**: ``"a photo of a {category}."``.

Choices (see docs/data.md): category names come from the file's ``categories`` (``"traffic
light"``, ``"tv"``, ``"refrigerator"``) unless ``category_names="released"``, which takes the
released code's own 91-entry id -> name table (``"trafficlight"``, ``"tvmonitor"``,
``"subrigerator"``, ``"motorbike"``, ...); images with no usable instance are skipped unless
``keep_empty`` (then, as released, ``num_subjects`` black 100x100 images whose prompt is the
template with an empty name, ``"a photo of a ."``); targets are written resized as JPEG (q95) or
PNG, or with ``target_format="original"`` as the source file's own bytes (the release reads
them as loaded); ``limit`` counts samples written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ezigen.data.crops import (
    WHITE, BuildReport, Progress, image_size, load_rgb, mask_box, mask_image, paint_outside, read_json, resize_square,
    save_image, scale_xywh,
)
from ezigen.data.coco_entries import EntryChecker
from ezigen.data.manifest import Sample, write_manifest
from ezigen.images import pad_to_square
from ezigen.data.masks import decode_segmentation
from ezigen.errors import DataError

SUBJECT_PROMPT = "a photo of a {}."
# The released code's COCO id -> name table (all 91 ids, the 11 that COCO-2014 leaves unused included), with
# its own spellings: 20 of the 80 used ids differ from the instances file's names.
RELEASED_CATEGORY_NAMES = dict(enumerate((
    "person bicycle car motorbike aeroplane bus train truck boat trafficlight firehydrant streetsign stopsign "
    "parkingmeter bench bird cat dog horse sheep cow elephant bear zebra giraffe hat backpack umbrella shoe "
    "eyeglasses handbag tie suitcase frisbee skis snowboard sportsball kite baseballbat baseballglove skateboard "
    "surfboard tennisracket bottle plate wineglass cup fork knife spoon bowl banana apple sandwich orange broccoli "
    "carrot hotdog pizza donut cake chair sofa pottedplant bed mirror diningtable window desk toilet door "
    "tvmonitor laptop mouse remote keyboard cellphone microwave oven toaster sink subrigerator blender book clock "
    "vase scissors teddybear hairdrier toothbrush hairbrush").split(), start=1))
EXPECTED_INSTANCES = ("a COCO instances JSON object with lists 'images' ({id, file_name, width, height}), "
                      "'annotations' ({id, image_id, category_id, segmentation, area, bbox}) "
                      "and 'categories' ({id, name})")
EXPECTED_CAPTIONS = "a COCO captions JSON object with a list 'annotations' of {image_id, caption}"
PLACEHOLDER_SIZE = 100
NO_INSTANCE = "no usable instance"


@attrs.frozen
class CocoSplit:
    """One COCO split: its image folder and annotation files (e.g. train2014)."""

    images: str
    instances: str
    captions: str


@attrs.frozen
class CocoOptions:
    resolution: int = 512
    num_subjects: int = 4
    min_area: float = 1000.0
    limit: int | None = None  # samples to write (None: all)
    category_names: str = "coco"  # "coco" (the file's names) | "released" (the released id -> name table)
    larger_half: str = "released"  # "released": the floor(n / 2) largest areas | "ceil": ranks < ceil(n / 2)
    keep_empty: bool = False  # images without a usable instance: black placeholders (as released) instead of skipping
    include_crowd: bool = True  # iscrowd=1 (RLE) regions count as instances, as released
    target_format: str = "jpg"  # "jpg" (q95) | "png": resized; "original": the source file's bytes
    write_masks: bool = False  # masks/<stem>-<k>.png: each subject's mask in the target
    skip_bad: bool = False  # a missing/unreadable image or bad mask is skipped and counted instead of stopping


@attrs.frozen
class CocoImage:
    id: int
    path: str
    width: int
    height: int
    caption: str | None
    annotations: tuple[dict[str, Any], ...]


def _entries(data: Any, key: str, fields: dict[str, type | tuple[type, ...]], path: str, option: str,
             expected: str) -> list[dict[str, Any]]:
    entries = _list(data, key, path, option, expected)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or any(not isinstance(entry.get(f), t) or isinstance(entry.get(f), bool)
                                              for f, t in fields.items()):
            wanted = ", ".join(fields)
            raise DataError(f"{option} {path!r}: {key}[{index}] is not an object with {wanted}; expected {expected}")
    return entries


def _list(data: Any, key: str, path: str, option: str, expected: str) -> list[Any]:
    entries = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DataError(f"{option} {path!r}: no '{key}' list; expected {expected}")
    return entries


def longest_caption(captions: Sequence[tuple[int, str]]) -> str | None:
    """The longest caption by characters after stripping; ties go to the lowest annotation id."""
    best = min(captions, key=lambda item: (-len(item[1].strip()), item[0]), default=None)
    return None if best is None else best[1].strip()


def select_instances(annotations: Sequence[dict[str, Any]], area_of: Callable[[dict[str, Any]], float],
                     min_area: float, num_subjects: int, larger_half: str = "released") -> list[dict[str, Any]]:
    """Instances that may become subjects, largest first (the area and larger-half rules above).

    The larger-half rule looks at all of the image's instances (before the area filter). With
    ``n > num_subjects``: ``released`` keeps an instance iff its area is among the ``floor(n / 2)``
    largest area values (the release tests ``area in sorted(areas)[-(n // 2):]``, so a tie with
    the last of them stays too); ``ceil`` keeps the ranks ``0 .. ceil(n / 2) - 1``.
    """
    ranked = sorted(annotations, key=lambda a: (-area_of(a), a.get("id", 0)))
    if len(ranked) > num_subjects and larger_half == "released":
        largest = {area_of(a) for a in ranked[:len(ranked) // 2]}
        ranked = [a for a in ranked if area_of(a) in largest]
    elif len(ranked) > num_subjects:
        ranked = ranked[:math.ceil(len(ranked) / 2)]
    return [a for a in ranked if area_of(a) >= min_area]


def load_split(split: CocoSplit, options: CocoOptions) -> tuple[list[CocoImage], dict[int, str], int]:
    """Read and check one split's JSON files -> its images (file order), category names and the number
    of bad entries skipped (``skip_bad``; otherwise the first bad entry is a DataError)."""
    if not os.path.isdir(split.images):
        raise DataError(f"--images {split.images!r}: no such folder (expected the COCO image folder, e.g. train2014/)")
    data = read_json(split.instances, "--instances", EXPECTED_INSTANCES)
    checker = EntryChecker(split.instances, options.skip_bad)  # every entry checked (coco_entries.py)
    images = checker.images(_list(data, "images", split.instances, "--instances", EXPECTED_INSTANCES))
    categories = _entries(data, "categories", {"id": int, "name": str}, split.instances, "--instances",
                          EXPECTED_INSTANCES)
    names = {c["id"]: c["name"] for c in categories}
    if options.category_names == "released":
        unknown = sorted(set(names) - set(RELEASED_CATEGORY_NAMES))
        if unknown:
            raise DataError(f"--instances {split.instances!r}: category ids {unknown} are not in the released "
                            "COCO table (ids 1-91); use --category-names coco")
        names = {k: RELEASED_CATEGORY_NAMES[k] for k in names}
    annotations = checker.annotations(_list(data, "annotations", split.instances, "--instances",
                                            EXPECTED_INSTANCES), names)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in annotations:
        if options.include_crowd or not ann.get("iscrowd"):
            by_image.setdefault(ann["image_id"], []).append(ann)
    images = [info for info in images if info["id"] not in checker.bad_images]

    captions_data = read_json(split.captions, "--captions", EXPECTED_CAPTIONS)
    caption_entries = _entries(captions_data, "annotations", {"image_id": int, "caption": str},
                               split.captions, "--captions", EXPECTED_CAPTIONS)
    captions: dict[int, list[tuple[int, str]]] = {}
    for index, entry in enumerate(caption_entries):
        ident = entry.get("id")  # ties go to the lowest id; an entry without an integer id ranks by position
        ident = ident if isinstance(ident, int) and not isinstance(ident, bool) else index
        captions.setdefault(entry["image_id"], []).append((ident, entry["caption"]))

    result = [
        CocoImage(id=info["id"], path=os.path.join(split.images, info["file_name"]), width=info["width"],
                  height=info["height"], caption=longest_caption(captions.get(info["id"], [])),
                  annotations=tuple(by_image.get(info["id"], [])))
        for info in images
    ]
    return result, names, checker.count


def subject_crop(image, mask, bbox: Any, resolution: int):
    """Subject on white: paint outside ``mask`` white, resize to R, crop the rescaled bbox, pad square, resize to R."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        box = mask_box(mask)  # no usable 'bbox': the mask's own box
        if box is None:
            return None
        bbox = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
    resized = resize_square(paint_outside(image, mask, WHITE), resolution)
    x0, y0, x1, y1 = scale_xywh(bbox, resolution / image.width, resolution / image.height, resolution, resolution)
    if x1 <= x0 or y1 <= y0:
        return None
    return resize_square(pad_to_square(resized.crop((x0, y0, x1, y1)), WHITE), resolution)


def build_coco(splits: Sequence[CocoSplit], out: str, options: CocoOptions = CocoOptions(),
               progress: Progress | None = None) -> BuildReport:
    """Write ``out/subjects``, ``out/targets`` (and ``out/masks``), then ``out/manifest.jsonl`` last."""
    out = os.path.abspath(out)
    loaded = [load_split(split, options) for split in splits]  # check every file before writing anything
    total = sum(len(images) for images, _, _ in loaded)
    report = BuildReport(manifest=os.path.join(out, "manifest.jsonl"), samples=0)
    for _, _, bad in loaded:
        for _ in range(bad):
            report.skip("bad entry")
    samples: list[Sample] = []
    placeholder: str | None = None
    done = 0
    for (images, names, _), split in zip(loaded, splits):
        for item in images:
            if options.limit is not None and len(samples) >= options.limit:
                break
            done += 1
            try:
                sample, reason = _build_one(item, names, split, out, options)
                if reason == NO_INSTANCE and options.keep_empty:
                    placeholder = placeholder or _write_placeholder(out)
                    sample, reason = _placeholder_sample(item, out, placeholder, options), None
            except DataError:
                if not options.skip_bad:
                    raise
                sample, reason = None, "bad image or mask"
            if reason is not None:
                report.skip(reason)
            if sample is not None:
                samples.append(sample)
            if progress is not None:
                progress(done, total, len(samples))
    report.samples = len(samples)
    if not samples:
        raise DataError(f"no sample could be built from {', '.join(s.instances for s in splits)} ({report.summary()})")
    report.manifest = write_manifest(out, samples)
    return report


def _build_one(item: CocoImage, names: dict[int, str], split: CocoSplit, out: str,
               options: CocoOptions) -> tuple[Sample | None, str | None]:
    """One image -> (sample, None), or (None, why it was skipped)."""
    if item.caption is None:
        return None, "no caption"  # no placeholder either: a sample needs a caption
    masks: dict[int, Any] = {}

    def area_of(ann: dict[str, Any]) -> float:
        area = ann.get("area")
        if isinstance(area, (int, float)) and not isinstance(area, bool):
            return float(area)
        return float(mask_of(ann).sum())  # no 'area' field: the decoded mask's pixels

    def mask_of(ann: dict[str, Any]):
        key = id(ann)
        if not masks:  # before the first mask is decoded at the entry's size: does the file have that size?
            size = image_size(item.path)
            if size != (item.width, item.height):
                raise DataError(f"image {item.path!r} is {size[0]}x{size[1]}, the annotations say "
                                f"{item.width}x{item.height}")
        if key not in masks:
            try:
                masks[key] = decode_segmentation(ann["segmentation"], item.height, item.width)
            except ValueError as exc:
                raise DataError(f"--instances {split.instances!r}: annotation {ann.get('id')} "
                                f"(image {item.id}): {exc}") from None
        return masks[key]

    chosen = select_instances(item.annotations, area_of, options.min_area, options.num_subjects, options.larger_half)
    if not chosen:
        return None, NO_INSTANCE
    image = load_rgb(item.path, item.width, item.height)
    stem = f"{item.id:012d}"
    subjects, prompts, mask_paths = [], [], []
    for ann in chosen:
        mask = mask_of(ann)
        crop = subject_crop(image, mask, ann.get("bbox"), options.resolution) if mask.any() else None
        if crop is None:
            continue
        k = len(subjects)
        subjects.append(save_image(crop, os.path.join(out, "subjects", f"{stem}-{k}.png")))
        prompts.append(SUBJECT_PROMPT.format(names[ann["category_id"]]))
        if options.write_masks:
            target_mask = resize_square(mask_image(mask), options.resolution, nearest=True)
            mask_paths.append(save_image(target_mask, os.path.join(out, "masks", f"{stem}-{k}.png")))
        if len(subjects) == options.num_subjects:
            break
    if not subjects:
        return None, NO_INSTANCE
    target = write_target(image, item, out, options)
    return Sample(subjects=tuple(subjects), subject_prompts=tuple(prompts), target=target, caption=item.caption,
                  masks=tuple(mask_paths), source=f"coco:{item.id}"), None


def write_target(image, item: CocoImage, out: str, options: CocoOptions) -> str:
    """The target file: resized to the resolution as JPEG (q95) / PNG, or the source's own bytes ("original")."""
    stem = os.path.join(out, "targets", f"{item.id:012d}")
    if options.target_format != "original":
        return save_image(resize_square(image, options.resolution), f"{stem}.{options.target_format}")
    from ezigen.io import atomic_path

    path = stem + os.path.splitext(item.path)[1].lower()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(item.path, "rb") as source, atomic_path(path) as tmp, open(tmp, "wb") as copy:
        copy.write(source.read())
    return path


def _write_placeholder(out: str):
    from PIL import Image

    black = Image.new("RGB", (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE), (0, 0, 0))
    return save_image(black, os.path.join(out, "subjects", "placeholder-black.png"))


def _placeholder_sample(item: CocoImage, out: str, placeholder: str, options: CocoOptions) -> Sample:
    """The released behaviour for an image without a usable instance: black subjects, "a photo of a ." prompts."""
    image = load_rgb(item.path, item.width, item.height)
    target = write_target(image, item, out, options)
    count = options.num_subjects
    empty_prompt = SUBJECT_PROMPT.format("")  # the release formats an empty name: "a photo of a ."
    return Sample(subjects=(placeholder,) * count, subject_prompts=(empty_prompt,) * count, target=target,
                  caption=item.caption or "", masks=(None,) * count if options.write_masks else (),
                  source=f"coco:{item.id}")

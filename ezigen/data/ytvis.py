"""YouTube-VIS-2019 (train) -> cross-frame subject/target pairs (spec §3.1 "YouTube-VIS-2019").

Layout: ``ROOT/train.json`` (or ``ROOT/instances.json``) with ``videos`` ({id, file_names,
width, height}), ``annotations`` ({id, video_id, category_id, segmentations: one RLE or null
per frame}) and ``categories`` ({id, name}); frames at ``ROOT/JPEGImages/<file_name>``.

One draw (``random.Random(seed)``; per video ``Random(f"{seed}:{video_id}")``):

- a video (uniform among videos with objects) and one of its objects (uniform);
- frames: ``m = len // 8``, subject frame ``s ~ U{0 .. len - m - 1}``, target frame
  ``e = min(s + U{m .. len - s - 1}, len - 1)``, so the target is never earlier;
- subject pad ``p ~ U{1.1, 1.2, 1.3, 1.4}``, flip with probability 0.5, target crop ratio
  ``r ~ U{1.3, 1.4, ..., 2.9}``, one of :data:`TARGET_TEMPLATES`.

The draw is rejected (and another made) when the object is absent from either frame, or:

- subject mask: largest 8-connected component <= 90% of it; area outside [1%, 64%] of the
  frame; box narrower than 10% of the frame width **and** shorter than 10% of its height;
- target mask: area outside [1%, 64%]; its box expanded 1.1x wider than 80% of the frame
  **and** taller than 80% (YT-VIS's "and" tests, not the AnyDoor base class's "or").

Subject view: paint outside the mask white, crop its box, pad by ``p`` (white), pad to a square
(white), resize to ``resolution``, flip. Target view: the 1.1x box expanded by ``r`` (clipped),
grown to a square (clipped), cropped, padded to a square with black, resized. Prompts: target =
a template filled with the class name; subject = ``"a photo of a {class}."``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from PIL import Image

from ezigen.data.crops import (
    BLACK, WHITE, BuildReport, Progress, box_size, expand_box, load_rgb, mask_box, mask_image, pad_by_ratio,
    paint_outside, read_json, resize_square, save_image, square_box,
)
from ezigen.data.manifest import Sample, write_manifest
from ezigen.data.masks import decode_segmentation, largest_component_fraction
from ezigen.images import pad_to_square
from ezigen.errors import DataError

SUBJECT_PROMPT = "a photo of a {}."
# Ours: the released list has 30 templates of which the spec quotes the first three below.
TARGET_TEMPLATES = (
    "a fine image of {}.", "a clear shot of {}.", "a {} center at the middle of the image.",
    "a photo of {}.", "a picture of {}.", "an image showing {}.", "a close-up photo of {}.",
    "a snapshot of {}.", "a good photo of {}.", "a bright photo of {}.", "a sharp picture of {}.",
    "a cropped photo of {}.", "a {} in the scene.", "a frame from a video of {}.", "a still image of {}.",
    "a high quality photo of {}.", "a detailed picture of {}.", "a natural photo of {}.",
    "a {} in the middle of the picture.", "a photo with a {} in it.", "a shot of a {}.",
    "a realistic image of {}.", "a nice photo of {}.", "a {} seen in a photo.", "a centered photo of {}.",
    "a clean image of {}.", "a photograph of {}.", "a camera shot of {}.", "an everyday photo of {}.",
    "a {} captured on camera.",
)
ANNOTATION_FILES = ("train.json", "instances.json")
EXPECTED = ("a YouTube-VIS JSON object with lists 'videos' ({id, file_names, width, height}), "
            "'annotations' ({id, video_id, category_id, segmentations}) and 'categories' ({id, name})")
AREA_RANGE = (0.01, 0.64)  # mask area / frame area, both masks
CONNECTED_MIN = 0.9  # largest component / mask, subject only
SUBJECT_MIN_SIDE = 0.1  # rejected if below in both width and height
TARGET_MAX_SIDE = 0.8  # 1.1x box rejected if above in both width and height


@attrs.frozen
class YtvisOptions:
    resolution: int = 512
    pairs: int = 100_000  # pairs to write (released: subset_size 100000); ignored with per_video
    per_video: int | None = None  # instead: this many pairs from every video, in file order
    seed: int = 0
    max_tries: int = 50  # draws per requested pair before giving up on it
    category_names: str = "clean"  # "clean": underscores -> spaces ("giant panda"); "raw": as in the file
    target_format: str = "jpg"
    write_masks: bool = False  # masks/<stem>-0.png: the object's mask in the target crop
    skip_bad: bool = False


@attrs.frozen
class VisObject:
    id: Any
    name: str
    segmentations: tuple[Any, ...]


@attrs.frozen
class VisVideo:
    id: Any
    frames: tuple[str, ...]
    width: int
    height: int
    objects: tuple[VisObject, ...]


@attrs.frozen
class Draw:
    """Every random choice of one attempt (drawn together, so attempts are reproducible)."""

    subject_frame: int
    target_frame: int
    pad_ratio: float
    flip: bool
    crop_ratio: float
    template: int


def frame_pair(length: int, rng: random.Random) -> tuple[int, int]:
    """(s, e) with ``m = length // 8``, ``s ~ U{0..length-m-1}``, ``e = min(s + U{m..length-s-1}, length-1)``."""
    interval = length // 8
    s = rng.randrange(0, length - interval)
    return s, min(s + rng.randrange(interval, length - s), length - 1)


def draw(length: int, rng: random.Random) -> Draw:
    s, e = frame_pair(length, rng)
    return Draw(s, e, rng.randint(11, 14) / 10, rng.random() < 0.5, rng.randint(13, 29) / 10,
                rng.randrange(len(TARGET_TEMPLATES)))


def area_problem(mask: np.ndarray, which: str) -> str | None:
    ratio = float(mask.mean())
    low, high = AREA_RANGE
    return None if low <= ratio <= high else f"{which} area outside 1%..64%"


def subject_problem(mask: np.ndarray) -> str | None:
    """Why the subject-frame mask is rejected, or None (connectedness, area, "and" size test)."""
    if largest_component_fraction(mask) <= CONNECTED_MIN:
        return "subject not 90% connected"
    problem = area_problem(mask, "subject")
    if problem:
        return problem
    width, height = box_size(mask_box(mask))
    if width < SUBJECT_MIN_SIDE * mask.shape[1] and height < SUBJECT_MIN_SIDE * mask.shape[0]:
        return "subject box too small"
    return None


def target_problem(mask: np.ndarray) -> str | None:
    """Why the target-frame mask is rejected, or None (area, "and" size test on the 1.1x box)."""
    problem = area_problem(mask, "target")
    if problem:
        return problem
    height, width = mask.shape
    box_w, box_h = box_size(expand_box(mask_box(mask), 1.1, width, height))
    if box_w > TARGET_MAX_SIDE * width and box_h > TARGET_MAX_SIDE * height:
        return "target box too large"
    return None


def subject_view(image, mask: np.ndarray, pad_ratio: float, flip: bool, resolution: int):
    view = paint_outside(image, mask, WHITE).crop(mask_box(mask))
    view = resize_square(pad_to_square(pad_by_ratio(view, pad_ratio, WHITE), WHITE), resolution)
    return view.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else view


def target_view(image, mask: np.ndarray, crop_ratio: float, resolution: int):
    """(target crop, its mask): 1.1x box -> x crop_ratio -> square, crop, pad black, resize."""
    width, height = image.size
    box = expand_box(mask_box(mask), 1.1, width, height)
    box = square_box(expand_box(box, crop_ratio, width, height), width, height)
    view = resize_square(pad_to_square(image.crop(box), BLACK), resolution)
    view_mask = resize_square(pad_to_square(mask_image(mask).crop(box), 0), resolution, nearest=True)
    return view, view_mask


def find_annotations(root: str, annotations: str | None = None) -> str:
    if annotations is not None:
        return annotations
    for name in ANNOTATION_FILES:
        if os.path.isfile(os.path.join(root, name)):
            return os.path.join(root, name)
    raise DataError(f"--root {root!r}: no {' or '.join(ANNOTATION_FILES)} there (expected the YouTube-VIS-2019 "
                    "train layout: train.json + JPEGImages/<video>/<frame>.jpg; or pass --annotations FILE)")


def load_ytvis(root: str, annotations: str | None, options: YtvisOptions) -> tuple[str, list[VisVideo]]:
    """Read and check the annotation file -> (its path, videos in file order with their objects)."""
    if not os.path.isdir(root):
        raise DataError(f"--root {root!r}: no such folder (expected the YouTube-VIS-2019 train folder)")
    path = find_annotations(root, annotations)
    frames_dir = os.path.join(root, "JPEGImages")
    if not os.path.isdir(frames_dir):
        raise DataError(f"--root {root!r}: no JPEGImages/ folder (expected JPEGImages/<video>/<frame>.jpg)")
    data = read_json(path, "--annotations", EXPECTED)
    lists = {k: data.get(k) if isinstance(data, dict) else None for k in ("videos", "annotations", "categories")}
    missing = [k for k, v in lists.items() if not isinstance(v, list)]
    if missing:
        raise DataError(f"--annotations {path!r}: no {', '.join(repr(m) for m in missing)} list; expected {EXPECTED}")

    def bad(what: str, index: int) -> DataError:
        return DataError(f"--annotations {path!r}: {what}[{index}] is malformed; expected {EXPECTED}")

    names = {}
    for index, cat in enumerate(lists["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str) or "id" not in cat:
            raise bad("categories", index)
        names[cat["id"]] = cat["name"] if options.category_names == "raw" else cat["name"].replace("_", " ")
    objects: dict[Any, list[VisObject]] = {}
    for index, ann in enumerate(lists["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("segmentations"), list) or "video_id" not in ann:
            raise bad("annotations", index)
        if ann.get("category_id") not in names:
            raise DataError(f"--annotations {path!r}: annotations[{index}] has category_id "
                            f"{ann.get('category_id')!r}, which is not in 'categories'")
        objects.setdefault(ann["video_id"], []).append(
            VisObject(ann.get("id", index), names[ann["category_id"]], tuple(ann["segmentations"])))
    videos = []
    for index, video in enumerate(lists["videos"]):
        files = video.get("file_names") if isinstance(video, dict) else None
        if (not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files)
                or not isinstance(video.get("width"), int) or not isinstance(video.get("height"), int)):
            raise bad("videos", index)
        found = tuple(objects.get(video.get("id"), ()))
        for obj in found:
            if len(obj.segmentations) != len(files):
                raise DataError(f"--annotations {path!r}: annotation {obj.id} has {len(obj.segmentations)} "
                                f"segmentations for a video of {len(files)} frames")
        videos.append(VisVideo(video.get("id"), tuple(os.path.join(frames_dir, f) for f in files),
                               video["width"], video["height"], found))
    return path, videos


def attempt(video: VisVideo, obj: VisObject, choice: Draw, out: str, index: int,
            options: YtvisOptions, source_file: str) -> tuple[Sample | None, str | None]:
    """One draw -> (sample, None) or (None, why it was rejected)."""
    seg_s, seg_e = obj.segmentations[choice.subject_frame], obj.segmentations[choice.target_frame]
    if seg_s is None or seg_e is None:
        return None, "object absent from a frame"
    try:
        mask_s = decode_segmentation(seg_s, video.height, video.width)
        mask_e = decode_segmentation(seg_e, video.height, video.width)
    except ValueError as exc:
        raise DataError(f"--annotations {source_file!r}: annotation {obj.id}: {exc}") from None
    problem = subject_problem(mask_s) or target_problem(mask_e)
    if problem:
        return None, problem
    frame_s = load_rgb(video.frames[choice.subject_frame], video.width, video.height)
    frame_e = load_rgb(video.frames[choice.target_frame], video.width, video.height)
    stem = f"ytvis-{index:07d}"
    subject = save_image(subject_view(frame_s, mask_s, choice.pad_ratio, choice.flip, options.resolution),
                         os.path.join(out, "subjects", f"{stem}-0.png"))
    target_image, target_mask = target_view(frame_e, mask_e, choice.crop_ratio, options.resolution)
    target = save_image(target_image, os.path.join(out, "targets", f"{stem}.{options.target_format}"))
    masks = (save_image(target_mask, os.path.join(out, "masks", f"{stem}-0.png")),) if options.write_masks else ()
    return Sample(subjects=(subject,), subject_prompts=(SUBJECT_PROMPT.format(obj.name),), target=target,
                  caption=TARGET_TEMPLATES[choice.template].format(obj.name), masks=masks,
                  source=f"ytvis:{video.id}:{obj.id}:{choice.subject_frame}-{choice.target_frame}"), None


def _streams(videos: Sequence[VisVideo], options: YtvisOptions):
    """(rng, videos to draw from, pairs wanted, tries allowed) for each independent stream of draws."""
    usable = [v for v in videos if v.objects]
    if options.per_video is None:
        yield random.Random(options.seed), usable, options.pairs, options.pairs * options.max_tries
    else:
        for video in usable:
            yield (random.Random(f"{options.seed}:{video.id}"), [video], options.per_video,
                   options.per_video * options.max_tries)


def build_ytvis(root: str, out: str, options: YtvisOptions = YtvisOptions(), annotations: str | None = None,
                progress: Progress | None = None) -> BuildReport:
    """Write ``out/subjects``, ``out/targets`` (and ``out/masks``), then ``out/manifest.jsonl`` last."""
    out = os.path.abspath(out)
    source_file, videos = load_ytvis(root, annotations, options)
    report = BuildReport(manifest=os.path.join(out, "manifest.jsonl"), samples=0)
    usable = sum(1 for v in videos if v.objects)
    total = options.pairs if options.per_video is None else options.per_video * usable
    samples: list[Sample] = []
    for rng, pool, wanted, tries in _streams(videos, options):
        made = 0
        for _ in range(tries if pool else 0):
            if made == wanted:
                break
            video = pool[rng.randrange(len(pool))]
            obj = video.objects[rng.randrange(len(video.objects))]
            choice = draw(len(video.frames), rng)
            try:
                sample, reason = attempt(video, obj, choice, out, len(samples), options, source_file)
            except DataError:
                if not options.skip_bad:
                    raise
                sample, reason = None, "bad frame or mask"
            if reason is not None:
                report.skip(reason)
                continue
            samples.append(sample)
            made += 1
            if progress is not None:
                progress(len(samples), total, len(samples))
        if made < wanted:  # the draws ran out: say how many pairs are missing
            for _ in range(wanted - made):
                report.skip("pairs short after --max-tries")
    report.samples = len(samples)
    if not samples:
        raise DataError(f"no pair passed the filters in {source_file!r} ({report.summary()})")
    report.manifest = write_manifest(out, samples)
    return report

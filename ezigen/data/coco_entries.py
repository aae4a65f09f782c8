"""Checking the entries of a COCO instances file before any of them is used (spec §3.1 "COCO-2014").

A COCO file is data from elsewhere: every entry is checked for what the builder relies on, and a
bad one is reported with the file, its place in the file and its id (``--instances FILE:
images[3] (id 7): width ...``). With ``--skip-bad`` the image it belongs to is skipped and counted
instead ("bad entry"), since dropping one instance of an image would change which of the others
are kept (the larger-half rule looks at all of them).

- **images**: ``id`` an integer, unique in the file (two entries with one id would write each
  other's files); ``file_name`` a string; ``width`` and ``height`` integers in ``1..MAX_SIDE``
  with ``width * height <= MAX_PIXELS``: a mask is decoded at the image's size, so an entry of
  60000 x 60000 would ask for 3.4 GB before the image file is even opened.
- **annotations**: ``id`` (when given), ``image_id`` and ``category_id`` integers, ``category_id`` in ``categories``,
  a ``segmentation``; ``area``, when given, a finite number >= 0; ``bbox``, when given (not null),
  four finite numbers ``[x, y, w, h]`` with ``w, h >= 0``. (Polygon and RLE contents are checked
  where they are decoded, :mod:`ezigen.data.masks`.)

Booleans are not numbers here, although JSON ``true`` is a Python ``int``; NaN and Infinity (which
Python's JSON reader accepts) are not finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ezigen.errors import DataError

MAX_SIDE = 32768  # COCO's images are at most 640 px a side; YouTube-VIS's 1280
MAX_PIXELS = 40_000_000  # 40 MP: its masks and decode stay well under 1 GB


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A finite int or float (an int too large for a float is not: COCO values are floats)."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def size_problem(width: Any, height: Any) -> str | None:
    """What is wrong with an image entry's ``width`` x ``height``, or None."""
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIDE:
            return f"{name} must be an integer from 1 to {MAX_SIDE}, got {value!r:.40}"
    if width * height > MAX_PIXELS:
        return (f"{width}x{height} is {width * height / 1e6:.0f} MP, more than the {MAX_PIXELS // 10**6} MP "
                "ezigen builds masks for")
    return None


def image_problem(entry: Any) -> str | None:
    """What is wrong with one ``images`` entry, or None."""
    if not isinstance(entry, dict):
        return "is not an object"
    if not isinstance(entry.get("id"), int) or isinstance(entry.get("id"), bool):
        return f"'id' must be an integer, got {entry.get('id')!r:.40}"
    if not isinstance(entry.get("file_name"), str):
        return "'file_name' must be a string"
    return size_problem(entry.get("width"), entry.get("height"))


def annotation_problem(ann: Any, categories: Iterable[int]) -> str | None:
    """What is wrong with one ``annotations`` entry, or None."""
    if not isinstance(ann, dict):
        return "is not an object"
    if "id" in ann and (not isinstance(ann["id"], int) or isinstance(ann["id"], bool)):
        return f"'id' must be an integer, got {ann['id']!r:.40}"
    for key in ("image_id", "category_id"):
        if not isinstance(ann.get(key), int) or isinstance(ann.get(key), bool):
            return f"'{key}' must be an integer, got {ann.get(key)!r:.40}"
    if ann["category_id"] not in categories:
        return f"category_id {ann['category_id']} is not in 'categories'"
    if "segmentation" not in ann:
        return "has no 'segmentation'"
    if "area" in ann and not (is_finite(ann["area"]) and ann["area"] >= 0):
        return f"'area' must be a finite number >= 0, got {ann['area']!r:.40}"
    bbox = ann.get("bbox")
    if bbox is not None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(is_finite(v) for v in bbox)):
            return f"'bbox' must be four finite numbers [x, y, w, h], got {bbox!r:.80}"
        if bbox[2] < 0 or bbox[3] < 0:
            return f"'bbox' has a negative width or height: {bbox!r:.80}"
    return None


def where(kind: str, index: int, entry: Any) -> str:
    """``images[3] (id 7)``: an entry's place in the file, with its id when it has one."""
    ident = entry.get("id") if isinstance(entry, dict) else None
    return f"{kind}[{index}]" + (f" (id {ident!r:.30})" if ident is not None else "")


class EntryChecker:
    """Collects bad entries of one instances file: raises on the first unless ``skip_bad``, else
    remembers which image ids to skip (``bad_images``) and how many entries were bad."""

    def __init__(self, path: str, skip_bad: bool):
        self.path, self.skip_bad = path, skip_bad
        self.bad_images: set[int] = set()
        self.count = 0

    def bad(self, place: str, problem: str, image_id: Any = None) -> None:
        if not self.skip_bad:
            raise DataError(f"--instances {self.path!r}: {place} {problem} (use --skip-bad to skip and count "
                            "images with bad entries)")
        self.count += 1
        if isinstance(image_id, int) and not isinstance(image_id, bool):
            self.bad_images.add(image_id)

    def images(self, entries: list[Any]) -> list[dict[str, Any]]:
        """The usable ``images`` entries, in file order; every entry of a repeated id is bad."""
        first: dict[int, int] = {}
        for index, entry in enumerate(entries):
            problem = image_problem(entry)
            if problem is not None:
                self.bad(where("images", index, entry), problem,
                         entry.get("id") if isinstance(entry, dict) else None)
            elif entry["id"] in first:
                self.bad(where("images", index, entry), f"repeats the id of images[{first[entry['id']]}]; "
                         "ids must be unique (their files would overwrite each other)", entry["id"])
            else:
                first[entry["id"]] = index
        return [e for e in entries if image_problem(e) is None and e["id"] not in self.bad_images]

    def annotations(self, entries: list[Any], categories: Iterable[int]) -> list[dict[str, Any]]:
        """The usable ``annotations`` entries (those of images with a bad entry are dropped later)."""
        known = set(categories)
        good = []
        for index, ann in enumerate(entries):
            problem = annotation_problem(ann, known)
            if problem is None:
                good.append(ann)
            else:
                self.bad(where("annotations", index, ann), problem,
                         ann.get("image_id") if isinstance(ann, dict) else None)
        return good

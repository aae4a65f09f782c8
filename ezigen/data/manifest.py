"""The training-data format: a folder with ``manifest.jsonl`` and its images.

One JSON object per line (paths relative to the folder)::

    {"subjects": ["subjects/000001-0.png", ...],          # 1..N subject crops (on white, as EZIGen expects)
     "subject_prompts": ["a photo of a dog.", ...],       # one class prompt per subject
     "target": "targets/000001.jpg",                      # the image to generate
     "caption": "a dog running on the beach",             # its caption
     "masks": ["masks/000001-0.png", ...],                # optional: per-subject masks in the target
     "source": "coco:139"}                                # optional: provenance

Reading checks every line (valid JSON object, required keys with the right types, equal
numbers of subjects and prompts, files present) and reports each bad line as
``manifest.jsonl:LINE: what`` — the caller stops at the first or skips and counts them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ezigen.errors import DataError

MANIFEST = "manifest.jsonl"


@attrs.frozen
class Sample:
    """One training sample; paths are absolute."""

    subjects: tuple[str, ...]
    subject_prompts: tuple[str, ...]
    target: str
    caption: str
    masks: tuple[str | None, ...] = ()
    source: str | None = None
    line: int = 0

    def to_json(self, folder: str) -> dict[str, Any]:
        def rel(path: str | None) -> str | None:
            return None if path is None else os.path.relpath(path, folder)

        data: dict[str, Any] = {
            "subjects": [rel(p) for p in self.subjects],
            "subject_prompts": list(self.subject_prompts),
            "target": rel(self.target),
            "caption": self.caption,
        }
        if self.masks:
            data["masks"] = [rel(p) for p in self.masks]
        if self.source is not None:
            data["source"] = self.source
        return data


@attrs.frozen
class BadLine:
    location: str  # "path/manifest.jsonl:12"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def manifest_path(data: str) -> str:
    path = os.path.join(data, MANIFEST) if os.path.isdir(data) else data
    if not os.path.isfile(path):
        raise DataError(f"--data {data!r}: no {MANIFEST} there (expected a folder written by `ezigen data ...`)")
    return path


def parse_line(text: str, folder: str, line: int, check_files: bool = True) -> Sample:
    """One manifest line -> Sample; raises ValueError with what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    missing = [k for k in ("subjects", "subject_prompts", "target", "caption") if k not in data]
    if missing:
        raise ValueError(f"missing key(s): {', '.join(missing)}")
    subjects, prompts = data["subjects"], data["subject_prompts"]
    if not isinstance(subjects, list) or not subjects or not all(isinstance(p, str) for p in subjects):
        raise ValueError("'subjects' must be a non-empty list of paths")
    if not isinstance(prompts, list) or len(prompts) != len(subjects) or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"'subject_prompts' must be a list of {len(subjects)} strings (one per subject)")
    if not isinstance(data["target"], str) or not isinstance(data["caption"], str):
        raise ValueError("'target' must be a path and 'caption' a string")
    masks = data.get("masks") or []
    if (not isinstance(masks, list) or (masks and len(masks) != len(subjects))
            or not all(m is None or isinstance(m, str) for m in masks)):
        raise ValueError(f"'masks' must be a list of {len(subjects)} paths or nulls")
    if not isinstance(data.get("source"), (str, type(None))):
        raise ValueError("'source' must be a string")
    unknown = set(data) - {"subjects", "subject_prompts", "target", "caption", "masks", "source"}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")

    def resolve(path: str) -> str:
        full = path if os.path.isabs(path) else os.path.normpath(os.path.join(folder, path))
        if check_files and not os.path.isfile(full):
            raise ValueError(f"file {path!r} does not exist")
        return full

    return Sample(
        subjects=tuple(resolve(p) for p in subjects),
        subject_prompts=tuple(prompts),
        target=resolve(data["target"]),
        caption=data["caption"],
        masks=tuple(None if m is None else resolve(m) for m in masks),
        source=data.get("source"),
        line=line,
    )


def iter_manifest(data: str, check_files: bool = True) -> Iterator[Sample | BadLine]:
    """Every line of the manifest as a Sample, or a BadLine saying where and what is wrong."""
    path = manifest_path(data)
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield parse_line(text, folder, number, check_files)
            except ValueError as exc:
                yield BadLine(f"{path}:{number}", str(exc))


def read_manifest(data: str, skip_bad: bool = False) -> tuple[list[Sample], list[BadLine]]:
    """All samples; the first bad line raises DataError unless ``skip_bad`` (then they are returned)."""
    samples: list[Sample] = []
    bad: list[BadLine] = []
    for item in iter_manifest(data):
        if isinstance(item, BadLine):
            if not skip_bad:
                raise DataError(f"{item} (use --skip-bad to skip and count bad samples)")
            bad.append(item)
        else:
            samples.append(item)
    if not samples:
        raise DataError(f"--data {data!r}: the manifest has no usable samples")
    return samples, bad


def write_manifest(folder: str, samples: Iterable[Sample]) -> str:
    """Write ``folder/manifest.jsonl`` atomically; returns its path."""
    from ezigen.io import write_text_atomic

    lines = [json.dumps(s.to_json(folder), ensure_ascii=False) for s in samples]
    path = os.path.join(folder, MANIFEST)
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
    return path

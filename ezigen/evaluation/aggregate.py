"""Result rows: one per image, then means per recipe, per (recipe, subject), per (recipe, prompt kind).

Every row has the same fields (:func:`fields`); a field that does not apply is None (empty in
the CSV). ``scope`` says which table a row belongs to: ``image``, ``recipe``, ``subject`` or
``prompt_kind``. The real-vs-real rows use the recipe name ``real-images``.

- A group's score is the mean over its images (images with no score, None, are left out).
- ``unet_evals``, ``seconds`` and ``iterations`` come from each image's ``trace.json``
  (``totals``); a group reports their mean per image. ``seconds`` is the wall time of one
  ``System.generate`` call (a subject's first image also pays for encoding the subject).
- Per recipe, ``<column>-seed-std`` is the sample standard deviation (n - 1) over seeds of the
  per-seed means, when there are at least two seeds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from ezigen.evaluation.plan import REAL_IMAGES, Job

ROUND = 6
KEY_FIELDS = ("scope", "recipe", "subject", "class", "live", "prompt_kind", "prompt_index", "prompt", "clip_prompt",
              "seed", "image", "reference", "images")
COST_FIELDS = ("unet_evals", "seconds", "iterations")
SCOPES = ("image", "recipe", "subject", "prompt_kind")


def fields(columns: Sequence[str]) -> list[str]:
    """Every row's fields, in CSV order."""
    return [*KEY_FIELDS, *columns, *(f"{c}-seed-std" for c in columns), *COST_FIELDS]


@attrs.frozen
class Results:
    columns: tuple[str, ...]
    per_image: list[dict[str, Any]]
    per_recipe: list[dict[str, Any]]
    per_subject: list[dict[str, Any]]
    per_prompt_kind: list[dict[str, Any]]

    def all_rows(self) -> list[dict[str, Any]]:
        return [*self.per_image, *self.per_recipe, *self.per_subject, *self.per_prompt_kind]

    def recipe_row(self, recipe: str) -> dict[str, Any] | None:
        return next((row for row in self.per_recipe if row["recipe"] == recipe), None)


def mean(values: Iterable[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(sum(present) / len(present), ROUND) if present else None


def sample_std(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    centre = sum(values) / len(values)
    return round(math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1)), ROUND)


def _blank(columns: Sequence[str]) -> dict[str, Any]:
    return dict.fromkeys(fields(columns))


def image_rows(jobs: Sequence[Job], traces: dict[str, dict[str, Any]], scores: dict[str, dict[str, float]],
               columns: Sequence[str], data_root: str) -> list[dict[str, Any]]:
    """One row per generated image; ``image`` relative to OUT, ``reference`` relative to --data."""
    rows = []
    for job in jobs:
        totals = traces[job.key].get("totals", {})
        row = _blank(columns)
        row.update(scope="image", recipe=job.recipe, subject=job.subject.name, **{"class": job.subject.class_name},
                   live=job.subject.live, prompt_kind=job.prompt.kind.value, prompt_index=job.prompt.index,
                   prompt=job.generation_prompt, clip_prompt=job.clip_prompt, seed=job.seed,
                   image=os.path.relpath(job.image_path("."), ".").replace(os.sep, "/"),
                   reference=os.path.relpath(job.reference, data_root).replace(os.sep, "/"), images=1,
                   unet_evals=totals.get("unet_evals"), seconds=totals.get("seconds"),
                   iterations=totals.get("iterations"))
        row.update({c: _round(scores[job.key].get(c)) for c in columns})
        rows.append(row)
    return rows


def real_rows(real: Sequence[dict[str, Any]], columns: Sequence[str], data_root: str) -> list[dict[str, Any]]:
    """One row per real image (recipe ``real-images``); ``image`` and ``reference`` relative to --data."""
    rows = []
    chosen = {entry["subject"].name: entry["image"] for entry in real if entry["conditioning"]}
    for entry in real:
        subject = entry["subject"]
        row = _blank(columns)
        row.update(scope="image", recipe=REAL_IMAGES, subject=subject.name, **{"class": subject.class_name},
                   live=subject.live, image=os.path.relpath(entry["image"], data_root).replace(os.sep, "/"),
                   reference=os.path.relpath(chosen[subject.name], data_root).replace(os.sep, "/"), images=1)
        row.update({c: _round(entry["scores"].get(c)) for c in columns})
        rows.append(row)
    return rows


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), ROUND)


def group(rows: Sequence[dict[str, Any]], keys: Sequence[str], scope: str,
          columns: Sequence[str]) -> list[dict[str, Any]]:
    """Means over the rows sharing ``keys`` (groups in order of first appearance); rows with a None key are skipped."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if None not in key:
            groups.setdefault(key, []).append(row)
    out = []
    for key, members in groups.items():
        row = _blank(columns)
        row.update(scope=scope, images=len(members), **dict(zip(keys, key)))
        if "subject" in keys:
            row.update({"class": members[0]["class"], "live": members[0]["live"]})
        for column in [*columns, *COST_FIELDS]:
            row[column] = mean(m[column] for m in members)
        if scope == "recipe":
            for column in columns:
                per_seed = [mean(m[column] for m in members if m["seed"] == seed)
                            for seed in dict.fromkeys(m["seed"] for m in members if m["seed"] is not None)]
                row[f"{column}-seed-std"] = sample_std([v for v in per_seed if v is not None])
        out.append(row)
    return out


def aggregate(generated: Sequence[dict[str, Any]], real: Sequence[dict[str, Any]], columns: Sequence[str]) -> Results:
    """Per-image rows (generated, then real) -> :class:`Results` with the three aggregate tables."""
    rows = [*generated, *real]
    return Results(
        columns=tuple(columns),
        per_image=list(rows),
        per_recipe=group(rows, ("recipe",), "recipe", columns),
        per_subject=group(rows, ("recipe", "subject"), "subject", columns),
        per_prompt_kind=group(rows, ("recipe", "prompt_kind"), "prompt_kind", columns),
    )

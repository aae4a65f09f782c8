"""Result rows: one per image, means per recipe / (recipe, subject) / (recipe, prompt kind) /
(recipe, class type), and paired differences per recipe pair.

Every row has the same fields (:func:`fields`); a field that does not apply is None (empty in
the CSV). ``scope`` says which table a row belongs to: ``image``, ``recipe``, ``subject``,
``prompt_kind``, ``class_type`` (``live`` true or false) or ``paired``. ``recipe`` is the recipe's
name exactly as given (``toy/ezigen``; only its folder under OUT/images is sanitised); the
real-vs-real rows use the name ``real-images``.

- A group's score is the mean over its images (images with no score, None, are left out);
  ``<column>-ci-low`` / ``-ci-high`` is its 95 % bootstrap CI over subjects (prompts and seeds
  resampled within subject; :mod:`ezigen.evaluation.stats`).
- A ``paired`` row is recipe ``recipe`` minus recipe ``versus`` over the (subject, prompt, seed)
  jobs both have: each score column holds the mean difference, the CI columns its CI (none when
  the pairs come from fewer than :data:`MIN_PAIRED_SUBJECTS` subjects), and ``images`` the number of pairs. One row per pair of recipes, in command-line order.
  ``paired_prompt_kind`` and ``paired_class_type`` rows are the same difference within one prompt
  kind (``prompt_kind`` set) or one class type (``live`` set).
- ``unet_evals``, ``seconds`` and ``iterations`` come from each image's ``trace.json``
  (``totals``) with the subject's encoding, recorded once per (recipe, subject), spread equally
  over that subject's images (``runner.amortised_cost``); a group reports their mean per image.
  ``seconds`` is the wall time of one ``System.generate`` call plus that share.
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
from ezigen.evaluation.stats import bootstrap_interval, job_values, pair_key, paired_difference

ROUND = 6
KEY_FIELDS = ("scope", "recipe", "versus", "subject", "class", "live", "prompt_kind", "prompt_index", "prompt", "clip_prompt",
              "seed", "image", "reference", "images")
COST_FIELDS = ("unet_evals", "seconds", "iterations")
MIN_PAIRED_SUBJECTS = 2  # a paired difference gets a CI (and can be starred) from this many subjects on
SCOPES = ("image", "recipe", "subject", "prompt_kind", "class_type", "paired", "paired_prompt_kind", "paired_class_type")


def fields(columns: Sequence[str]) -> list[str]:
    """Every row's fields, in CSV order."""
    return [*KEY_FIELDS, *columns, *(f"{c}-seed-std" for c in columns), *(f"{c}-ci-low" for c in columns),
            *(f"{c}-ci-high" for c in columns), *COST_FIELDS]


@attrs.frozen
class Results:
    columns: tuple[str, ...]
    per_image: list[dict[str, Any]]
    per_recipe: list[dict[str, Any]]
    per_subject: list[dict[str, Any]]
    per_prompt_kind: list[dict[str, Any]]
    per_class_type: list[dict[str, Any]] = attrs.field(factory=list)
    paired: list[dict[str, Any]] = attrs.field(factory=list)
    paired_per_kind: list[dict[str, Any]] = attrs.field(factory=list)  # per prompt kind, then per class type

    def all_rows(self) -> list[dict[str, Any]]:
        return [*self.per_image, *self.per_recipe, *self.per_subject, *self.per_prompt_kind, *self.per_class_type,
                *self.paired, *self.paired_per_kind]

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
               columns: Sequence[str], data_root: str, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per generated image; ``image`` relative to OUT, ``reference`` relative to --data.

    ``names``: {recipe folder: recipe name} (the label; default: the folder name)."""
    names = names or {}
    rows = []
    for job in jobs:
        totals = traces[job.key].get("totals", {})
        row = _blank(columns)
        row.update(scope="image", recipe=names.get(job.recipe, job.recipe), subject=job.subject.name, **{"class": job.subject.class_name},
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
        for column in columns:
            interval = bootstrap_interval(job_values(members, column), "|".join([scope, *map(str, key), column]))
            if interval is not None:
                row[f"{column}-ci-low"], row[f"{column}-ci-high"] = _round(interval.low), _round(interval.high)
        if scope == "recipe":
            for column in columns:
                per_seed = [mean(m[column] for m in members if m["seed"] == seed)
                            for seed in dict.fromkeys(m["seed"] for m in members if m["seed"] is not None)]
                row[f"{column}-seed-std"] = sample_std([v for v in per_seed if v is not None])
        out.append(row)
    return out


def paired_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], within: str | None = None) -> list[dict[str, Any]]:
    """One ``paired`` row per pair (A, B) of recipes, A before B in command-line order: A - B.

    With ``within`` (``"prompt_kind"`` or ``"live"``): one row per pair and value of that field,
    over the jobs of that value only (scope ``paired_prompt_kind`` / ``paired_class_type``).
    """
    if within is not None:
        scope = "paired_prompt_kind" if within == "prompt_kind" else "paired_class_type"
        values = [v for v in dict.fromkeys(row[within] for row in rows) if v is not None]
        return [{**row, "scope": scope, within: value}
                for value in values
                for row in _pairs([r for r in rows if r[within] == value], columns, f"{within}={value}")]
    return _pairs(rows, columns, "recipe")


def _pairs(rows: Sequence[dict[str, Any]], columns: Sequence[str], table: str) -> list[dict[str, Any]]:
    recipes = [r for r in dict.fromkeys(row["recipe"] for row in rows) if r != REAL_IMAGES]
    by_recipe = {name: [row for row in rows if row["recipe"] == name] for name in recipes}
    out = []
    for i, first in enumerate(recipes):
        for second in recipes[i + 1:]:
            row = _blank(columns)
            row.update(scope="paired", recipe=first, versus=second)
            for column in columns:
                diff = paired_difference(job_values(by_recipe[first], column), job_values(by_recipe[second], column),
                                         pair_key(table, first, second, column))
                if diff is None:
                    continue
                row[column] = _round(diff.mean)
                if diff.subjects >= MIN_PAIRED_SUBJECTS:  # fewer: the pairs say nothing about other subjects
                    row[f"{column}-ci-low"], row[f"{column}-ci-high"] = _round(diff.low), _round(diff.high)
                row["images"] = max(row["images"] or 0, diff.n)
            out.append(row)
    return out


def aggregate(generated: Sequence[dict[str, Any]], real: Sequence[dict[str, Any]], columns: Sequence[str]) -> Results:
    """Per-image rows (generated, then real) -> :class:`Results` with the aggregate tables and pairs."""
    rows = [*generated, *real]
    return Results(
        columns=tuple(columns),
        per_image=list(rows),
        per_recipe=group(rows, ("recipe",), "recipe", columns),
        per_subject=group(rows, ("recipe", "subject"), "subject", columns),
        per_prompt_kind=group(rows, ("recipe", "prompt_kind"), "prompt_kind", columns),
        per_class_type=group(rows, ("recipe", "live"), "class_type", columns),
        paired=paired_rows(generated, columns),
        paired_per_kind=[*paired_rows(generated, columns, "live"), *paired_rows(generated, columns, "prompt_kind")],
    )

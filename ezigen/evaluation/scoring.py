"""Scoring generated images, and the real-vs-real row.

Generated image x_i of subject S (real images y_1..y_R, the conditioning image y_c):
every metric is called as ``metric.score(images, references=[y_c, other y's...], prompts=[CLIP-T
prompt of each image])``: the conditioning image comes first, so ``references: conditioning``
scores against y_c alone and ``references: all`` against all R.

Real vs real (DreamBooth's upper bound, BENCHMARKS §0): each real image y_i against the other
real images of its subject (never itself), s_i = mean_{j != i} cos(e(y_i), e(y_j)); the
``-cond`` columns score y_i (i != c) against y_c alone, and y_c itself gets no score. Metrics
that do not compare with references (CLIP-T) have no real-vs-real score. The row's mean over
all real images equals the mean over all ordered pairs (i, j), i != j, of a subject when
subjects have equal counts; DreamBench's do not (4-6), so this is the per-image mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ezigen.evaluation.dreambench import Subject
from ezigen.evaluation.metric_set import MetricColumn
from ezigen.evaluation.plan import Job


def load_rgb(path: str) -> Any:
    from ezigen.images import load_image

    return load_image(path, what="image")


def references_for(subject: Subject, conditioning: str, loaded: dict[str, Any]) -> list[Any]:
    """The subject's real images, the conditioning image first, then the others in sorted order."""
    order = [conditioning] + [p for p in subject.images if p != conditioning]
    return [loaded.setdefault(p, load_rgb(p)) for p in order]


def score_generated(jobs: Sequence[Job], out: str, columns: Sequence[MetricColumn], metrics: dict[str, Any],
                    log: Callable[[str], None] = lambda _: None) -> dict[str, dict[str, float]]:
    """{job key: {column: score}} for every job, scored per (recipe, subject) group."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.recipe, job.subject.name), []).append(job)
    real_cache: dict[str, Any] = {}
    scores: dict[str, dict[str, float]] = {job.key: {} for job in jobs}
    for (recipe, subject_name), group in groups.items():
        subject = group[0].subject
        references = references_for(subject, group[0].reference, real_cache)
        images = [load_rgb(job.image_path(out)) for job in group]
        prompts = [job.clip_prompt for job in group]
        for column in columns:
            values = metrics[column.column].score(images, references=references, prompts=prompts)
            for job, value in zip(group, values):
                scores[job.key][column.column] = float(value)
        log(f"scored {recipe}/{subject_name} ({len(group)} images)")
    return scores


def score_real(subjects: Sequence[Subject], conditioning: dict[str, str], columns: Sequence[MetricColumn],
               metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per real image: {subject, image (path), conditioning (bool), scores {column: float | None}}."""
    rows = []
    for subject in subjects:
        loaded = {path: load_rgb(path) for path in subject.images}
        chosen = conditioning[subject.name]
        for path in subject.images:
            others = [p for p in ([chosen] + list(subject.images)) if p != path]
            others = list(dict.fromkeys(others))  # the conditioning image first when it is not ``path``
            values: dict[str, float | None] = {}
            for column in columns:
                skip = (not column.uses_references or not others
                        or (column.conditioning_only and path == chosen))
                values[column.column] = None if skip else float(metrics[column.column].score(
                    [loaded[path]], references=[loaded[p] for p in others], prompts=[subject.subject_prompt])[0])
            rows.append({"subject": subject, "image": path, "conditioning": path == chosen, "scores": values})
    return rows

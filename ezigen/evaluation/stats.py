"""Uncertainty of DreamBench scores (numpy only): bootstrap confidence intervals and paired differences.

**Mean with a 95 % CI.** A table's score is the mean over its images, x̄ = (1/N) Σ_i x_i. Its
uncertainty comes mostly from *which subjects* the benchmark happens to hold (30 subjects, each
scored on many prompts and seeds that are far from independent), so the interval is a two-stage
(cluster) bootstrap that resamples at that level:

1. draw S subjects with replacement from the S subjects of the table;
2. for each drawn subject s, draw its n_s images (its prompt x seed jobs) with replacement;
3. the replicate is the mean over all drawn images, x̄* = Σ_draws Σ x / Σ_draws n_s (the same
   equal-weight-per-image mean as the point estimate).

B = 2000 replicates; the CI is the percentile interval [q_0.025(x̄*), q_0.975(x̄*)] (numpy's
linear quantiles). With one subject only step 2 remains (the CI then says nothing about other
subjects); with fewer than 2 images there is no CI (None).

**Paired difference.** Two recipes evaluated on the same jobs differ in method only: for every
(subject, prompt, seed) job that both have a score for, d_j = x_j(A) − x_j(B), and the
difference is d̄ = mean_j d_j with the same two-stage bootstrap over subjects and, within a
subject, over its pairs. Pairing removes the variation shared by both recipes (how hard a
subject or prompt is, the shared initial noise of a seed), so the paired CI is usually much
narrower than the two unpaired CIs suggest. ``pairs`` counts the jobs used.

**Seeding.** Every interval has its own generator, ``numpy.random.default_rng([SEED,
crc32(key)])`` with ``key`` naming the table, the recipe(s) and the column, and subjects and
their values are put in a fixed order (sorted by subject, then by job) first. So an interval
does not depend on row order or on which other recipes or columns were evaluated, a rerun
gives the same numbers, and the A − B interval is exactly the mirror of B − A.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Iterable, Mapping, Sequence

import attrs
import numpy as np

SAMPLES = 2000
LEVEL = 0.95
SEED = 0
_CHUNK = 250  # replicates drawn at once: bounds memory at about _CHUNK * S * max(n_s) values


@attrs.frozen
class Interval:
    """A mean (or mean difference) with its bootstrap CI; ``low``/``high`` None below 2 values."""

    mean: float
    low: float | None
    high: float | None
    n: int  # images (or pairs) behind the mean
    subjects: int


def method_record() -> dict[str, object]:
    """How the intervals were computed, as written to results.json (``statistics.method``)."""
    return {
        "interval": "percentile bootstrap",
        "level": LEVEL,
        "samples": SAMPLES,
        "seed": SEED,
        "resampling": "subjects with replacement, then each drawn subject's images (prompt x seed jobs) "
                      "with replacement; replicate = mean over all drawn images",
        "paired": "the same bootstrap on d = score(A) - score(B) over the (subject, prompt, seed) jobs both have",
        "generator": "numpy.random.default_rng([seed, crc32(key)]), key = table|recipe(s)|column",
    }


def _generator(key: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(key.encode("utf-8"))])


def _ordered_groups(values: Mapping[tuple[Hashable, Hashable], float]) -> list[np.ndarray]:
    """{(subject, job): value} -> one float array per subject, subjects and jobs in sorted order."""
    by_subject: dict[Hashable, list[tuple[Hashable, float]]] = {}
    for (subject, job), value in values.items():
        by_subject.setdefault(subject, []).append((job, float(value)))
    return [np.array([v for _, v in sorted(by_subject[s], key=lambda item: repr(item[0]))], dtype=np.float64)
            for s in sorted(by_subject, key=repr)]


def replicate_means(groups: Sequence[np.ndarray], samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples,) two-stage bootstrap replicates of the per-image mean (see the module docstring)."""
    count = len(groups)
    sizes = np.array([len(g) for g in groups])  # (S,)
    width = int(sizes.max())
    padded = np.zeros((count, width))  # (S, W): subject s's values in its first n_s slots
    for i, group in enumerate(groups):
        padded[i, :len(group)] = group
    out = np.empty(samples)
    for start in range(0, samples, _CHUNK):
        b = min(_CHUNK, samples - start)
        if count > 1:
            chosen = rng.integers(0, count, size=(b, count))  # (b, S) the subjects drawn
        else:  # one subject: only the within-subject stage
            chosen = np.zeros((b, 1), dtype=np.int64)
        n = sizes[chosen]  # (b, S)
        picks = np.minimum((rng.random((b, count, width)) * n[..., None]).astype(np.int64), n[..., None] - 1)
        drawn = padded[chosen[..., None], picks]  # (b, S, W)
        used = np.arange(width) < n[..., None]  # (b, S, W): only the first n_s draws of a subject count
        out[start:start + b] = np.where(used, drawn, 0.0).sum(axis=(1, 2)) / n.sum(axis=1)
    return out


def bootstrap_interval(values: Mapping[tuple[Hashable, Hashable], float], key: str) -> Interval | None:
    """The mean of ``{(subject, job): value}`` with its CI; None when there are no values."""
    groups = _ordered_groups(values)
    if not groups:
        return None
    flat = np.concatenate(groups)
    mean = float(flat.mean())
    if flat.size < 2:
        return Interval(mean, None, None, int(flat.size), len(groups))
    if np.ptp(flat) == 0.0:  # constant data: every replicate equals the mean exactly
        return Interval(mean, mean, mean, int(flat.size), len(groups))
    replicates = replicate_means(groups, SAMPLES, _generator(key))
    alpha = (1.0 - LEVEL) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return Interval(mean, float(low), float(high), int(flat.size), len(groups))


def paired_difference(a: Mapping[tuple[Hashable, Hashable], float], b: Mapping[tuple[Hashable, Hashable], float],
                      key: str) -> Interval | None:
    """mean(a − b) over the (subject, job) keys both have, with its CI; None when they share none.

    ``key`` should name the pair without its order (see :func:`pair_key`) so that the interval
    of B − A is the mirror of A − B.
    """
    common = a.keys() & b.keys()
    return bootstrap_interval({k: float(a[k]) - float(b[k]) for k in common}, key)


def pair_key(table: str, first: str, second: str, column: str) -> str:
    """The generator key of a paired interval, the same for (A, B) and (B, A)."""
    low, high = sorted((first, second))
    return f"{table}|paired|{low}|{high}|{column}"


def job_values(rows: Iterable[Mapping[str, object]], column: str) -> dict[tuple[Hashable, Hashable], float]:
    """{(subject, job): score} of per-image rows with a score in ``column``.

    A generated image's job is (prompt_index, seed), the same for every recipe, which is what
    pairs two recipes' images; a real image (no prompt) is its own job (its path).
    """
    return {(row["subject"], row["image"] if row.get("prompt_index") is None else (row["prompt_index"], row["seed"])):
            float(row[column]) for row in rows if row.get(column) is not None}

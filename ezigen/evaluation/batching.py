"""Seeds of one (recipe, subject, prompt) in one denoising batch (``ezigen eval --batch-size N``).

``System.generate(prompt, seed=[s1, ..., sn])`` runs n rows in one batch with one generator
per row, so row i is the image seed s_i gives alone (up to float rounding of batched kernels:
at most 1/255 per pixel, tested). Two things can couple the rows, so batching is used only
where neither does:

- a refinement stop rule that looks at the images (``clip-similarity``, ``latent-similarity``)
  stops the whole batch when the *last* row has converged, so a row may run more iterations
  than alone: recipes with such a rule (the released EZIGen default) are run one image per call;
  ``fixed`` and no refinement batch;
- nothing else: CFG, the subject path and the VAE work row by row.

A batch's trace counts every row (a CFG batch of 2 x n rows is 2n UNet evaluations a step);
each image's ``trace.json`` gets the batch's totals divided by n (``unet_evals``,
``vae_encodes``, ``vae_decodes``, ``subject_encodings``, ``seconds``), so its cost is what it
would be alone, and ``"batch": {"seeds", "size"}``. ``iterations`` (refinement iterations of
the batch) is not divided. Images already on disk are reused as always: a batch holds only the
missing seeds of a prompt.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from ezigen.evaluation.plan import Job

PER_ROW_TOTALS = ("unet_evals", "vae_encodes", "vae_decodes", "subject_encodings", "seconds")
BATCHABLE_STOPS = ("fixed",)


def batchable(recipe: Any) -> bool:
    """Whether the rows of a batch of this recipe are independent (see the module docstring)."""
    return recipe.refinement is None or recipe.refinement.stop.type in BATCHABLE_STOPS


def batches(jobs: Sequence[Job], size: int) -> Iterator[list[Job]]:
    """Consecutive jobs of one (recipe, subject, prompt), at most ``size`` at a time, in plan order."""
    current: list[Job] = []
    for job in jobs:
        same = current and (job.recipe, job.subject.name, job.prompt.index) == (
            current[0].recipe, current[0].subject.name, current[0].prompt.index)
        if current and (not same or len(current) >= size):
            yield current
            current = []
        current.append(job)
    if current:
        yield current


@attrs.frozen
class _RowTrace:
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


@attrs.frozen
class RowResult:
    """One row of a batched result, shaped as ``ezigen.outputs.write_generation`` reads a result."""

    images: list[Any]
    trace: _RowTrace
    seed: int
    prompts: list[str]


def _per_row(value: Any, rows: int) -> Any:
    """``value / rows``, kept an int when it divides exactly (a count stays a count)."""
    if isinstance(value, int) and value % rows == 0:
        return value // rows
    return value / rows


def split(result: Any) -> list[RowResult]:
    """A batched ``GenerationResult`` of n seeds -> n one-image results with per-image trace totals."""
    seeds = list(result.seed) if isinstance(result.seed, (list, tuple)) else [result.seed]
    rows = len(seeds)
    base = result.trace.to_json()
    out = []
    for i, seed in enumerate(seeds):
        data = dict(base)
        data["totals"] = {k: (_per_row(v, rows) if k in PER_ROW_TOTALS else v) for k, v in base["totals"].items()}
        if rows > 1:
            data["batch"] = {"seeds": seeds, "size": rows}
        out.append(RowResult([result.images[i]], _RowTrace(data), seed, list(result.prompts)))
    return out

"""The trace of one generation: every denoising step actually run, and the cost totals.

Schema (DESIGN §6), written as ``trace.json``::

    {"steps": [{"iteration", "index", "timestep", "subject", "text_scale", "subject_scale"}, ...],
     "totals": {"unet_evals", "subject_encodings", "vae_encodes", "vae_decodes", "iterations", "seconds"}}

- ``iteration`` 0 is the initial pass; 1, 2, ... are refinement iterations.
- ``index`` is the step's index in the scheduler's timestep list (a refinement restarting at
  index 30 of 50 records 30, 31, ...).
- ``unet_evals`` counts UNet evaluations per sample row: a CFG batch of 2 counts as 2.
- ``iterations`` counts refinement iterations (not the initial pass).
- an edit (``System.edit``, spec §4.4) has no initial pass: each iteration n = 1, 2, ... lists
  its partial-inversion steps first, marked ``"kind": "inversion"`` (index = the step in the
  inverse scheduler's list, counted in ``unet_evals`` too), then its denoising steps. Denoising
  entries are generate's, in an edit too: no ``kind`` key in JSON (``TraceStep.kind`` is
  ``"denoise"``), so every trace keeps the schema above and a reader tells the two apart by
  ``step.get("kind", "denoise")``. The kinds are a closed set (:data:`STEP_KINDS`).
"""

from __future__ import annotations

import time
from typing import Any

import attrs

STEP_KINDS = ("denoise", "inversion")  # a denoising step (generate, edit); an edit's partial-inversion step
TOTAL_KEYS = ("unet_evals", "subject_encodings", "vae_encodes", "vae_decodes", "iterations", "seconds")


@attrs.frozen
class TraceStep:
    iteration: int
    index: int
    timestep: int
    subject: bool
    text_scale: float
    subject_scale: float
    kind: str = attrs.field(default="denoise", validator=attrs.validators.in_(STEP_KINDS))  # STEP_KINDS


@attrs.define
class Trace:
    steps: list[TraceStep] = attrs.field(factory=list)
    totals: dict[str, float] = attrs.field(factory=lambda: {k: 0 for k in TOTAL_KEYS})
    extra: dict[str, Any] = attrs.field(factory=dict)
    _started: float = attrs.field(factory=time.perf_counter)

    def add_step(self, step: TraceStep) -> None:
        self.steps.append(step)

    def count(self, key: str, n: int = 1) -> None:
        self.totals[key] = self.totals.get(key, 0) + n

    def finish(self) -> None:
        self.totals["seconds"] = round(time.perf_counter() - self._started, 4)

    def steps_of(self, iteration: int) -> list[TraceStep]:
        return [s for s in self.steps if s.iteration == iteration]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "steps": [_step_json(s) for s in self.steps],
            "totals": {k: self.totals.get(k, 0) for k in TOTAL_KEYS},
        }
        out["totals"].update({k: v for k, v in self.totals.items() if k not in TOTAL_KEYS})
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trace:
        trace = cls(steps=[TraceStep(**s) for s in data["steps"]], totals=dict(data["totals"]))
        trace.extra = dict(data.get("extra", {}))
        return trace


def _step_json(step: TraceStep) -> dict[str, Any]:
    data = attrs.asdict(step)
    if data["kind"] == "denoise":
        del data["kind"]
    return data

"""Generating the plan's images: each job once, reusing what a previous run left.

A job's folder holds ``recipe.yaml`` and ``trace.json`` written first and ``image.png`` last
(``ezigen.outputs.write_generation``, atomic writes), so an ``image.png`` always has the trace
of its own run beside it. A job is done when its image exists; a run killed half-way leaves
at most a folder without an image, which the next run regenerates.

**Encoding cost.** A subject is encoded once per (recipe, subject) and process, before its first
image (so the images' traces never include it), and that cost is recorded once, in
``OUT/images/<recipe>/<subject>/encoding.json`` (``subject_encodings``, ``unet_evals``,
``vae_encodes``, ``seconds``), by the first run that encodes it; later runs keep that record.
The aggregation spreads it equally over the subject's images in the plan
(:func:`amortised_cost`), so the cost columns do not depend on which image, process or run
happened to encode the subject.

A done job is reused only if it was made by the same resolved recipe from the same inputs
(prompt, seed, subject prompt, conditioning image); otherwise the run stops with an
:class:`~ezigen.errors.OutputError` before generating anything, rather than mixing protocols
in one results table or overwriting earlier images.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ezigen.errors import OutputError
from ezigen.evaluation.plan import Job


@attrs.frozen(eq=False)
class RecipeRun:
    """A recipe under evaluation: its folder name under OUT/images and the resolved recipe."""

    folder: str
    recipe: Any

    @property
    def uses_subject(self) -> bool:
        return self.recipe.subject_encoder is not None

    def recipe_text(self) -> str:
        from ezigen.recipe.yaml_loader import dump_yaml

        return dump_yaml(self.recipe.to_data())


@attrs.define
class RunStats:
    generated: int = 0
    reused: int = 0

    def __add__(self, other: RunStats) -> RunStats:
        return RunStats(self.generated + other.generated, self.reused + other.reused)


ENCODING_FILE = "encoding.json"
ENCODING_KEYS = ("subject_encodings", "unet_evals", "vae_encodes", "seconds")


def encoding_path(job: Job, out: str) -> str:
    return os.path.join(os.path.dirname(job.folder(out)), ENCODING_FILE)


def read_encoding(job: Job, out: str) -> dict[str, Any] | None:
    """The recorded encoding cost of ``job``'s (recipe, subject), or None (no subject, or none recorded)."""
    path = encoding_path(job, out)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def record_encoding(system: Any, job: Job, out: str) -> None:
    """Encode ``job``'s subject (filling the system's feature cache) and record its cost if none is recorded.

    The cost is what producing the features takes (the encoder's own counts, ``features.info``),
    also when they came from a feature cache on disk; ``seconds`` is this call's wall time.
    """
    from ezigen.io import write_json_atomic
    from ezigen.sampling.trace import Trace

    started = time.perf_counter()
    subject = system.subject_input(job.reference, job.subject.subject_prompt)
    features = system.encode_subject(subject, Trace())
    seconds = round(time.perf_counter() - started, 4)
    if read_encoding(job, out) is not None:
        return
    os.makedirs(os.path.dirname(encoding_path(job, out)), exist_ok=True)
    write_json_atomic(encoding_path(job, out), {
        "subject_encodings": 1, "unet_evals": int(features.info.get("unet_evals", 0)),
        "vae_encodes": int(features.info.get("vae_encodes", 0)), "seconds": seconds,
        "subject": job.subject.name, "reference": job.inputs(True)["reference"]})


def amortised_cost(totals: dict[str, Any], encoding: dict[str, Any] | None, images: int) -> dict[str, Any]:
    """An image's cost with its subject's encoding spread over the ``images`` images of (recipe, subject):

    cost = totals - k * encoding + encoding / images, per key of ENCODING_KEYS, where k is the
    number of encodings this image's own trace paid for (0 for images made by this harness).
    """
    if encoding is None:
        return dict(totals)
    out = dict(totals)
    paid = totals.get("subject_encodings") or 0
    for key in ENCODING_KEYS:
        if out.get(key) is not None:
            out[key] = out[key] - paid * encoding[key] + encoding[key] / images
    return out


def read_trace(job: Job, out: str) -> dict[str, Any] | None:
    path = os.path.join(job.folder(out), "trace.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def is_done(job: Job, run: RecipeRun, out: str, recipe_text: str) -> bool:
    """Whether ``job``'s image exists; raise if it exists but was made differently (see module docstring)."""
    image = job.image_path(out)
    if not os.path.isfile(image):
        return False
    folder = job.folder(out)
    trace = read_trace(job, out)
    recipe_path = os.path.join(folder, "recipe.yaml")
    if trace is None or not os.path.isfile(recipe_path):
        return False  # an image without its trace is not a result of ours: make it again
    hint = "use another --out, or delete that folder to regenerate it"
    with open(recipe_path, encoding="utf-8") as fh:
        if fh.read() != recipe_text:
            raise OutputError(f"{image} was generated with a different recipe {run.recipe.name!r} (other settings, "
                              f"--set or --tiny) than this run; {hint}")
    recorded = trace.get("eval", {}).get("inputs")
    wanted = job.inputs(run.uses_subject)
    if recorded != wanted:
        raise OutputError(f"{image} was generated from other inputs ({recorded}) than this run asks for ({wanted}); "
                          f"{hint}")
    return True


def pending_jobs(jobs: Sequence[Job], runs: dict[str, RecipeRun], out: str) -> list[Job]:
    """The jobs without a (matching) image; checks every existing one first."""
    texts = {name: run.recipe_text() for name, run in runs.items()}
    return [job for job in jobs if not is_done(job, runs[job.recipe], out, texts[job.recipe])]


def job_record(job: Job, run: RecipeRun) -> dict[str, Any]:
    """The ``eval`` entry written into the job's trace.json."""
    return {
        "job": job.key,
        "bench": "dreambench",
        "subject": job.subject.name,
        "class": job.subject.class_name,
        "live": job.subject.live,
        "prompt_index": job.prompt.index,
        "prompt_kind": job.prompt.kind.value,
        "clip_prompt": job.clip_prompt,
        "inputs": job.inputs(run.uses_subject),
    }


def generate(jobs: Sequence[Job], runs: dict[str, RecipeRun], out: str, device: Any,
             log: Callable[[str], None] = lambda _: None, batch_size: int = 1) -> RunStats:
    """Generate every job of ``jobs`` that is not done (one System per recipe, built only when needed).

    ``batch_size`` > 1: the missing seeds of one (recipe, subject, prompt) go through one denoising
    batch where the recipe allows it (``ezigen.evaluation.batching``)."""
    from ezigen.evaluation.batching import batchable, batches, split
    from ezigen.outputs import write_generation

    todo = pending_jobs(jobs, runs, out)
    stats = RunStats(generated=0, reused=len(jobs) - len(todo))
    for name, run in runs.items():
        mine = [job for job in todo if job.recipe == name]
        if not mine:
            continue
        from ezigen.build import build_system

        size = batch_size if batchable(run.recipe) else 1
        if size < batch_size:
            log(f"{run.recipe.name}: one image per call (its stop rule {run.recipe.refinement.stop.type!r} "
                "would couple the images of a batch)")
        from ezigen.provenance import system_provenance

        system = build_system(run.recipe)
        system.to(device)
        made_with = system_provenance(system, device)  # once per recipe
        encoded = None
        for chunk in batches(mine, size):
            job = chunk[0]
            if run.uses_subject and job.subject.name != encoded:
                record_encoding(system, job, out)
                encoded = job.subject.name
            started = time.perf_counter()
            result = system.generate(
                prompt=job.generation_prompt,
                subject=job.reference if run.uses_subject else None,
                subject_prompt=job.subject.subject_prompt if run.uses_subject else None,
                seed=[j.seed for j in chunk] if len(chunk) > 1 else job.seed,
                num_images=len(chunk),
            )
            for row, one in zip(split(result), chunk):
                write_generation(one.folder(out), row, run.recipe, extra={"eval": job_record(one, run)},
                                 provenance=made_with)
            stats.generated += len(chunk)
            keys = job.key if len(chunk) == 1 else f"{job.key} +{len(chunk) - 1} seeds"
            log(f"generated {keys} ({time.perf_counter() - started:.1f} s; {stats.generated}/{len(todo)})")
        del system
    return stats

"""One evaluation, end to end: check inputs, generate (sharded), score, aggregate, write.

Order of work, so that bad input costs nothing:

1. load every recipe (``--set``, ``--tiny``), read the DreamBench folder, plan the jobs, resolve
   the metric configs, prove OUT writable, and check every image already in OUT against this
   run's recipes and inputs (each process does all of this, so all fail alike);
2. the main process removes the ``.tmp-*`` files a killed run left in OUT (before any process
   writes; a barrier follows) and builds the metrics (a bad model id fails before any generation);
3. each process generates its slice of the plan (``plan.shard``) that is not done yet;
4. after a barrier, the main process alone scores every image and the real images and writes
   ``results.csv``, ``results.json``, ``results.md``, ``fidelity_vs_text.png`` and ``report.html``
   as one set (``results_set.py``: staged, renamed together, ``results.complete`` written last).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ezigen.errors import EzigenError
from ezigen.evaluation.aggregate import Results, aggregate, image_rows, real_rows
from ezigen.evaluation.comparability import describe, differences
from ezigen.evaluation.dreambench import LIVE_CLASSES, DreamBench, read_dreambench
from ezigen.evaluation.metric_set import DEFAULT_METRICS, describe_columns, metric_columns
from ezigen.evaluation.plan import (
    REAL_IMAGES,
    Selection,
    plan_jobs,
    recipe_folder,
    selected_prompts,
    selected_subjects,
    shard,
)
from ezigen.evaluation.runner import (
    RecipeRun,
    RunStats,
    amortised_cost,
    generate,
    pending_jobs,
    read_encoding,
    read_trace,
)
from ezigen.evaluation.tables import plural
from ezigen.io import remove_stray_temp_files

OUTPUT_FILES = ("results.csv", "results.json", "results.md", "fidelity_vs_text.png", "report.html")


@attrs.frozen
class EvalRequest:
    recipes: tuple[str, ...]
    data: str
    out: str
    selection: Selection = Selection()
    overrides: tuple[str, ...] = ()
    tiny: bool = False
    metrics: tuple[str, ...] = DEFAULT_METRICS
    metric_settings: tuple[str, ...] = ()
    device: str = "auto"
    bench: str = "dreambench"
    batch_size: int = 1


@attrs.frozen
class EvalOutcome:
    results: Results
    header: dict[str, Any]
    paths: dict[str, str]
    stats: RunStats


def load_runs(names: Sequence[str], overrides: Sequence[str], tiny: bool) -> dict[str, RecipeRun]:
    """{folder name: RecipeRun} in command-line order; two recipes may not share a folder."""
    from ezigen.recipe.loader import load_recipe

    if not names:
        raise EzigenError("give at least one RECIPE to evaluate (see `ezigen recipes list`)")
    runs: dict[str, RecipeRun] = {}
    for name in names:
        recipe = load_recipe(name, list(overrides), tiny=tiny)
        folder = recipe_folder(recipe.name)
        if folder == REAL_IMAGES:
            raise EzigenError(f"recipe {name!r}: the name {REAL_IMAGES!r} is reserved for the real-vs-real row")
        if folder in runs:
            raise EzigenError(f"recipes {runs[folder].recipe.name!r} and {name!r} would share the folder "
                              f"images/{folder}; give each recipe its own name")
        runs[folder] = RecipeRun(folder, recipe)
    return runs


def protocol_record(request: EvalRequest, bench: DreamBench, subjects: Sequence[Any],
                    conditioning: dict[str, str]) -> dict[str, Any]:
    selection = request.selection
    available = max(len(bench.prompts_for(s)) for s in subjects)
    per_subject = min(selection.prompts_per_subject or available, available)
    if selection.limit is not None:
        per_subject = min(per_subject, selection.limit)
    return {
        "bench": request.bench,
        "data": bench.root,
        "subjects": [s.name for s in subjects],
        "live_classes": sorted(LIVE_CLASSES),
        "prompts_per_subject": per_subject,
        "seeds": list(selection.seeds),
        "images_per_prompt": len(selection.seeds),
        "limit": selection.limit,
        "prompt_indices": {s.name: [p.index for p in selected_prompts(bench, s, selection)] for s in subjects},
        "reference_index": selection.reference_index,
        "conditioning_images": {name: os.path.relpath(path, bench.root).replace(os.sep, "/")
                                for name, path in conditioning.items()},
        "unique_token": selection.unique_token,
        "subject_prompt": "a {class}",
        "clip_t_prompt": "the DreamBench prompt without the unique token",
        "tiny": request.tiny,
        "overrides": list(request.overrides),
    }


def evaluate(request: EvalRequest, log: Callable[[str], None] = lambda _: None) -> EvalOutcome | None:
    """Run the evaluation; returns the outcome on the main process, None on the others."""
    from ezigen.output_dir import prepare_output_dir
    from ezigen.evaluation.distributed import Workers

    if request.bench != "dreambench":
        raise EzigenError(f"--bench {request.bench!r}: only 'dreambench' is supported")
    runs = load_runs(request.recipes, request.overrides, request.tiny)
    confounds = differences([run.recipe for run in runs.values()])
    bench = read_dreambench(request.data)
    jobs = plan_jobs(bench, list(runs), request.selection)
    columns = metric_columns(request.metrics, request.metric_settings, tiny=request.tiny)
    out = prepare_output_dir(request.out)
    todo = {job.key for job in pending_jobs(jobs, runs, out)}
    workers = Workers.join(request.device)
    if workers.world > 1:
        log = _prefixed(log, f"[process {workers.rank + 1}/{workers.world}] ")
    try:
        if workers.is_main:
            for confound in confounds:
                log("warning: " + describe(confound))
        if workers.is_main:  # before any process writes: a killed run's half-written files
            stray = remove_stray_temp_files(out)
            if stray:
                log(f"removed {plural(len(stray), 'temporary file')} left by an interrupted run")
        workers.barrier()
        metrics = {}
        if workers.is_main:
            metrics = {c.column: c.build() for c in columns}
            for metric in metrics.values():
                if hasattr(metric, "to"):
                    metric.to(workers.device)
        mine = [job for job in shard(jobs, workers.rank, workers.world) if job.key in todo]
        log(f"{len(jobs)} images planned, {len(todo)} to generate"
            + (f"; this process takes {len(mine)}" if workers.world > 1 else ""))
        generated = generate(mine, runs, out, workers.device, log, request.batch_size).generated
        total = sum(workers.gather(generated))
        workers.barrier()
        if not workers.is_main:
            return None
        stats = RunStats(generated=total, reused=len(jobs) - total)
        return _merge(request, bench, runs, jobs, columns, metrics, out, stats, workers.world, log)
    finally:
        workers.close()


def amortised_traces(jobs: Sequence[Any], out: str) -> dict[str, dict[str, Any]]:
    """{job key: trace} with each trace's totals replaced by its amortised cost (``runner.amortised_cost``):
    a subject's recorded encoding spread equally over its (recipe, subject) images in this plan."""
    counts = collections.Counter((job.recipe, job.subject.name) for job in jobs)
    traces = {}
    for job in jobs:
        trace = read_trace(job, out) or {}
        if "totals" in trace:
            encoding = read_encoding(job, out)
            trace["totals"] = amortised_cost(trace["totals"], encoding, counts[(job.recipe, job.subject.name)])
        traces[job.key] = trace
    return traces


def _models(runs: dict[str, RecipeRun], columns: Sequence[Any]) -> dict[str, Any]:
    """Every model of the run for its provenance: ``RECIPE:ROLE`` for the recipes', ``metric:COLUMN`` for the metrics'."""
    from ezigen.provenance import recipe_models

    models = {f"{run.recipe.name}:{role}": ref for run in runs.values() for role, ref in recipe_models(run.recipe).items()}
    for column in columns:
        if getattr(column.config, "pretrained", None) is not None:
            models[f"metric:{column.column}"] = (column.config.pretrained, getattr(column.config, "revision", None))
    return models


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: log(prefix + line)


def _merge(request: EvalRequest, bench: DreamBench, runs: dict[str, RecipeRun], jobs: Sequence[Any],
           columns: Sequence[Any], metrics: dict[str, Any], out: str, stats: RunStats, world: int,
           log: Callable[[str], None]) -> EvalOutcome:
    from ezigen._version import __version__
    from ezigen.evaluation.plot import write_plot
    from ezigen.evaluation.report_html import write_report
    from ezigen.evaluation.results_set import ResultsSet
    from ezigen.evaluation.scoring import score_generated, score_real
    from ezigen.evaluation.stats import method_record
    from ezigen.provenance import provenance
    from ezigen.evaluation.tables import write_csv, write_json, write_markdown

    subjects = selected_subjects(bench, request.selection)
    conditioning = {s.name: s.images[request.selection.reference_index] for s in subjects}
    traces = amortised_traces(jobs, out)
    names = [c.column for c in columns]
    scores = score_generated(jobs, out, columns, metrics, log)
    real = score_real(subjects, conditioning, columns, metrics)
    labels = {folder: run.recipe.name for folder, run in runs.items()}
    results = aggregate(image_rows(jobs, traces, scores, names, bench.root, labels),
                        real_rows(real, names, bench.root), names)
    header = {
        "ezigen_version": __version__,
        "bench": request.bench,
        "protocol": protocol_record(request, bench, subjects, conditioning),
        "metrics": describe_columns(columns, metrics),
        "recipes": [{"name": run.recipe.name, "folder": f"images/{folder}", "source": run.recipe.source,
                     "recipe": run.recipe.to_data()} for folder, run in runs.items()],
        "run": {"jobs": len(jobs), "generated": stats.generated, "reused": stats.reused, "processes": world},
        "comparability": differences([run.recipe for run in runs.values()]),
        "statistics": method_record(),
        "provenance": provenance(_models(runs, columns)),
    }
    staged = ResultsSet(out, OUTPUT_FILES)  # written aside, published together with a marker (results_set.py)
    paths = staged.paths
    write_csv(paths["results.csv"], results)
    write_json(paths["results.json"], results, header)
    write_markdown(paths["results.md"], results, header)
    if not write_plot(paths["fidelity_vs_text.png"], results.per_recipe):
        log("fidelity_vs_text.png not written: it needs the dino and clip-t metrics")
        if os.path.isfile(paths["fidelity_vs_text.png"]):  # an earlier run's plot would not match these results
            os.remove(paths["fidelity_vs_text.png"])
        del paths["fidelity_vs_text.png"]
    plot = "fidelity_vs_text.png" if "fidelity_vs_text.png" in paths else None
    write_report(paths["report.html"], out, results, header, subjects, list(labels.values()), bench.root, plot)
    return EvalOutcome(results, header, staged.publish(), stats)

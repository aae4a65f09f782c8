"""Training curves of ``ezigen toy table --curve METHOD=RUN``: fidelity against training steps.

For each checkpoint ``RUN/checkpoints/step-NNNNNN/adapter.safetensors`` of an ``ezigen train``
run (train with ``training.keep_checkpoints`` high enough to keep them all) and the run's final
``RUN/adapter.safetensors``, METHOD's recipe generates the first ``curve_samples`` held-out
samples with ``fusion.weights`` set to that file; the point is the fidelity gain paired against
text-only on the same samples (mean +- SE). The checkpoints of one run share its learning-rate
schedule, so a point at step k is "k steps into a cosine schedule of max_steps", not "a run of k
steps": a learning curve, the usual reading of training efficiency.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ezigen.toy.metrics import mean_and_se, score_scene
from ezigen.toy.methods import METHODS

STEP_FOLDER = re.compile(r"^step-(\d+)$")


def run_weights(run: str) -> list[tuple[int, str]]:
    """(step, adapter file) of every checkpoint of ``run`` and its final weights, by step."""
    import yaml

    found: dict[int, str] = {}
    folder = os.path.join(run, "checkpoints")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
        match = STEP_FOLDER.match(name)
        path = os.path.join(folder, name, "adapter.safetensors")
        if match and os.path.isfile(path):
            found[int(match.group(1))] = path
    final = os.path.join(run, "adapter.safetensors")
    recipe = os.path.join(run, "recipe.yaml")
    if os.path.isfile(final) and os.path.isfile(recipe):
        with open(recipe, encoding="utf-8") as handle:
            steps = int(((yaml.safe_load(handle) or {}).get("training") or {}).get("max_steps", 0))
        found.setdefault(steps, final)
    if not found:
        raise ValueError(f"--curve: no checkpoints (checkpoints/step-NNNNNN/adapter.safetensors) and no final "
                         f"adapter.safetensors in the training run {run!r}")
    return sorted(found.items())


def build_curves(curves: dict[str, str], pairs: list[Any], folder: str, seed: int,
                 overrides: list[str] | tuple[str, ...] = (), log=print) -> list[dict[str, Any]]:
    """One point per (method, checkpoint): {"method", "run", "steps", "fidelity", "fidelity_gain", ...}."""
    import attrs

    from ezigen.toy.table import generate_method

    base_images, _ = generate_method(METHODS["text-only"], pairs, os.path.join(folder, "..", "images", "text-only"),
                                     seed, overrides, log)
    base = [score_scene(image, scene, control.colours) for image, (scene, control) in zip(base_images, pairs)]
    points = []
    for name, run in curves.items():
        method = METHODS[name]
        for steps, weights in run_weights(run):
            variant = attrs.evolve(method, overrides=(*method.overrides, f"fusion.weights={os.path.abspath(weights)}"))
            images, _ = generate_method(variant, pairs, os.path.join(folder, name, f"step-{steps:06d}"), seed,
                                        overrides, log)
            scores = [score_scene(image, scene, control.colours) for image, (scene, control) in zip(images, pairs)]
            fidelity = mean_and_se([s.fidelity for s in scores])
            gain = mean_and_se([s.fidelity - b.fidelity for s, b in zip(scores, base)])
            points.append({"method": name, "run": run, "steps": steps,
                           "fidelity": round(fidelity[0], 4), "fidelity_se": round(fidelity[1], 4),
                           "fidelity_gain": round(gain[0], 4), "fidelity_gain_se": round(gain[1], 4),
                           "n": len(scores)})
    return points


def render_curves_markdown(points: list[dict[str, Any]]) -> str:
    lines = ["Training curves (fidelity gain over text-only against training steps, paired, mean ± SE):", "",
             "| method | training steps | fidelity | fidelity gain | n |", "|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p['method']} | {p['steps']} | {p['fidelity']:.3f} ± {p['fidelity_se']:.3f} | "
                     f"{p['fidelity_gain']:+.3f} ± {p['fidelity_gain_se']:.3f} | {p['n']} |")
    return "\n".join(lines) + "\n"

"""``ezigen toy table``: the paper's claims in miniature, measured on held-out subjects.

Methods (:mod:`ezigen.toy.methods`; ``--methods`` picks some): the base alone per sampler, EZIGen
and the ablations of its own claims (decoupling, refinement, stop rule, fast samplers), and the
baselines (training-free reference attention). Same held-out subjects, scenes and seeds for all;
gains are paired differences against ``text-only`` (DDPM 50), mean +- standard error over samples.
Images are kept under ``DIR/images/<method>/`` (:mod:`ezigen.toy.image_store`): a rerun, or a run
after a kill, reuses the images whose recipe and weights are unchanged and only scores them again.

Per row: fidelity, control fidelity, fidelity gain, specific gain (the gain minus the control's),
alignment (background, position) and its change, the checker artefact
(:func:`ezigen.toy.metrics.checker_artefact`), UNet evaluations and seconds per image.

Also: the claims list (:mod:`ezigen.toy.claims`), ``scatter.png`` (fidelity against alignment with
95 % bars), training curves over a run's checkpoints (``--curve METHOD=RUN``,
:mod:`ezigen.toy.curves`, ``efficiency.png``), and the editing block (``edit_samples`` > 0;
:mod:`ezigen.toy.editing`, docs/editing.md).

Writes ``table.json`` ({"rows": [...], "claims": [...], "curves": [...], "editing": {...}}),
``table.md``, ``grid.png`` and the plots; table.json last, so its presence means the table is complete.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from ezigen.toy.metrics import checker_artefact, mean_and_se, score_scene
from ezigen.toy.methods import ToyMethod, select_methods
from ezigen.toy.world import Scene, random_scene, render_crop, render_scene, split_subjects


EDIT_SAMPLES = 30  # the editing block's default sample count (fewer than the table's: 3 variants, 3-6 s each)


def heldout_scenes(samples: int, seed: int, world_seed: int = 0, train: int = 400,
                   heldout: int = 60) -> list[tuple[Scene, Any]]:
    """(scene, control subject) pairs over the held-out subjects; the control is the next held-out
    subject (cyclically) that shares no colour with the scene's subject."""
    _, subjects = split_subjects(world_seed, train, heldout)
    rng = random.Random(f"table:{seed}")
    pairs = []
    for i in range(samples):
        j = i % len(subjects)
        subject = subjects[j]
        control = next(s for s in subjects[j + 1:] + subjects[:j] if set(s.colours).isdisjoint(subject.colours))
        pairs.append((random_scene(subject, rng), control))
    return pairs


def generate_method(method: ToyMethod, pairs: list[tuple[Scene, Any]], folder: str, seed: int,
                    overrides: list[str] | tuple[str, ...] = (), log=print) -> tuple[list[Any], list[dict[str, Any]]]:
    """The images of ``method`` on ``pairs`` (reusing those in ``folder`` made by the same recipe and
    weights) and one record per image: {"seconds", "unet_evals"}."""
    import ezigen
    from ezigen.toy.image_store import ImageStore, recipe_key

    applicable = [o for o in overrides
                  if method.uses_subject or not o.startswith(("fusion.", "subject_encoder.", "refinement"))]
    recipe = ezigen.load_recipe(method.recipe, [*method.overrides, *applicable])
    store = ImageStore(folder, recipe_key(recipe))
    found = [store.load(i) for i in range(len(pairs))]
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:
        system = ezigen.build_system(recipe)
        for i in missing:
            scene = pairs[i][0]
            subject = render_crop(scene.subject) if system.needs_subject else None
            started = time.perf_counter()
            result = system.generate(scene.caption, subject=subject, subject_prompt=scene.subject.class_prompt,
                                     seed=seed * 100_000 + i)
            record = {"seconds": round(time.perf_counter() - started, 4),
                      "unet_evals": int(result.trace.totals["unet_evals"])}
            store.save(i, result.image, record)
            found[i] = (result.image, record)
    log(f"{method.name}: {len(pairs) - len(missing)} images reused, {len(missing)} generated")
    return [f[0] for f in found], [f[1] for f in found]


def build_table(out: str, samples: int = 60, seed: int = 0, overrides: list[str] | tuple[str, ...] = (),
                log=print, world_seed: int = 0, edit_samples: int | None = None, generation: bool = True,
                methods: list[str] | tuple[str, ...] | None = None, curves: dict[str, str] | None = None,
                curve_samples: int = 30) -> dict[str, Any]:
    """``edit_samples``: samples of the editing block (None = ``min(samples, EDIT_SAMPLES)``, 0 = none); ``generation``
    false skips the generation methods (the editing block alone); ``methods``: names of
    :data:`ezigen.toy.methods.METHODS` (None = all); ``curves``: {method: training run} for training curves."""
    os.makedirs(out, exist_ok=True)
    chosen = select_methods(methods) if generation else []
    pairs = heldout_scenes(samples, seed, world_seed)
    scores: dict[str, list[Any]] = {}
    images: dict[str, list[Any]] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    for method in chosen:
        images[method.name], records[method.name] = generate_method(
            method, pairs, os.path.join(out, "images", method.name), seed, overrides, log)
        scores[method.name] = [score_scene(image, scene, control.colours)
                               for image, (scene, control) in zip(images[method.name], pairs)]
    rows = _rows(scores, images, records, chosen) if generation else []
    table: dict[str, Any] = {"rows": rows, "samples": samples, "seed": seed, "world_seed": world_seed,
                             "overrides": list(overrides), "truth": _truth_row(pairs)}
    markdown = ""
    if generation:
        from ezigen.toy.claims import evaluate_claims
        from ezigen.toy.plots import write_scatter

        table["claims"] = evaluate_claims(scores)
        write_scatter(os.path.join(out, "scatter.png"), rows, table["truth"])
    if curves:
        from ezigen.toy.curves import build_curves
        from ezigen.toy.plots import write_efficiency

        table["curves"] = build_curves(curves, pairs[:curve_samples], os.path.join(out, "curves"), seed,
                                       overrides, log)
        write_efficiency(os.path.join(out, "efficiency.png"), table["curves"])
    if generation:
        markdown = render_markdown(table)
    edit_samples = min(samples, EDIT_SAMPLES) if edit_samples is None else edit_samples
    if edit_samples:
        from ezigen.toy.editing import build_edit_block, render_edit_markdown

        block = build_edit_block(pairs[:edit_samples], seed, overrides, log, os.path.join(out, "images", "editing"))
        images["editing/subject"] = [render_crop(inserted) for _, inserted in pairs[:edit_samples]]  # put in
        images.update({f"editing/{v}": found for v, found in block.pop("images").items()})
        table["editing"] = block
        markdown += ("\n" if markdown else "") + render_edit_markdown(block)
    from ezigen.images import save_image_atomic
    from ezigen.io import write_json_atomic, write_text_atomic

    count = min(samples, 12, *(len(found) for found in images.values()))
    save_image_atomic(_grid(pairs, images, count), os.path.join(out, "grid.png"))
    write_text_atomic(os.path.join(out, "table.md"), markdown)
    write_json_atomic(os.path.join(out, "table.json"), table)  # last: its presence means the table is complete
    return table


def _rows(scores: dict[str, list[Any]], images: dict[str, list[Any]], records: dict[str, list[dict[str, Any]]],
          methods: list[ToyMethod]) -> list[dict[str, Any]]:
    base = scores["text-only"]
    rows = []
    for method in methods:
        values = scores[method.name]
        fidelity = mean_and_se([s.fidelity for s in values])
        control = mean_and_se([s.control_fidelity for s in values])
        alignment = mean_and_se([s.alignment for s in values])
        gain = mean_and_se([s.fidelity - b.fidelity for s, b in zip(values, base)])
        specific = mean_and_se([s.fidelity - s.control_fidelity - (b.fidelity - b.control_fidelity)
                                for s, b in zip(values, base)])
        alignment_change = mean_and_se([s.alignment - b.alignment for s, b in zip(values, base)])
        checker = mean_and_se([checker_artefact(image) for image in images[method.name]])
        cost = records[method.name]
        rows.append({
            "variant": method.name, "group": method.group, "description": method.description,
            "fidelity": round(fidelity[0], 4), "fidelity_se": round(fidelity[1], 4),
            "control_fidelity": round(control[0], 4), "control_fidelity_se": round(control[1], 4),
            "fidelity_gain": round(gain[0], 4), "fidelity_gain_se": round(gain[1], 4),
            "specific_gain": round(specific[0], 4), "specific_gain_se": round(specific[1], 4),
            "alignment": round(alignment[0], 4), "alignment_se": round(alignment[1], 4),
            "alignment_change": round(alignment_change[0], 4), "alignment_change_se": round(alignment_change[1], 4),
            "background_accuracy": round(sum(s.background_correct for s in values) / len(values), 4),
            "position_accuracy": round(sum(s.position_correct for s in values) / len(values), 4),
            "checker": round(checker[0], 3), "checker_se": round(checker[1], 3),
            "unet_evals": round(sum(r["unet_evals"] for r in cost) / len(cost), 2),
            "seconds_per_image": round(sum(r["seconds"] for r in cost) / len(cost), 3),
            "n": len(values),
        })
    return rows


def _truth_row(pairs: list[tuple[Scene, Any]]) -> dict[str, float]:
    truth = [score_scene(render_scene(scene), scene, control.colours) for scene, control in pairs]
    return {"fidelity": round(mean_and_se([s.fidelity for s in truth])[0], 4),
            "control_fidelity": round(mean_and_se([s.control_fidelity for s in truth])[0], 4),
            "alignment": round(mean_and_se([s.alignment for s in truth])[0], 4)}


def render_markdown(table: dict[str, Any]) -> str:
    from ezigen.toy.claims import render_claims_markdown

    lines = [
        f"Held-out subjects, {table['samples']} paired samples (same scenes and seeds for every method); "
        "mean ± standard error. Gains are paired differences against text-only (DDPM, 50 steps); the specific "
        "gain subtracts the same image's score against a wrong subject's colours. Checker: the 2 × 2 sub-pixel "
        "artefact on the background (RGB units, 0 for a true render). UNet: evaluations per image (CFG counts 2).",
        "",
        "| method | fidelity | fidelity gain | specific gain | control fidelity | alignment | alignment change "
        "| background acc. | position acc. | checker | UNet | s / image |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table["rows"]:
        lines.append(
            f"| {r['variant']} | {r['fidelity']:.3f} ± {r['fidelity_se']:.3f} | {r['fidelity_gain']:+.3f} ± "
            f"{r['fidelity_gain_se']:.3f} | {r['specific_gain']:+.3f} ± {r['specific_gain_se']:.3f} | "
            f"{r['control_fidelity']:.3f} | {r['alignment']:.3f} ± {r['alignment_se']:.3f} | "
            f"{r['alignment_change']:+.3f} ± {r['alignment_change_se']:.3f} | {r['background_accuracy']:.2f} | "
            f"{r['position_accuracy']:.2f} | {r['checker']:.1f} | {r['unet_evals']:.0f} | {r['seconds_per_image']:.2f} |")
    truth = table["truth"]
    lines += ["", f"Ground-truth renders score fidelity {truth['fidelity']:.3f} (control {truth['control_fidelity']:.3f}), "
              f"alignment {truth['alignment']:.3f}."]
    if table.get("claims"):
        lines += ["", "Claims (paired differences on the same samples; established: ≥ 3 SE in the claimed direction, "
                  "or a 95 % interval inside the stated margin):", "", render_claims_markdown(table["claims"]).rstrip()]
    if table.get("curves"):
        from ezigen.toy.curves import render_curves_markdown

        lines += ["", render_curves_markdown(table["curves"]).rstrip()]
    return "\n".join(lines) + "\n"


def _grid(pairs: list[tuple[Scene, Any]], images: dict[str, list[Any]], count: int) -> Any:
    from PIL import Image

    columns = 2 + len(images)
    tile = 32
    grid = Image.new("RGB", (columns * tile, count * tile), "white")
    for row, (scene, _control) in enumerate(pairs[:count]):
        tiles = [render_scene(scene), render_crop(scene.subject)] + [images[v][row] for v in images]
        for col, image in enumerate(tiles):
            grid.paste(image.convert("RGB").resize((tile, tile)), (col * tile, row * tile))
    return grid.resize((columns * tile * 4, count * tile * 4), Image.Resampling.NEAREST)

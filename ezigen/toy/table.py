"""``ezigen toy table``: the paper's claims in miniature, measured on held-out subjects.

Variants (same held-out subjects, scenes and seeds for all; paired differences against
text-only, mean +- standard error over samples):

- ``text-only``: the base model alone (toy/text-only);
- ``ezigen-single-pass``: decoupled guidance, no refinement;
- ``ezigen-refined``: decoupled guidance + refinement (toy/ezigen as shipped);
- ``no-decoupling``: the subject on at every step, single pass.

Editing block (``edit_samples`` > 0; :mod:`ezigen.toy.editing`, docs/editing.md): the edit,
the text-only edit and plain generation on the first ``edit_samples`` of the same pairs (the
subject put in is the pair's control subject).

Writes ``table.json`` ({"rows": [{"variant", "fidelity", "alignment", ...}], "editing": {"rows":
[...]}}), ``table.md`` and ``grid.png`` (per sample: truth, subject crop, then each variant;
with the editing block, the crop of the subject put in, then the editing variants).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from ezigen.toy.metrics import mean_and_se, score_scene
from ezigen.toy.world import Scene, random_scene, render_crop, render_scene, split_subjects

VARIANTS = {
    "text-only": ("toy/text-only", []),
    "ezigen-single-pass": ("toy/ezigen", ["refinement=null"]),
    "ezigen-refined": ("toy/ezigen", []),
    "no-decoupling": ("toy/ezigen", ["guidance.type=constant", "guidance.text_scale=5.0", "refinement=null"]),
}


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


def build_table(out: str, samples: int = 60, seed: int = 0, overrides: list[str] | tuple[str, ...] = (),
                log=print, world_seed: int = 0, edit_samples: int | None = None, generation: bool = True) -> dict[str, Any]:
    """``edit_samples``: samples of the editing block (None = ``samples``, 0 = none); ``generation``
    false skips the generation variants (the editing block alone)."""
    import ezigen

    os.makedirs(out, exist_ok=True)
    pairs = heldout_scenes(samples, seed, world_seed)
    scores: dict[str, list[Any]] = {}
    images: dict[str, list[Any]] = {}
    timing: dict[str, float] = {}
    for variant, (recipe, extra) in (VARIANTS.items() if generation else ()):
        applicable = [o for o in overrides
                      if variant != "text-only" or not o.startswith(("fusion.", "subject_encoder.", "refinement"))]
        system = ezigen.build_system(ezigen.load_recipe(recipe, [*extra, *applicable]))
        started = time.perf_counter()
        scores[variant], images[variant] = [], []
        for i, (scene, control) in enumerate(pairs):
            subject = render_crop(scene.subject) if system.needs_subject else None
            result = system.generate(scene.caption, subject=subject, subject_prompt=scene.subject.class_prompt,
                                     seed=seed * 100_000 + i)
            scores[variant].append(score_scene(result.image, scene, control.colours))
            images[variant].append(result.image)
        timing[variant] = (time.perf_counter() - started) / len(pairs)
        log(f"{variant}: {timing[variant]:.2f} s per image")
    rows = _rows(scores, timing) if generation else []
    table = {"rows": rows, "samples": samples, "seed": seed, "world_seed": world_seed, "overrides": list(overrides),
             "truth": _truth_row(pairs)}
    edit_samples = samples if edit_samples is None else edit_samples
    markdown = render_markdown(table) if generation else ""
    if edit_samples:
        from ezigen.toy.editing import build_edit_block, render_edit_markdown

        block = build_edit_block(pairs[:edit_samples], seed, overrides, log)
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


def _rows(scores: dict[str, list[Any]], timing: dict[str, float]) -> list[dict[str, Any]]:
    base = scores["text-only"]
    rows = []
    for variant, values in scores.items():
        fidelity = mean_and_se([s.fidelity for s in values])
        control = mean_and_se([s.control_fidelity for s in values])
        alignment = mean_and_se([s.alignment for s in values])
        gain = mean_and_se([s.fidelity - b.fidelity for s, b in zip(values, base)])
        specific = mean_and_se([s.fidelity - s.control_fidelity - (b.fidelity - b.control_fidelity)
                                for s, b in zip(values, base)])
        alignment_change = mean_and_se([s.alignment - b.alignment for s, b in zip(values, base)])
        rows.append({
            "variant": variant,
            "fidelity": round(fidelity[0], 4), "fidelity_se": round(fidelity[1], 4),
            "control_fidelity": round(control[0], 4), "control_fidelity_se": round(control[1], 4),
            "fidelity_gain": round(gain[0], 4), "fidelity_gain_se": round(gain[1], 4),
            "specific_gain": round(specific[0], 4), "specific_gain_se": round(specific[1], 4),
            "alignment": round(alignment[0], 4), "alignment_se": round(alignment[1], 4),
            "alignment_change": round(alignment_change[0], 4), "alignment_change_se": round(alignment_change[1], 4),
            "background_accuracy": round(sum(s.background_correct for s in values) / len(values), 4),
            "position_accuracy": round(sum(s.position_correct for s in values) / len(values), 4),
            "seconds_per_image": round(timing[variant], 3),
            "n": len(values),
        })
    return rows


def _truth_row(pairs: list[tuple[Scene, Any]]) -> dict[str, float]:
    truth = [score_scene(render_scene(scene), scene, control.colours) for scene, control in pairs]
    return {"fidelity": round(mean_and_se([s.fidelity for s in truth])[0], 4),
            "control_fidelity": round(mean_and_se([s.control_fidelity for s in truth])[0], 4),
            "alignment": round(mean_and_se([s.alignment for s in truth])[0], 4)}


def render_markdown(table: dict[str, Any]) -> str:
    lines = [
        f"Held-out subjects, {table['samples']} paired samples (same scenes and seeds for every variant); "
        "mean ± standard error. Gains are paired differences against text-only; the specific gain subtracts "
        "the same image's score against a wrong subject's colours.",
        "",
        "| variant | fidelity | fidelity gain | specific gain | control fidelity | alignment | alignment change "
        "| background acc. | position acc. | s / image |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table["rows"]:
        lines.append(
            f"| {r['variant']} | {r['fidelity']:.3f} ± {r['fidelity_se']:.3f} | {r['fidelity_gain']:+.3f} ± "
            f"{r['fidelity_gain_se']:.3f} | {r['specific_gain']:+.3f} ± {r['specific_gain_se']:.3f} | "
            f"{r['control_fidelity']:.3f} | {r['alignment']:.3f} ± {r['alignment_se']:.3f} | "
            f"{r['alignment_change']:+.3f} ± {r['alignment_change_se']:.3f} | {r['background_accuracy']:.2f} | "
            f"{r['position_accuracy']:.2f} | {r['seconds_per_image']:.2f} |")
    truth = table["truth"]
    lines += ["", f"Ground-truth renders score fidelity {truth['fidelity']:.3f} (control {truth['control_fidelity']:.3f}), "
              f"alignment {truth['alignment']:.3f}."]
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

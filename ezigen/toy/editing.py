"""The toy world's editing block (``ezigen toy table``, docs/editing.md): EZIGen's edit on held-out subjects.

Each sample: a true scene with one held-out subject (the source), that subject's mask, and
another held-out subject (sharing no colour with it) to put in, with the scene's caption as the
prompt. Variants, all with the same samples and seeds:

- ``edit``: ``toy/ezigen-edit`` (inversion, subject on, blending);
- ``text-only-edit``: the same recipe, inversion and blending, with the subject path off;
- ``generation``: plain ``toy/ezigen`` generation of the caption with the subject (no source).

Scores, per sample (mean ± SE over samples; differences paired against the text-only edit):

- fidelity: 1 - palette distance (:func:`ezigen.toy.metrics.palette_fidelity`) between the
  pixels inside the mask and the inserted subject's colours;
- background error: mean |edit - source| (0..255) over the pixels outside the mask dilated by
  ``BORDER`` pixels, and the fraction of those pixels that equal the source exactly (the toy
  autoencoder is exactly invertible, so exact pixels are possible);
- alignment: :func:`ezigen.toy.metrics.score_scene`'s (background and position correct) / 2,
  against the scene with the inserted subject.
"""

from __future__ import annotations

import os
from typing import Any

import attrs

from ezigen.toy.world import POSITIONS, SIZE, SUPERSAMPLE, Scene, shape_mask

BORDER = 2  # pixels: one latent cell of the toy's pixel-unshuffle by 2, which the bilinear latent mask touches
EDIT_VARIANTS = ("edit", "text-only-edit", "generation")


def render_mask(scene: Scene) -> Any:
    """The scene subject's mask (L, 255 = subject), rendered like the scene and thresholded at any coverage."""
    from PIL import Image

    big = SIZE * SUPERSAMPLE
    side = max(4, int(round(scene.size * big)))
    centre = POSITIONS[scene.position]
    canvas = Image.new("L", (big, big), 0)
    canvas.paste(255, (int(round(centre[0] * big - side / 2)), int(round(centre[1] * big - side / 2))),
                 shape_mask(scene.subject.shape, side))
    return canvas.resize((SIZE, SIZE), Image.Resampling.BOX).point(lambda v: 255 if v > 0 else 0)


def dilate(mask: Any, border: int = BORDER) -> Any:
    """``mask`` grown by ``border`` pixels (a square max filter)."""
    from PIL import ImageFilter

    return mask.filter(ImageFilter.MaxFilter(2 * border + 1)) if border > 0 else mask


@attrs.frozen
class EditScore:
    fidelity: float
    background_error: float
    background_exact: float
    alignment: float


def score_edit(image: Any, source: Any, mask: Any, scene: Scene, inserted: Any, control_colours: Any) -> EditScore:
    """The scores of one edited ``image`` (module docstring); ``scene`` is the source's scene."""
    import numpy as np

    from ezigen.toy.metrics import palette_fidelity, score_scene

    edited = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.float64)  # (32, 32, 3)
    original = np.asarray(source.convert("RGB"), dtype=np.float64)
    inside = np.asarray(mask) > 0  # (32, 32)
    outside = ~(np.asarray(dilate(mask)) > 0)
    difference = np.abs(edited - original)[outside]  # (N, 3)
    target = attrs.evolve(scene, subject=inserted)
    return EditScore(
        fidelity=palette_fidelity(edited[inside], inserted.colours),
        background_error=float(difference.mean()) if difference.size else 0.0,
        background_exact=float((difference.max(axis=-1) == 0).mean()) if difference.size else 1.0,
        alignment=score_scene(image, target, control_colours).alignment,
    )


def build_edit_block(pairs: list[tuple[Scene, Any]], seed: int = 0, overrides: list[str] | tuple[str, ...] = (),
                     log=print, folder: str | None = None) -> dict[str, Any]:
    """The editing rows over ``pairs`` ((scene, subject to insert)): ``{"rows": [...], "samples": n}``.

    With ``folder``, each variant's images are kept in ``folder/<variant>/`` and reused on a rerun
    with the same recipe and weights (:class:`ezigen.toy.image_store.ImageStore`); the systems are
    built only when some image is missing."""
    import tempfile
    import time

    import ezigen
    from ezigen.toy.image_store import ImageStore, recipe_key
    from ezigen.toy.world import render_crop, render_scene

    recipes = {"edit": ezigen.load_recipe("toy/ezigen-edit", list(overrides)),
               "generation": ezigen.load_recipe("toy/ezigen", [o for o in overrides if not o.startswith("editing.")])}
    systems: dict[str, Any] = {}
    scores: dict[str, list[EditScore]] = {v: [] for v in EDIT_VARIANTS}
    timing: dict[str, float] = {}
    images: dict[str, list[Any]] = {v: [] for v in EDIT_VARIANTS}
    scratch = None if folder else tempfile.TemporaryDirectory()
    for variant in EDIT_VARIANTS:
        recipe = recipes["generation" if variant == "generation" else "edit"]
        store = ImageStore(os.path.join(folder or scratch.name, variant), {**recipe_key(recipe), "variant": variant})
        seconds, made = [], 0
        for i, (scene, inserted) in enumerate(pairs):
            source, mask, crop = render_scene(scene), render_mask(scene), render_crop(inserted)
            found = store.load(i)
            if found is None:
                name = "generation" if variant == "generation" else "edit"
                if name not in systems:
                    systems[name] = ezigen.build_system(recipe)
                sample_seed = seed * 100_000 + i
                started = time.perf_counter()
                if variant == "generation":
                    result = systems[name].generate(scene.caption, subject=crop, subject_prompt=inserted.class_prompt,
                                                    seed=sample_seed)
                else:
                    subject = crop if variant == "edit" else None  # text-only: same inversion and blending, subject off
                    result = systems[name].edit(source, mask, scene.caption, subject=subject,
                                                subject_prompt=inserted.class_prompt, seed=sample_seed)
                found = (result.image, {"seconds": round(time.perf_counter() - started, 4),
                                        "unet_evals": int(result.trace.totals["unet_evals"])})
                store.save(i, *found)
                made += 1
            image, record = found
            scores[variant].append(score_edit(image, source, mask, scene, inserted, scene.subject.colours))
            images[variant].append(image)
            seconds.append(record["seconds"])
        timing[variant] = sum(seconds) / max(1, len(seconds))
        log(f"editing {variant}: {len(pairs) - made} images reused, {made} generated; {timing[variant]:.2f} s per image")
    if scratch is not None:
        scratch.cleanup()
    return {"rows": edit_rows(scores, timing), "samples": len(pairs), "images": images}


def edit_rows(scores: dict[str, list[EditScore]], timing: dict[str, float]) -> list[dict[str, Any]]:
    """One row per variant: mean ± SE of each score, and the fidelity gain paired against the text-only edit."""
    from ezigen.toy.metrics import mean_and_se

    base = scores["text-only-edit"]
    rows = []
    for variant, values in scores.items():
        row: dict[str, Any] = {"variant": variant}
        for name in ("fidelity", "background_error", "background_exact", "alignment"):
            mean, se = mean_and_se([getattr(s, name) for s in values])
            row[name], row[f"{name}_se"] = round(mean, 4), round(se, 4)
        gain, gain_se = mean_and_se([s.fidelity - b.fidelity for s, b in zip(values, base)])
        row["fidelity_gain"], row["fidelity_gain_se"] = round(gain, 4), round(gain_se, 4)
        row["seconds_per_image"] = round(timing.get(variant, 0.0), 3)
        row["n"] = len(values)
        rows.append(row)
    return rows


def render_edit_markdown(block: dict[str, Any]) -> str:
    """The editing block of table.md."""
    lines = [
        f"Editing, held-out subjects put into scenes of other held-out subjects, {block['samples']} paired samples; "
        "mean ± SE. Fidelity inside the mask (against the inserted subject's colours); the gain is paired "
        f"against the text-only edit. Background: outside the mask dilated by {BORDER} px, mean |edit - source| "
        "(0-255) and the fraction of exact pixels.",
        "",
        "| variant | fidelity in mask | fidelity gain | background error | background exact | alignment | s / image |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in block["rows"]:
        lines.append(
            f"| {r['variant']} | {r['fidelity']:.3f} ± {r['fidelity_se']:.3f} | {r['fidelity_gain']:+.3f} ± "
            f"{r['fidelity_gain_se']:.3f} | {r['background_error']:.2f} ± {r['background_error_se']:.2f} | "
            f"{r['background_exact']:.3f} ± {r['background_exact_se']:.3f} | {r['alignment']:.3f} ± "
            f"{r['alignment_se']:.3f} | {r['seconds_per_image']:.2f} |")
    return "\n".join(lines) + "\n"

"""The cost model: UNet evaluations per image, derived from a recipe (docs/performance.md); an
edit's in :func:`edit_unet_evals` (docs/editing.md).

    evals = E_subject + sum_{i < T} rows(i) + n * (T - k0) * rows_refine

- E_subject: N (the subject images) for the ``unet`` encoder in offline mode (one pass at t = 1);
- rows(i): 2 with text CFG (g_t > 1), else 1; 3 on subject steps with a subject guidance scale;
  + the fusion's ``extra_unet_rows(config, N, rows)`` on subject steps (reference attention's
  reference pass: N, or N per generating row with ``reference_prompt: generation``; none at
  scale 0), and the encoder's ``unet_evals(config, N)`` once per subject (both optional, 0);
- n refinement iterations, each rerunning the steps k0 = int(T - f T) .. T - 1 with the subject on
  (``guidance.switch_arithmetic``: floats as released, or exactly).

Counted per batch row, as the trace counts them (a CFG batch of 2 is 2 evaluations); the test
suite checks this against the traces of every shipped recipe.
"""

from __future__ import annotations

from typing import Any

from ezigen import defaults
from ezigen.sampling.stages import restart_index


def branches(text_scale: float, subject_on: bool, subject_guidance: float | None) -> int:
    """CFG branches of one step: 2 with text CFG (g_t > 1), else 1; 3 with a subject guidance scale."""
    cfg = text_scale > 1.0
    return 3 if subject_on and cfg and subject_guidance is not None else (2 if cfg else 1)


def unet_evals(recipe: Any, iterations: int = 0, subject_images: int = 1) -> int:
    """UNet evaluations of one image of ``recipe`` with ``iterations`` refinement iterations."""
    steps = recipe.sampling.steps
    schedule = recipe.guidance.build()
    guidance = recipe.guidance.config
    fusion, encoder = recipe.fusion, recipe.subject_encoder
    subject_guidance = defaults.subject_guidance(guidance)

    def rows(text_scale: float, subject_on: bool) -> int:
        count = branches(text_scale, subject_on, subject_guidance)
        if subject_on and fusion is not None:
            count += defaults.extra_unet_rows(fusion.cls, fusion.config, subject_images, count)
        return count

    total = defaults.encoder_unet_evals(encoder.cls, encoder.config, subject_images) if encoder is not None else 0
    for i in range(steps):
        step = schedule.at(i, steps)
        total += rows(step.text_scale, fusion is not None and step.subject_active)
    if recipe.refinement is not None and iterations:
        config = recipe.refinement.config
        fraction = config.appearance_fraction or defaults.appearance_fraction(guidance)
        text_scale = config.text_scale if config.text_scale is not None else defaults.text_scale(guidance)
        start = restart_index(fraction, steps, defaults.switch_arithmetic(guidance))
        total += iterations * (steps - start) * rows(text_scale, True)
    return total


def edit_unet_evals(recipe: Any, iterations: int = 1, subject_images: int = 1) -> int:
    """UNet evaluations of one edit (``System.edit``, spec §4.4) with ``iterations`` iterations:

        evals = E_subject + n * (K + (T - k0) * rows_edit)

    K = int(f N) inversion steps (one row each: no CFG, subject off), then the T - k0 late steps
    with the subject on (``rows_edit``: 2 with the edit's text CFG g = ``editing.text_scale`` > 1).
    ``subject_images=0``: the text-only edit (no subject encoding, subject off).
    """
    from ezigen.editing.run import edit_plan, editing_config

    plan = edit_plan(recipe)
    guidance = recipe.guidance.config
    fusion, encoder = recipe.fusion, recipe.subject_encoder
    subject_on = subject_images > 0 and fusion is not None
    rows = branches(editing_config(recipe).text_scale, subject_on, defaults.subject_guidance(guidance))
    if subject_on:
        rows += defaults.extra_unet_rows(fusion.cls, fusion.config, subject_images, rows)
    total = defaults.encoder_unet_evals(encoder.cls, encoder.config, subject_images) if subject_on else 0
    return total + iterations * (plan.inversion_stop + plan.denoise_steps * rows)

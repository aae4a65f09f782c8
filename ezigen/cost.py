"""The cost model: UNet evaluations per image, derived from a recipe (docs/performance.md).

    evals = E_subject + sum_{i < T} rows(i) + n * (T - k0) * rows_refine

- E_subject: N (the subject images) for the ``unet`` encoder in offline mode (one pass at t = 1);
- rows(i): 2 with text CFG (g_t > 1), else 1; 3 on subject steps with a subject guidance scale;
  + N on subject steps of per-step reference attention (the reference pass), N per generating
  row with ``reference_prompt: generation`` (the reference duplicated for CFG), none at scale 0;
- n refinement iterations, each rerunning the steps k0 = int(T - f T) .. T - 1 with the subject on
  (``guidance.switch_arithmetic``: floats as released, or exactly).

Counted per batch row, as the trace counts them (a CFG batch of 2 is 2 evaluations); the test
suite checks this against the traces of every shipped recipe.
"""

from __future__ import annotations

from typing import Any

from ezigen.builtins.guidance import SwitchArithmetic, restart_index

DEFAULT_FRACTION = 0.4


def rows(text_scale: float, subject_on: bool, subject_guidance: float | None, reference_images: int,
         reference_per_row: bool = False) -> int:
    cfg = text_scale > 1.0
    count = 3 if subject_on and cfg and subject_guidance is not None else (2 if cfg else 1)
    if not subject_on:
        return count
    return count + reference_images * (count if reference_per_row else 1)


def unet_evals(recipe: Any, iterations: int = 0, subject_images: int = 1) -> int:
    """UNet evaluations of one image of ``recipe`` with ``iterations`` refinement iterations."""
    steps = recipe.sampling.steps
    schedule = recipe.guidance.build()
    guidance = recipe.guidance.config
    has_subject = recipe.fusion is not None
    reference, per_row = 0, False
    if has_subject and recipe.fusion.type == "reference-attention" and recipe.fusion.config.scale != 0.0:
        reference = subject_images
        per_row = recipe.fusion.config.reference_prompt.value == "generation"
    encoder = recipe.subject_encoder
    total = 0
    if encoder is not None and encoder.type == "unet" and encoder.config.mode.value == "offline":
        total += subject_images
    for i in range(steps):
        step = schedule.at(i, steps)
        total += rows(step.text_scale, has_subject and step.subject_active, guidance.subject_guidance, reference,
                      per_row)
    if recipe.refinement is not None and iterations:
        config = recipe.refinement.config
        fraction = config.appearance_fraction or getattr(guidance, "appearance_fraction", DEFAULT_FRACTION)
        text_scale = config.text_scale if config.text_scale is not None else guidance.text_scale
        arithmetic = getattr(guidance, "switch_arithmetic", SwitchArithmetic.RELEASED)
        start = restart_index(fraction, steps, arithmetic)
        total += iterations * (steps - start) * rows(text_scale, True, guidance.subject_guidance, reference, per_row)
    return total

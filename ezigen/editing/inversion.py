"""Partial inversion of the source latent (spec §4.4 step 2), with diffusers' own inverse scheduler.

``DPMSolverMultistepInverseScheduler`` is built ``from_config`` of the backbone's scheduler
config with N = ``editing.inversion_steps`` steps, with the ``timestep_spacing`` and
``steps_offset`` of the *sampling* scheduler (:func:`make_inverse_scheduler`): SD2.1's config
names no spacing, so diffusers would give the inverse scheduler its own default ("linspace":
0, 20, ..., 380, ending at t = 400) while the DDPM sampler is "leading" (981, ..., 381, ..., 1).
With the sampler's spacing the timesteps are ascending 1, 20, 39, ..., 362 for N = 50. No CFG: one UNet row per step, conditioned on the inversion text
(:mod:`ezigen.editing.null_text`), the subject path off. The loop stops after

    K = int(f N)                    # f = guidance.appearance_fraction: 20 of 50 steps for f = 0.4

steps. Step k moves the latent from the noise level of ``timesteps[k]`` to that of
``timesteps[k + 1]``, so the last step visited is ``timesteps[K - 1]`` (362) and x_inv[K] sits
at ``timesteps[K]`` = 1 + 20·19 = 381 = the sampler's ``timesteps[k0]``, the first of the 20 late
DDPM steps (k0 = 30 of T = 50; leading spacing, ratio 1000 // 51 = 19 vs 1000 // 50 = 20). The two
"leading" grids meet exactly for the shipped N = T = 50, f = 0.4; other N, T keep the sampler's
spacing but need not meet exactly. Every intermediate latent is kept:

    x_inv = [z_0, z_1, ..., z_K]    # z_0 = the clean source latent, z_K = the start of denoising
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from ezigen.sampling.stages import SwitchArithmetic


def inversion_stop(appearance_fraction: float, num_steps: int,
                   arithmetic: SwitchArithmetic = SwitchArithmetic.RELEASED) -> int:
    """K = int(f N): in floats as released, or exactly on the decimal f (``guidance.switch_arithmetic``)."""
    if arithmetic is SwitchArithmetic.RELEASED:
        value = math.floor(float(appearance_fraction) * num_steps)
    else:
        value = int(Fraction(repr(float(appearance_fraction))) * num_steps)
    return min(num_steps, max(0, value))


def make_inverse_scheduler(backbone: Any, num_steps: int, sampling: Any = None) -> Any:
    """A fresh ``DPMSolverMultistepInverseScheduler`` of the backbone's scheduler config, set to ``num_steps``.

    ``timestep_spacing`` and ``steps_offset`` are those of ``sampling`` (the scheduler the edit
    denoises with; default ``backbone.make_scheduler()``), so that the inverted timesteps line up
    with the sampler's (module docstring), whatever the stored config names or leaves out.
    """
    from diffusers import DPMSolverMultistepInverseScheduler

    sampler = (sampling if sampling is not None else backbone.make_scheduler()).config
    scheduler = DPMSolverMultistepInverseScheduler.from_config(
        backbone.scheduler_config, timestep_spacing=sampler.get("timestep_spacing", "leading"),
        steps_offset=sampler.get("steps_offset", 0))
    scheduler.set_timesteps(num_steps, device=backbone.device)
    return scheduler


def invert(backbone: Any, latents: Any, embeds: Any, num_steps: int, stop: int, *, trace: Any = None,
           iteration: int = 0, sampling: Any = None) -> list[Any]:
    """x_inv (``stop`` + 1 latents, each (B, C, h, w)) from the clean ``latents``; module docstring.

    Each step is one UNet evaluation per row, recorded in ``trace`` as a ``kind="inversion"`` step.
    """
    import torch

    from ezigen.sampling.trace import TraceStep

    scheduler = make_inverse_scheduler(backbone, num_steps, sampling)
    intermediates = [latents]
    with torch.no_grad():
        for index, t in enumerate(scheduler.timesteps[:stop]):
            model_input = scheduler.scale_model_input(latents, t)
            eps = backbone.predict_noise(model_input, t, embeds)
            latents = scheduler.step(eps, t, latents, return_dict=False)[0]
            intermediates.append(latents)
            if trace is not None:
                trace.count("unet_evals", int(latents.shape[0]))
                trace.add_step(TraceStep(iteration=iteration, index=index, timestep=int(t), subject=False,
                                         text_scale=1.0, subject_scale=0.0, kind="inversion"))
    return intermediates

"""The denoising loop, in one readable place.

One call runs the steps ``start .. T-1`` of a scheduler's timestep list. At each step i:

1. ``g = schedule.at(i, T)`` gives the text scale g_t and the subject scale s (0 = subject off).
2. The batch is assembled from branches. Text CFG (g_t > 1) runs the unconditional and the
   conditional prompt; the subject features go to *both* branches, as released (spec §4.1)::

       eps = eps(x, ∅, S) + g_t * (eps(x, c, S) - eps(x, ∅, S))

   With an optional subject guidance scale g_s (an extension, off by default) a third,
   subject-free branch is added::

       eps = eps(x, ∅, -) + g_s * (eps(x, ∅, S) - eps(x, ∅, -)) + g_t * (eps(x, c, S) - eps(x, ∅, S))

   When the subject is off the UNet is the plain backbone (bit-identical), so a recipe with no
   subject reproduces diffusers' own pipelines.
3. ``x = scheduler.step(eps, t, x, generator=...)``, exactly as the diffusers pipelines call it.

Every step is recorded in the trace; every UNet row is counted.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs
import torch

from ezigen.sampling.trace import Trace, TraceStep
from ezigen.values import StepGuidance, SubjectFeatures


@attrs.define
class SubjectPath:
    """The installed fusion, the subject's features and the fusion's base scale."""

    attachment: Any
    features: SubjectFeatures
    scale: float = 1.0
    subject_guidance: float | None = None


def step_kwargs(scheduler: Any, generator: torch.Generator | None, eta: float = 0.0) -> dict[str, Any]:
    """The extra ``scheduler.step`` arguments, chosen as diffusers' pipelines choose them."""
    params = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in params:
        kwargs["eta"] = eta
    if "generator" in params:
        kwargs["generator"] = generator
    return kwargs


def denoise(
    backbone: Any,
    scheduler: Any,
    latents: torch.Tensor,
    conditioning: Any,
    schedule: Any,
    *,
    start: int = 0,
    num_steps: int | None = None,
    subject: SubjectPath | None = None,
    generator: torch.Generator | None = None,
    trace: Trace | None = None,
    iteration: int = 0,
    callback: Callable[[int, int, torch.Tensor], torch.Tensor | None] | None = None,
    interrupted: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """Run scheduled steps ``start..`` from ``latents`` (B, 4, h, w); return the final latents.

    ``num_steps`` is the T the schedule is evaluated against (default: the scheduler's step count).
    ``callback(index, timestep, latents)`` runs after every step; a tensor it returns replaces the
    latents (diffusers' ``callback_on_step_end``). ``interrupted()`` true before a step stops the loop
    there (diffusers' ``pipe.interrupt``): no further UNet calls.
    """
    from ezigen.conditioning import PromptEmbeds

    timesteps = scheduler.timesteps
    total = num_steps if num_steps is not None else len(timesteps)
    extra = step_kwargs(scheduler, generator)
    batch = latents.shape[0]
    for index in range(start, len(timesteps)):
        if interrupted is not None and interrupted():
            break
        t = timesteps[index]
        guidance: StepGuidance = schedule.at(index, total)
        subject_on = subject is not None and guidance.subject_active
        cfg = guidance.text_scale > 1.0 and conditioning.uncond is not None
        three = subject_on and cfg and subject.subject_guidance is not None

        # (prompt embeds, subject active, unconditional) per branch, unconditional first as in diffusers
        if three:
            branches = [(conditioning.uncond, False, True), (conditioning.uncond, True, True),
                        (conditioning.cond, True, False)]
        elif cfg:
            branches = [(conditioning.uncond, subject_on, True), (conditioning.cond, subject_on, False)]
        else:
            branches = [(conditioning.cond, subject_on, False)]

        embeds = PromptEmbeds.cat([b[0] for b in branches]) if len(branches) > 1 else branches[0][0]
        if subject is not None:
            if subject_on:
                active = None
                if not all(on for _, on, _ in branches):
                    active = torch.tensor([float(on) for _, on, _ in branches for _ in range(batch)])
                uncond = None
                if cfg:
                    uncond = torch.tensor([is_uncond for _, _, is_uncond in branches for _ in range(batch)])
                subject.attachment.set_scale(subject.scale * guidance.subject_scale)
                subject.attachment.set_subject(subject.features, active=active, uncond=uncond)
                extra_evals = _prepare_step(subject.attachment, t, len(branches) * batch, embeds=embeds,
                                            generator=generator, branches=len(branches))
                if trace is not None and extra_evals:
                    trace.count("unet_evals", extra_evals)
            else:
                subject.attachment.set_subject(None)

        model_input = torch.cat([latents] * len(branches)) if len(branches) > 1 else latents
        model_input = scheduler.scale_model_input(model_input, t)
        eps = backbone.predict_noise(model_input, t, embeds)
        if trace is not None:
            trace.count("unet_evals", int(model_input.shape[0]))

        if three:
            eps_plain, eps_subject, eps_text = eps.chunk(3)
            g_s = subject.subject_guidance
            eps = eps_plain + g_s * (eps_subject - eps_plain) + guidance.text_scale * (eps_text - eps_subject)
        elif cfg:
            eps_uncond, eps_text = eps.chunk(2)
            eps = eps_uncond + guidance.text_scale * (eps_text - eps_uncond)

        latents = scheduler.step(eps, t, latents, **extra, return_dict=False)[0]
        if trace is not None:
            trace.add_step(TraceStep(
                iteration=iteration,
                index=index,
                timestep=int(t),
                subject=subject_on,
                text_scale=float(guidance.text_scale),
                subject_scale=float(guidance.subject_scale) if subject_on else 0.0,
            ))
        if callback is not None:
            replaced = callback(index, int(t), latents)
            if replaced is not None:
                latents = replaced
    if subject is not None:
        subject.attachment.set_subject(None)
    return latents


def _prepare_step(attachment: Any, timestep: Any, batch: int, **context: Any) -> int:
    """Let an attachment that works per step (reference attention) prepare; returns its extra UNet rows
    (``ezigen.defaults.prepare_step``: the context a ``prepare_step`` accepts, 0 without one)."""
    from ezigen.defaults import prepare_step

    return prepare_step(attachment, timestep, batch, **context)

"""Iterative appearance transfer: revisit the late timesteps with the subject on (spec §4.3).

Each iteration n = 1, 2, ...:

1. take the current result: re-encode its 8-bit image with the VAE (released path,
   ``vae_roundtrip: true``) or keep its latent as is (fast path, no decode/encode);
2. re-noise it: ``official`` noises to t = 1000 f with the DDPM forward process and restarts at
   the scheduled index k0 = int(T - f T) (t = 400 vs 381 for f = 0.4, T = 50: the released
   mismatch); ``snap`` noises to the restart step's own noise level (t = 381). k0 and t are
   computed as ``guidance.switch_arithmetic`` says (released: floats; exact: floor of the
   rational value), see :func:`ezigen.sampling.stages.restart_index`;
3. run the steps k0 .. T-1 with the subject on at every step and the refinement's own text
   guidance (released: same g_t, no negative prompt);
4. ask the stop rule.

All noise comes from the generation's seeded generator, so a seed gives the same image every
time (the released code draws this noise from the unseeded global RNG).

Editing (spec §4.4, :mod:`ezigen.editing`) runs this same loop with step 2 replaced by a
partial inversion of the re-encoded result (``start_latents``) and a blend after every step
(``callback``); the initial "pass" is then the source image itself.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from typing import TYPE_CHECKING

import attrs

from ezigen import defaults
from ezigen.config import in_range, setting
from ezigen.sampling.stages import SwitchArithmetic, renoise_timestep, restart_index
from ezigen.values import StepGuidance

if TYPE_CHECKING:  # pragma: no cover - importing torch here would make recipe validation slow
    import torch

    from ezigen.sampling.loop import SubjectPath
    from ezigen.sampling.trace import Trace


class RenoiseMode(enum.Enum):
    OFFICIAL = "official"
    SNAP = "snap"


@attrs.frozen
class RefinementConfig:
    renoise: RenoiseMode = setting(
        RenoiseMode.OFFICIAL,
        doc="official: noise to t = 1000 f, restart at index int(T - f T) (400 vs 381, as released); "
        "snap: noise to the restart step's own timestep.",
    )
    appearance_fraction: float | None = setting(
        None, doc="f for the restart; null = guidance.appearance_fraction (0.4 when the schedule has none).",
        validator=in_range(0.0, 1.0, low_open=True),
    )
    text_scale: float | None = setting(None, doc="g_t inside the loop; null = guidance.text_scale.",
                                       validator=in_range(0.0, 100.0))
    negative_prompt: str | None = setting(
        None, doc="Negative prompt inside the loop; null = the pipeline default (released: none in the loop)."
    )
    vae_roundtrip: bool = setting(
        True, doc="true: decode, round to 8 bits and VAE-encode each result again (released); "
        "false: re-noise the latent directly (fast path: no VAE passes between iterations).",
    )


@attrs.define
class PassResult:
    """The result of one pass: latents (B, 4, h, w); pixels (B, 3, H, W) in [-1, 1] and PIL images once decoded."""

    latents: Any
    pixels: Any = None
    images: list[Any] | None = None


def restart_plan(appearance_fraction: float, num_steps: int, mode: RenoiseMode, num_train_timesteps: int = 1000,
                 arithmetic: SwitchArithmetic = SwitchArithmetic.RELEASED):
    """(restart index k0, noise timestep or None for snap) for fraction f and T steps."""
    k0 = restart_index(appearance_fraction, num_steps, arithmetic)
    if mode is RenoiseMode.SNAP:
        return k0, None
    return k0, renoise_timestep(appearance_fraction, num_train_timesteps, arithmetic)


def quantize_8bit(pixels: torch.Tensor) -> torch.Tensor:
    """What an image saved as 8-bit and read back looks like: round((x/2 + 1/2) 255) / 255 * 2 - 1."""
    return ((pixels / 2 + 0.5).clamp(0, 1) * 255).round() / 255 * 2 - 1


class Refiner:
    """Runs refinement iterations until the stop rule says so."""

    def __init__(self, config: RefinementConfig, stop: Any, appearance_fraction: float, text_scale: float,
                 arithmetic: SwitchArithmetic = SwitchArithmetic.RELEASED):
        self.config = config
        self.stop = stop
        self.appearance_fraction = appearance_fraction
        self.arithmetic = arithmetic
        self.schedule = SubjectOnSchedule(text_scale)

    def run(
        self,
        backbone: Any,
        make_scheduler: Callable[[], Any],
        num_steps: int,
        conditioning: Any,
        initial: PassResult,
        subject: SubjectPath,
        generator: torch.Generator,
        trace: Trace,
        decode: Callable[[torch.Tensor], PassResult],
        callback: Callable[..., Any] | None = None,
        interrupted: Callable[[], bool] | None = None,
        start_latents: Callable[[int, torch.Tensor, Any, int], torch.Tensor] | None = None,
    ) -> PassResult:
        """Iterate from ``initial`` until the stop rule says so (module docstring).

        ``start_latents(iteration, clean, scheduler, k0)``, when given, replaces the re-noising:
        it returns the latents to denoise from scheduled index k0 (an edit's inversion).
        """
        from ezigen.sampling.loop import denoise
        from ezigen.sampling.noise import noise_to_index, noise_to_timestep

        scheduler = make_scheduler()
        start, t_noise = restart_plan(self.appearance_fraction, num_steps, self.config.renoise,
                                      int(scheduler.config.num_train_timesteps), self.arithmetic)
        if start >= num_steps:
            return initial
        previous = initial
        iteration = 0
        while True:
            iteration += 1
            clean = previous.latents
            if self.config.vae_roundtrip:
                if previous.pixels is None:
                    previous = decode(previous.latents)
                clean = backbone.encode_images(quantize_8bit(previous.pixels), generator=generator)
                trace.count("vae_encodes", clean.shape[0])
            scheduler = make_scheduler()
            scheduler.set_timesteps(num_steps, device=clean.device)
            if start_latents is not None:
                latents = start_latents(iteration, clean, scheduler, start)
            elif t_noise is None:
                latents = noise_to_index(scheduler, clean, _noise(clean, generator), start)
            else:
                if hasattr(scheduler, "set_begin_index"):
                    scheduler.set_begin_index(start)
                latents = noise_to_timestep(scheduler, clean, _noise(clean, generator), t_noise)
            latents = denoise(backbone, scheduler, latents, conditioning, self.schedule, start=start,
                              num_steps=num_steps, subject=subject, generator=generator, trace=trace,
                              iteration=iteration, callback=callback, interrupted=interrupted)
            if interrupted is not None and interrupted():
                return PassResult(latents)
            trace.count("iterations")
            current = PassResult(latents)
            needs_images = defaults.needs_images(self.stop)
            if needs_images or self.config.vae_roundtrip:
                current = decode(latents)
                if needs_images and previous.images is None:
                    previous = decode(previous.latents)
            if self.stop.should_stop(iteration, previous, current):
                return current
            previous = current


def _noise(clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)


@attrs.frozen
class SubjectOnSchedule:
    """Guidance inside the refinement loop: the subject on at every step, g_t = ``text_scale`` (spec §4)."""

    text_scale: float

    def at(self, step: int, num_steps: int) -> StepGuidance:
        return StepGuidance(text_scale=self.text_scale, subject_scale=1.0)

"""Noise helpers: initial latents with diffusers' seeding, and re-noising a clean latent.

Seeds mean what they mean in diffusers: the initial latents for seed N are those
``StableDiffusionPipeline(..., generator=torch.Generator("cpu").manual_seed(N))`` draws.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor


def make_generator(seed: int) -> torch.Generator:
    """The CPU generator diffusers users pass; every random draw of a generation comes from it."""
    return torch.Generator("cpu").manual_seed(int(seed))


def initial_latents(shape: tuple[int, ...], generator: torch.Generator, scheduler: Any, device: Any, dtype: Any):
    """x_T ~ N(0, I) * init_noise_sigma, drawn exactly as diffusers' ``prepare_latents`` draws it."""
    latents = randn_tensor(shape, generator=generator, device=torch.device(device), dtype=dtype)
    return latents * scheduler.init_noise_sigma


def is_variance_exploding(scheduler: Any) -> bool:
    """Euler-style samplers work on x = z + sigma * eps (init_noise_sigma > 1); DDPM/DDIM/DPM++ on VP samples."""
    return float(scheduler.init_noise_sigma) != 1.0


def noise_to_timestep(scheduler: Any, clean, noise, timestep: int):
    """Noise a clean latent to an arbitrary training timestep t (not necessarily on the schedule).

    VP: x_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps, with the model's training abar (DDPM's
    ``add_noise``). For variance-exploding samplers the same noise level in their sample space
    is x_t / sqrt(abar_t) = z + sqrt((1 - abar_t) / abar_t) eps.
    """
    abar = scheduler.alphas_cumprod[int(timestep)].to(device=clean.device, dtype=torch.float32)
    noisy = abar.sqrt() * clean.float() + (1 - abar).sqrt() * noise.float()
    if is_variance_exploding(scheduler):
        noisy = noisy / abar.sqrt()
    return noisy.to(clean.dtype)


def noise_to_index(scheduler: Any, clean, noise, index: int):
    """Noise a clean latent to the noise level of the scheduled step ``index`` (the sampler's own ``add_noise``)."""
    timestep = scheduler.timesteps[index : index + 1]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(index)
    return scheduler.add_noise(clean, noise, timestep.to(clean.device))

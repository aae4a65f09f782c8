"""The edit loop (spec §4.4): what ``System.edit`` runs.

    source, M     = resized source (short side S), latent-size mask             (source.py)
    c_inv         = inversion text (released: token 7788, no positions)         (null_text.py)
    previous      = the source; r = None
    for n = 1, 2, ... (refinement's iterations and stop rule, §4.3; one without refinement):
        z         = VAE.enc(previous)                     # the released path re-encodes 8-bit images
        x_inv     = invert(z, c_inv, N, K = int(f N))    # DPMSolverMultistepInverseScheduler, no CFG
        r         = r or x_inv                           # the first iteration's latents: the background
        x         = x_inv[K]
        for i, t in enumerate(timesteps[k0:]):           # k0 = int(T - f T): the K late DDPM steps
            x     = ddpm_step(cfg_eps(x, t, p, "", S, g = 2), t, x)
            x     = x * M + r[::-1][j(i)] * (1 - M)       # j = i released, i + 1 corrected (blend.py)
        previous  = VAE.dec(x)
        stop?     (consecutive results, as §4.3)

It reuses :class:`ezigen.sampling.refinement.Refiner` (iterations, VAE round trip, stop rule) and
:func:`ezigen.sampling.loop.denoise` (CFG, subject path, trace): only the start of each
iteration (the inversion) and the per-step blend are editing's own.
"""

from __future__ import annotations

from typing import Any

import attrs

from ezigen import defaults
from ezigen.editing.config import EditingConfig
from ezigen.errors import EzigenError
from ezigen.sampling.stages import restart_index


@attrs.frozen
class EditPlan:
    """The step counts of one edit: restart index k0 of T denoising steps, K of N inversion steps."""

    steps: int
    restart: int
    inversion_steps: int
    inversion_stop: int
    appearance_fraction: float

    @property
    def denoise_steps(self) -> int:
        return self.steps - self.restart


def editing_config(recipe: Any) -> EditingConfig:
    """The recipe's ``editing`` section, or its documented defaults when the recipe has none."""
    return recipe.editing if recipe.editing is not None else EditingConfig()


def editing_recipes(components: Any = None) -> list[str]:
    """The names of the shipped and plugin recipes that have an ``editing:`` section (their YAML alone is read:
    cheap, no model); a recipe file that does not read is left out, as ``ezigen recipes list`` does."""
    from ezigen.plugins import components as registered
    from ezigen.recipe.loader import read_recipe_data, recipe_index

    components = components if components is not None else registered()
    names = []
    for name, path in recipe_index(components).items():
        try:
            data = read_recipe_data(path, components)
        except Exception:  # a broken plugin recipe must not hide the others
            continue
        if isinstance(data, dict) and data.get("editing") is not None:
            names.append(name)
    return names


def require_editing(recipe: Any, name: str) -> None:
    """An :class:`EzigenError` naming ``name`` and the recipes that edit, when ``recipe`` has no ``editing:``
    section (``ezigen edit``, before any model loads; ``System.edit`` itself falls back to the defaults)."""
    if recipe.editing is not None:
        return
    raise EzigenError(f"recipe {name!r} has no editing: section, so `ezigen edit` cannot run it; recipes that edit: "
                      f"{', '.join(editing_recipes()) or 'none'} (or add an editing: section, docs/editing.md)")


def edit_plan(recipe: Any) -> EditPlan:
    """k0 and K from the recipe; an error (before any model loads) when they do not line up."""
    from ezigen.editing.inversion import inversion_stop

    guidance = recipe.guidance.config
    fraction = None
    if recipe.refinement is not None:
        fraction = recipe.refinement.config.appearance_fraction
    if fraction is None:
        fraction = defaults.appearance_fraction(guidance)
    arithmetic = defaults.switch_arithmetic(guidance)
    steps = recipe.sampling.steps
    config = editing_config(recipe)
    plan = EditPlan(steps, restart_index(fraction, steps, arithmetic), config.inversion_steps,
                    inversion_stop(fraction, config.inversion_steps, arithmetic), fraction)
    if plan.denoise_steps != plan.inversion_stop or plan.inversion_stop == 0:
        raise EzigenError(
            f"editing: with f = {fraction} the inversion runs {plan.inversion_stop} of {plan.inversion_steps} steps "
            f"but the edit denoises {plan.denoise_steps} of {steps} (from index {plan.restart}); they must be equal "
            f"and non-zero, so that each step has its inverted latent: set editing.inversion_steps to {steps}")
    return plan


class _Once:
    """The stop rule of an edit without refinement: one iteration."""

    max_iterations = 1
    needs_images = False

    def should_stop(self, iteration: int, previous: Any, current: Any) -> bool:
        return True


def run_edit(system: Any, image: Any, mask: Any, prompt: str, subject: Any, subject_prompt: str | None,
             seed: int, callback: Any = None, generator: Any = None) -> Any:
    """Edit ``image`` inside ``mask`` (module docstring); returns a :class:`~ezigen.system.GenerationResult`."""
    import contextlib

    import torch

    from ezigen.editing.blend import Blender
    from ezigen.editing.inversion import invert
    from ezigen.editing.null_text import inversion_conditioning, released_token_id
    from ezigen.editing.source import (load_mask, load_source, mask_to_latent, resize_source, size_multiple,
                                       to_pixels)
    from ezigen.editing.config import InversionText
    from ezigen.sampling.loop import SubjectPath
    from ezigen.sampling.noise import is_variance_exploding, make_generator
    from ezigen.sampling.refinement import PassResult, RefinementConfig, Refiner
    from ezigen.sampling.trace import Trace
    from ezigen.system import GenerationResult

    recipe, backbone = system.recipe, system.backbone
    config = editing_config(recipe)
    plan = edit_plan(recipe)
    if not isinstance(prompt, str):
        raise EzigenError("prompt: an edit takes one prompt (a string)")
    if subject is not None:
        system._check_subject(subject)
    original = load_source(image)
    source = resize_source(original, config.short_side or backbone.resolution, size_multiple(backbone))
    mask_image = load_mask(mask, original.size, source.size)
    if is_variance_exploding(backbone.make_scheduler()):
        raise EzigenError(f"editing: backbone.scheduler {recipe.backbone.config.scheduler.value!r} is variance "
                          "exploding; the inverted latents are VP samples: use ddpm, ddim or dpmpp-2m")

    trace = Trace()
    features = None
    if subject is not None:
        features = system.encode_subject(system.subject_input(subject, subject_prompt), trace)
    generator = generator if generator is not None else make_generator(int(seed))
    width, height = source.size
    conditioning = system._conditioning([prompt], config.negative_prompt, config.text_scale > 1.0, 1)
    inversion_embeds = inversion_conditioning(backbone, config)
    for embeds in (conditioning.cond, conditioning.uncond, inversion_embeds):
        if embeds is not None and embeds.time_ids is not None:  # SDXL: the edit's own (possibly non-square) size
            embeds.time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=embeds.time_ids.dtype,
                                           device=embeds.time_ids.device)
    pixels = to_pixels(source).to(backbone.device)  # (1, 3, H, W) in [-1, 1]
    refinement = recipe.refinement.config if recipe.refinement is not None else RefinementConfig()
    initial = PassResult(None, pixels, [source])
    if not refinement.vae_roundtrip:
        initial.latents = backbone.encode_images(pixels, generator=generator)
        trace.count("vae_encodes")

    def decode_pass(latents: Any) -> PassResult:
        decoded = backbone.decode_latents(latents)
        trace.count("vae_decodes", int(latents.shape[0]))
        return PassResult(latents, decoded, backbone.to_pil(decoded))

    factor = backbone.vae_scale_factor
    blender = Blender(mask_to_latent(mask_image, (height // factor, width // factor), device=backbone.device),
                      plan.restart, config.blend_index)

    def start_latents(iteration: int, clean: Any, scheduler: Any, start: int) -> Any:
        intermediates = invert(backbone, clean, inversion_embeds, plan.inversion_steps, plan.inversion_stop,
                               trace=trace, iteration=iteration, sampling=scheduler)
        blender.keep(intermediates)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        return intermediates[-1]

    def on_step(index: int, timestep: int, latents: Any) -> Any:
        latents = blender(index, timestep, latents)
        if callback is not None:
            replaced = callback(index, timestep, latents)
            latents = latents if replaced is None else replaced
        return latents

    stop = system.stop if recipe.refinement is not None else _Once()
    refiner = Refiner(refinement, stop, plan.appearance_fraction, config.text_scale,
                      defaults.switch_arithmetic(recipe.guidance.config))
    attached = system.attached() if features is not None else contextlib.nullcontext()
    with attached as attachment, torch.no_grad(), system.autocast():
        path = None
        if attachment is not None:
            path = SubjectPath(attachment, features, defaults.fusion_scale(system.fusion.config),
                               defaults.subject_guidance(recipe.guidance.config))
        result = refiner.run(backbone, backbone.make_scheduler, plan.steps, conditioning, initial, path, generator,
                             trace, decode_pass, callback=on_step, start_latents=start_latents)
    if result.images is None:
        result = decode_pass(result.latents)
    trace.extra["editing"] = {
        "size": [width, height],
        "inversion_steps": plan.inversion_steps, "inversion_stop": plan.inversion_stop, "restart": plan.restart,
        "inversion_text": config.inversion_text.value, "blend_index": config.blend_index.value,
        "subject": features is not None,
    }
    if config.inversion_text is InversionText.RELEASED:
        trace.extra["editing"]["inversion_token_id"] = released_token_id(config, backbone.text_encoder)
    trace.finish()
    return GenerationResult(images=result.images, trace=trace, latents=result.latents, seed=int(seed),
                            prompts=[prompt])

"""Per-recipe rows: each shipped generation recipe against the plain diffusers pipeline on the same
backbone, sampler, steps, guidance, resolution and seed, in the same process."""

from __future__ import annotations

from typing import Any

PROMPT = "a disc on the beach"
SUBJECT_PROMPT = "a disc"


def subject_image() -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 64), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 56, 56), fill=(215, 40, 40))
    for x in range(14, 52, 10):
        draw.rectangle((x, 16, x + 4, 48), fill=(30, 60, 200))
    return image


def generation_recipes() -> list[str]:
    """Shipped recipes that generate (not the toy base's pretraining recipe)."""
    from ezigen.plugins import components
    from ezigen.recipe.loader import recipe_index

    return [name for name in recipe_index(components()) if name != "toy/pretrain" and not name.startswith("ramp/")]


def plain_pipeline(system: Any) -> Any:
    """diffusers' own pipeline over the system's backbone parts, with the recipe's sampler."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    backbone = system.backbone
    parts = dict(unet=backbone.unet, vae=backbone.vae, text_encoder=backbone.text_encoder,
                 tokenizer=backbone.tokenizer, scheduler=backbone.make_scheduler())
    if backbone.text_encoder_2 is not None:
        pipe = StableDiffusionXLPipeline(**parts, text_encoder_2=backbone.text_encoder_2,
                                         tokenizer_2=backbone.tokenizer_2)
    else:
        pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def plain_call(system: Any, seed: int):
    """A closure generating one image with the plain pipeline; returns (callable, UNet evals)."""
    import torch

    pipe = plain_pipeline(system)
    recipe = system.recipe
    guidance = recipe.guidance.config
    steps = recipe.sampling.steps
    side = system.backbone.resolution

    def run() -> Any:
        return pipe(PROMPT, negative_prompt=guidance.negative_prompt, num_inference_steps=steps,
                    guidance_scale=guidance.text_scale, height=side, width=side,
                    generator=torch.Generator("cpu").manual_seed(seed)).images[0]

    return run, steps * (2 if guidance.text_scale > 1 else 1)


def ours_call(system: Any, seed: int, subject: Any, warm_cache: bool = False):
    """A closure generating one image through ezigen (a cold subject cache unless ``warm_cache``)."""

    def run() -> Any:
        if not warm_cache:
            system.feature_cache.clear()
        return system.generate(PROMPT, subject=subject if system.needs_subject else None,
                               subject_prompt=SUBJECT_PROMPT, seed=seed)

    return run


def toy_subject() -> Any:
    from ezigen.toy.world import render_crop, split_subjects

    return render_crop(split_subjects(0, 400, 60)[1][0])


def recipe_row(name: str, repeats: int, device: str, tiny: bool, seed: int = 0) -> dict[str, Any]:
    import ezigen

    from benchmarks.measure import interleaved

    recipe = ezigen.load_recipe(name, tiny=tiny)
    system = ezigen.build_system(recipe)
    system.to(device)
    subject = toy_subject() if name.startswith("toy/") else subject_image()
    plain, plain_evals = plain_call(system, seed)
    measured = interleaved({"plain": plain, "ours": ours_call(system, seed, subject)}, repeats, device)
    trace = measured["ours"].result.trace.totals
    backbone = system.backbone
    return {
        "recipe": name,
        "backbone": backbone.config.pretrained,
        "device": device,
        "dtype": backbone.config.dtype.value,
        "resolution": backbone.resolution,
        "steps": recipe.sampling.steps,
        "seconds_per_image": round(measured["ours"].median, 4),
        "plain_seconds_per_image": round(measured["plain"].median, 4),
        "ratio_to_plain": round(measured["ours"].median / measured["plain"].median, 3),
        "unet_evals": int(trace["unet_evals"]),
        "plain_unet_evals": plain_evals,
        "subject_encodings": int(trace["subject_encodings"]),
        "vae_encodes": int(trace["vae_encodes"]),
        "vae_decodes": int(trace["vae_decodes"]),
        "iterations": int(trace["iterations"]),
        "peak_mem_mb": round(measured["ours"].peak_mem_mb, 1),
        "plain_peak_mem_mb": round(measured["plain"].peak_mem_mb, 1),
    }

"""Real-size measurements (GPU): SD2.1-base at 512 px and SDXL-base at 1024 px, random weights.

For each backbone: the plain pipeline vs text-only, single-pass EZIGen and EZIGen with 3 fixed
refinement iterations (end to end, same steps and seed), and the time of one CFG UNet step with
the subject off vs on (the adapter's per-step overhead).
"""

from __future__ import annotations

import time
from typing import Any

REAL = {
    "sd21": ("random:sd21-base", 512, ["text-only-sd21-base", "ezigen-sd21-base"]),  # single pass: refinement=null
    "sdxl": ("random:sdxl-base", 1024, ["text-only-sdxl-base", "ezigen-sdxl-base"]),
}


def overrides(backbone: str, resolution: int, dtype: str, recipe: str, single_pass: bool) -> list[str]:
    out = [f"backbone.pretrained={backbone}", f"backbone.resolution={resolution}", f"backbone.dtype={dtype}"]
    if "text-only" not in recipe:
        out += ["refinement=null"] if single_pass else ["refinement.stop.type=fixed", "refinement.stop.iterations=3"]
    return out


def step_times(system: Any, repeats: int = 20) -> dict[str, float]:
    """One CFG step (batch 2) of the attached UNet with the subject off and on, in ms (CUDA-synchronised)."""
    import torch

    from benchmarks.recipes import SUBJECT_PROMPT, subject_image

    backbone = system.backbone
    features = system.encode_subject(system.subject_input(subject_image(), SUBJECT_PROMPT))
    latents = torch.randn(backbone.latent_shape(2), device=backbone.device, dtype=backbone.dtype)
    embeds = backbone.encode_prompt(["a photo", "a photo"], None, cfg=False).cond
    timestep = torch.tensor(500, device=backbone.device)
    results = {}
    with system.attached() as attachment, torch.no_grad():
        for name, subject in (("subject_off", None), ("subject_on", features)):
            attachment.set_subject(subject)
            for _ in range(3):
                backbone.predict_noise(latents, timestep, embeds)
            torch.cuda.synchronize() if torch.cuda.is_available() else None
            started = time.perf_counter()
            for _ in range(repeats):
                backbone.predict_noise(latents, timestep, embeds)
            torch.cuda.synchronize() if torch.cuda.is_available() else None
            results[f"{name}_step_ms"] = round((time.perf_counter() - started) / repeats * 1000, 2)
    results["subject_step_ratio"] = round(results["subject_on_step_ms"] / results["subject_off_step_ms"], 3)
    return results


def real_rows(device: str, dtype: str, repeats: int) -> list[dict[str, Any]]:
    import ezigen

    from benchmarks.measure import interleaved
    from benchmarks.recipes import ours_call, plain_call, subject_image

    rows = []
    for key, (backbone_name, resolution, recipes) in REAL.items():
        for recipe_name in recipes:
            for single_pass in ([False] if "text-only" in recipe_name else [True, False]):
                recipe = ezigen.load_recipe(recipe_name, overrides(backbone_name, resolution, dtype, recipe_name,
                                                                   single_pass))
                system = ezigen.build_system(recipe).to(device)
                plain, plain_evals = plain_call(system, 0)
                measured = interleaved({"plain": plain, "ours": ours_call(system, 0, subject_image())}, repeats,
                                       device)
                totals = measured["ours"].result.trace.totals
                row = {"recipe": recipe_name + ("" if "text-only" in recipe_name else
                                                (" (single pass)" if single_pass else " (3 iterations)")),
                       "backbone": backbone_name, "device": device, "dtype": dtype, "resolution": resolution,
                       "steps": recipe.sampling.steps, "seconds_per_image": round(measured["ours"].median, 4),
                       "plain_seconds_per_image": round(measured["plain"].median, 4),
                       "ratio_to_plain": round(measured["ours"].median / measured["plain"].median, 3),
                       "unet_evals": int(totals["unet_evals"]), "plain_unet_evals": plain_evals,
                       "subject_encodings": int(totals["subject_encodings"]), "vae_encodes": int(totals["vae_encodes"]),
                       "vae_decodes": int(totals["vae_decodes"]), "iterations": int(totals["iterations"]),
                       "peak_mem_mb": round(measured["ours"].peak_mem_mb, 1),
                       "plain_peak_mem_mb": round(measured["plain"].peak_mem_mb, 1)}
                if system.fusion is not None and single_pass:
                    row.update(step_times(system))
                rows.append(row)
                del system, plain
    return rows

"""Real-size measurements (GPU): SD2.1-base at 512 px and SDXL-base at 1024 px, random weights.

For each backbone: the plain pipeline vs text-only, single-pass EZIGen and EZIGen with 3 fixed
refinement iterations (end to end, same steps and seed). The subject-off vs on step rows are
``benchmarks/real_cpu.py``'s, on this device.
"""

from __future__ import annotations

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
                rows.append(row)
                del system, plain
    return rows

"""Real-size step rows: one CFG step (batch 2) with the subject off vs on, timed and counted (issue 20 item 1).

For each case (a random-weight real-size backbone at one resolution): the attached UNet's step
with the subject off, with it on (the default path: subject K/V precomputed) and, where asked,
on through the plain path (K/V of [u ; w S] at every call), timed in alternation (off, on, ...;
drift on a shared machine hits every arm alike) after one untimed warm-up each; median and
spread (min, max) per arm, and

    subject_step_ratio = median(on) / median(off)
    flop_ratio         = FLOPs(on) / FLOPs(off)          (FlopCounterMode, math SDPA: benchmarks/flops.py)

FLOPs are counted after the timing with the UNet moved to the meta device: FlopCounterMode counts
the same aten ops from shapes alone, so counting costs no arithmetic (tests/test_benchmarks_flops.py
checks meta and CPU counts agree). The once-per-subject K/V precompute is counted apart
(``subject_kv_gflops``). The subject features are random tensors of the encoder's shapes
(1, HW_l, C_l) per block: timing and counts depend on shapes only, and the one encoder pass per
subject is not part of a step.

The single-pass target compares the measured single-pass cost with its arithmetic limit, both
from the rows: with ``off`` and ``on`` subject-off / subject-on steps of the recipe's T,

    measured = (off + on * subject_step_ratio) / T   <=   1.1 * (off + on * flop_ratio) / T = 1.1 * limit
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

import attrs

# (label, backbone, resolution, recipe, repeats after the warm-up, time the plain path too)
CPU_CASES = [
    ("sd21-base 256 px", "random:sd21-base", 256, "ablations/ezigen-sd21-single-pass", 4, True),
    ("sd21-base 512 px", "random:sd21-base", 512, "ablations/ezigen-sd21-single-pass", 2, True),
    ("sdxl-base 512 px", "random:sdxl-base", 512, "ezigen-sdxl-base", 2, False),
]
GPU_CASES = [
    ("sd21-base 512 px", "random:sd21-base", 512, "ablations/ezigen-sd21-single-pass", 20, True),
    ("sdxl-base 512 px", "random:sdxl-base", 512, "ezigen-sdxl-base", 20, True),
    ("sdxl-base 1024 px", "random:sdxl-base", 1024, "ezigen-sdxl-base", 20, True),
]
SINGLE_PASS_CASE = "sd21-base 512 px"
SINGLE_PASS_FACTOR = 1.1


def build(backbone: str, resolution: int, recipe: str, dtype: str, device: str) -> Any:
    import ezigen

    overrides = [f"backbone.pretrained={backbone}", f"backbone.resolution={resolution}", f"backbone.dtype={dtype}",
                 "refinement=null"]
    return ezigen.build_system(ezigen.load_recipe(recipe, overrides)).to(device)


def synthetic_features(system: Any, like: Any = None, device: Any = None) -> Any:
    """Random subject features with the encoder's shapes: (1, HW_l, C_l) for every adapter block."""
    import torch

    from ezigen.unet.layers import block_geometry, token_counts
    from ezigen.values import FeatureKind, SubjectFeatures

    backbone = system.backbone
    unet = backbone.unet
    counts = token_counts(unet, backbone.resolution, backbone.vae_scale_factor)
    generator = torch.Generator().manual_seed(0)
    layers = {}
    for name in system.fusion.layers:
        shape = (1, counts[name], block_geometry(unet, name)["channels"])
        if device == "meta":
            layers[name] = torch.empty(shape, device="meta", dtype=backbone.dtype)
        else:
            layers[name] = torch.randn(shape, generator=generator).to(device=backbone.device, dtype=backbone.dtype)
    return SubjectFeatures(FeatureKind.SPATIAL, layers=layers, info={"synthetic": True})


def spread(seconds: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(seconds), 4), "min": round(min(seconds), 4),
            "max": round(max(seconds), 4)}


def step_row(label: str, backbone_name: str, resolution: int, recipe: str, repeats: int, plain_path: bool,
             device: str, dtype: str) -> dict[str, Any]:
    import time

    import torch

    from benchmarks.flops import count_flops
    from benchmarks.measure import interleaved
    from ezigen.conditioning import PromptEmbeds

    started = time.perf_counter()
    system = build(backbone_name, resolution, recipe, dtype, device)
    built = time.perf_counter() - started
    backbone, fusion = system.backbone, system.fusion
    features = synthetic_features(system)
    latents = torch.randn(backbone.latent_shape(2), generator=torch.Generator().manual_seed(0)).to(
        device=backbone.device, dtype=backbone.dtype)
    embeds = backbone.encode_prompt(["", "a photo of a disc on the beach"], None, cfg=False).cond
    timestep = torch.tensor(381)
    fast, slow = fusion.config, attrs.evolve(fusion.config, precompute_subject_kv=False)

    with system.attached() as attachment, torch.no_grad():
        def arm(subject: Any, config: Any, x: Any, text: Any):
            def run() -> Any:
                fusion.config = config
                attachment.set_subject(subject)  # as the loop does before every step (a K/V cache hit)
                return backbone.predict_noise(x, timestep, text)

            return run

        arms = {"off": arm(None, fast, latents, embeds), "on": arm(features, fast, latents, embeds)}
        if plain_path:
            arms["on_plain_path"] = arm(features, slow, latents, embeds)
        measured = interleaved(arms, repeats, device)
        on_error = (measured["on"].result - measured["on_plain_path"].result).abs().max().item() if plain_path else None

        # FLOPs: the same calls from shapes alone, on the meta device (each case builds its own backbone:
        # no process-wide cache shares this UNet with the next case)
        backbone.unet.to("meta")
        meta = {k: (None if v is None else torch.empty(v.shape, device="meta", dtype=v.dtype))
                for k, v in attrs.asdict(embeds, recurse=False).items()}
        meta_embeds, meta_latents = PromptEmbeds(**meta), torch.empty(latents.shape, device="meta", dtype=latents.dtype)
        meta_features = synthetic_features(system, device="meta")
        flops = {"off": count_flops(arm(None, fast, meta_latents, meta_embeds))}
        fusion.config = fast
        flops["subject_kv"] = count_flops(lambda: attachment.set_subject(meta_features))  # a new subject: computed
        flops["on"] = count_flops(arm(meta_features, fast, meta_latents, meta_embeds))
        flops["on_plain_path"] = count_flops(arm(meta_features, slow, meta_latents, meta_embeds))
        fusion.config = fast

    seconds = {name: spread(m.seconds) for name, m in measured.items()}
    row = {"case": label, "backbone": backbone_name, "resolution": resolution, "recipe": recipe, "device": device,
           "dtype": dtype, "batch": 2, "adapter_blocks": len(fusion.layers), "repeats": repeats,
           "subject_off_step_s": seconds["off"], "subject_on_step_s": seconds["on"],
           "subject_step_ratio": round(measured["on"].median / measured["off"].median, 3),
           "flop_ratio": round(flops["on"] / flops["off"], 3),
           "subject_off_gflops": round(flops["off"] / 1e9, 1), "subject_on_gflops": round(flops["on"] / 1e9, 1),
           "subject_kv_gflops": round(flops["subject_kv"] / 1e9, 2),
           "plain_path_flop_ratio": round(flops["on_plain_path"] / flops["off"], 3),
           "interleaved_seconds": {name: [round(s, 3) for s in m.seconds] for name, m in measured.items()},
           "build_seconds": round(built, 1)}
    row["ratio_over_flop_ratio"] = round(row["subject_step_ratio"] / row["flop_ratio"], 3)
    if plain_path:
        row["subject_on_plain_path_step_s"] = seconds["on_plain_path"]
        row["plain_path_step_ratio"] = round(measured["on_plain_path"].median / measured["off"].median, 3)
        row["fast_vs_plain_path_max_abs_eps"] = on_error
    steps = system.recipe.sampling.steps
    on_steps = sum(system.schedule.at(i, steps).subject_active for i in range(steps))
    row.update({"steps": steps, "subject_on_steps": on_steps})
    del system, measured
    return row


def step_rows(cases: list[tuple], device: str, dtype: str) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        row = step_row(*case, device=device, dtype=dtype)
        print(f"{row['case']}: on/off {row['subject_step_ratio']:.3f} (FLOPs {row['flop_ratio']:.3f}; plain path "
              f"{row.get('plain_path_step_ratio', '-')}), off {row['subject_off_step_s']['median']:.2f} s",
              file=sys.stderr)
        rows.append(row)
    return rows


def single_pass_target(rows: list[dict[str, Any]], case: str = SINGLE_PASS_CASE) -> dict[str, Any]:
    """Single-pass EZIGen per image vs plain, from the step rows: measured <= 1.1 x the FLOP limit."""
    row = next(r for r in rows if r["case"] == case)
    steps, on = row["steps"], row["subject_on_steps"]
    off = steps - on
    measured = (off + on * row["subject_step_ratio"]) / steps
    limit = (off + on * row["flop_ratio"]) / steps
    return {"target": f"single-pass EZIGen ({case}, {off} subject-off + {on} subject-on steps) <= "
            f"{SINGLE_PASS_FACTOR} x its FLOP limit", "measured_x_plain": round(measured, 3),
            "flop_limit_x_plain": round(limit, 3), "limit": round(SINGLE_PASS_FACTOR * limit, 3),
            "met": measured <= SINGLE_PASS_FACTOR * limit}

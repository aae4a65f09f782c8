"""The performance targets of issues 9 and 20, each measured as a ratio in one run on one machine.

1. single-pass EZIGen at 512 px <= 1.1 x its FLOP limit, judged at real size from the step rows
   (``benchmarks/real_cpu.py``: ``--real-cpu`` on CPU, ``--real`` on a GPU); it replaced a tiny-model
   ratio, where Python overhead, not arithmetic, sets the cost;
2. a subject-cache hit costs zero UNet passes (in memory, and from the on-disk cache in a
   second, freshly built system with an empty memory cache);
3. EZIGen with the default refinement and the fast paths >= 1.3 x faster than the same recipe
   on the released path, with the same number of iterations;
4. peak memory of EZIGen with ``share_backbone_weights`` <= plain pipeline + adapter weights + 10%.

Plus how far each fast path moves the image from the released path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from benchmarks.measure import interleaved
from benchmarks.recipes import PROMPT, SUBJECT_PROMPT, ours_call, plain_call, subject_image

ITERATIONS = 3
RELEASED = ["refinement.stop.type=fixed", f"refinement.stop.iterations={ITERATIONS}"]
FAST = RELEASED + ["refinement.vae_roundtrip=false"]


def build(recipe: str, overrides: list[str], tiny: bool, device: str) -> Any:
    import ezigen

    system = ezigen.build_system(ezigen.load_recipe(recipe, overrides + BACKBONE, tiny=tiny))
    return system.to(device)


BACKBONE: list[str] = []  # extra overrides for every system (the real-size backbone in --real runs)
CLIP_STOP: list[str] = []  # the clip-similarity stop model for systems that use that stop (--real runs)


def pixel_distance(a: Any, b: Any) -> float:
    """Mean absolute pixel difference in [0, 1]."""
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean() / 255.0)


def cache_target(device: str, tiny: bool, base: str) -> dict[str, Any]:
    subject = subject_image()
    with tempfile.TemporaryDirectory() as folder:
        first = build(f"ablations/{base}-single-pass", [f"sampling.feature_cache={folder}"], tiny, device)
        cold = first.generate(PROMPT, subject=subject, subject_prompt=SUBJECT_PROMPT, seed=0).trace.totals
        warm = first.generate(PROMPT, subject=subject, subject_prompt=SUBJECT_PROMPT, seed=1).trace.totals
        other = build(f"ablations/{base}-single-pass", [f"sampling.feature_cache={folder}"], tiny, device)
        disk = other.generate("another prompt", subject=subject, subject_prompt=SUBJECT_PROMPT, seed=2).trace.totals
    steps = first.recipe.sampling.steps
    plain_evals = 2 * steps
    extra = {"memory": warm["unet_evals"] - plain_evals, "disk": disk["unet_evals"] - plain_evals}
    return {"target": "a subject-cache hit costs zero UNet passes", "cold_subject_unet_evals":
            cold["unet_evals"] - plain_evals, "hit_extra_unet_evals_memory": extra["memory"],
            "hit_extra_unet_evals_disk": extra["disk"], "subject_encodings_on_hit":
            warm["subject_encodings"] + disk["subject_encodings"],
            "met": extra["memory"] == 0 and extra["disk"] == 0
            and warm["subject_encodings"] + disk["subject_encodings"] == 0}


def refinement_target(repeats: int, device: str, tiny: bool, base: str, fast_extra: list[str]) -> dict[str, Any]:
    released = build(base, RELEASED, tiny, device)
    fast = build(base, FAST + fast_extra, tiny, device)
    subject = subject_image()
    measured = interleaved({"released": ours_call(released, 0, subject), "fast": ours_call(fast, 0, subject)},
                           repeats, device)
    speedup = measured["released"].median / measured["fast"].median
    return {"target": f"EZIGen + default refinement ({ITERATIONS} iterations) with fast paths >= 1.3x faster than "
            "the released path", "fast_paths": FAST[2:] + fast_extra, "speedup": round(speedup, 3), "limit": 1.3,
            "met": speedup >= 1.3, "released_seconds": round(measured["released"].median, 4),
            "fast_seconds": round(measured["fast"].median, 4),
            "image_distance": round(pixel_distance(measured["released"].result.image, measured["fast"].result.image), 4)}


def fast_path_distances(device: str, tiny: bool, base: str, seeds: int = 4) -> list[dict[str, Any]]:
    """How far each fast path moves the final image from the released path with 3 fixed iterations
    (same seeds); the released stop rule itself is one of the rows."""
    released = build(base, RELEASED, tiny, device)
    variants = {
        "no VAE round trip": build(base, FAST, tiny, device),
        "no VAE round trip + latent-similarity stop (3..9)": build(
            base, ["refinement.stop.type=latent-similarity", "refinement.vae_roundtrip=false"], tiny, device),
        "released stop rule (clip-similarity)": build(base, list(CLIP_STOP), tiny, device),
    }
    subject = subject_image()
    reference = [released.generate(PROMPT, subject=subject, subject_prompt=SUBJECT_PROMPT, seed=s) for s in range(seeds)]
    rows = []
    for name, system in variants.items():
        results = [system.generate(PROMPT, subject=subject, subject_prompt=SUBJECT_PROMPT, seed=s) for s in range(seeds)]
        distances = [pixel_distance(a.image, b.image) for a, b in zip(reference, results)]
        rows.append({"fast_path": name, "mean_abs_pixel_difference": round(float(np.mean(distances)), 4),
                     "iterations": [int(r.trace.totals["iterations"]) for r in results],
                     "vae_passes": [int(r.trace.totals["vae_encodes"] + r.trace.totals["vae_decodes"]) for r in results]})
    return rows


REAL_SIZE_ON_CPU = ["backbone.pretrained=random:sd21-base", "backbone.resolution=128", "sampling.steps=4"]


def memory_target(tiny: bool, device: str, base: str, overrides: list[str] | tuple[str, ...] = (),
                  label: str = "") -> dict[str, Any]:
    """Peak RSS (CPU) or peak allocated memory (CUDA) of fresh processes generating one image.

    ``overrides`` pick the backbone: on CPU the tiny one hides under torch's own footprint, so the
    full run also probes the real-size SD2.1 architecture (random weights) at 128 px for 4 steps,
    where a second UNet copy would show as +3.3 GB."""
    probe = [sys.executable, "-m", "benchmarks.memory_probe", "--device", device] + (["--tiny"] if tiny else [])
    for override in overrides:
        probe += ["--set", override]

    def run(*args: str) -> dict[str, Any]:
        path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)  # keeps gpu.sh's
        out = subprocess.run(probe + list(args), capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": path})
        return json.loads(out.stdout.strip().splitlines()[-1])

    plain = run("--plain", f"ablations/{base}-single-pass")
    shared = run(f"ablations/{base}-single-pass")
    copied = run(f"ablations/{base}-single-pass", "--set", "subject_encoder.share_backbone_weights=false")
    limit = plain["peak_mb"] + shared["adapter_mb"] + 0.10 * plain["peak_mb"]
    return {"target": "peak memory of EZIGen (shared weights) <= plain + adapter weights + 10%"
            + (f" ({label})" if label else ""),
            "plain_peak_mb": plain["peak_mb"], "ezigen_peak_mb": shared["peak_mb"], "adapter_mb": shared["adapter_mb"],
            "separate_copy_peak_mb": copied["peak_mb"], "limit_mb": round(limit, 1), "met": shared["peak_mb"] <= limit}

"""``python -m benchmarks --out DIR [--quick | --real-cpu | --real]``: per-recipe costs and the performance targets.

On CPU the recipes run on the tiny backbones (``--tiny``), for the cache, refinement and memory
targets. ``--real-cpu`` measures one CFG step with the subject off vs on at real size on CPU
(random-weight SD2.1-base at 256 and 512 px, SDXL-base at 512 px; benchmarks/real_cpu.py), with
each measured ratio beside its FLOP ratio, and the single-pass target from them (~10 minutes on 2
cores). ``--real`` measures real-size SD2.1-base (512 px) and SDXL-base (1024 px) end to end plus
the same step rows (meant for a GPU: benchmarks/gpu.sh). Writes DIR/results.json and DIR/results.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 5 minutes on 2 cores)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--recipes", nargs="*", default=None, help="recipe names (default: every generation recipe)")
    parser.add_argument("--real", action="store_true", help="real-size random-weight backbones (a GPU)")
    parser.add_argument("--real-cpu", action="store_true",
                        help="only the real-size step rows on CPU and the single-pass target (~10 min on 2 cores)")
    parser.add_argument("--step-repeats", type=int, default=None,
                        help="timed repeats per arm of every step row (default: per case, see benchmarks/real_cpu.py)")
    parser.add_argument("--fast", nargs="*", default=["backbone.compile=default"],
                        help="--set overrides of the fast path besides refinement.vae_roundtrip=false "
                        "(default: torch.compile with inductor)")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    import torch

    from benchmarks import targets
    from benchmarks.measure import machine_info
    from benchmarks.recipes import generation_recipes, recipe_row
    from benchmarks.report import write_results

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.real_cpu:
        real_cpu_section(args)
        return
    # --quick: one timed run per recipe row after its warm-up (the rows are informative), but 5 interleaved
    # repeats for the targets, whose ratios must be read to a few percent on a noisy 2-core machine
    repeats = 1 if args.quick else 5
    target_repeats = 5 if args.quick else 9
    sections: dict[str, float] = {}
    started = time.perf_counter()
    tiny = not args.real
    mark = time.perf_counter()
    if args.real:
        from benchmarks.real import real_rows

        rows = real_rows(device, args.dtype, repeats)
        targets.BACKBONE[:] = ["backbone.pretrained=random:sd21-base", "backbone.resolution=512",
                               f"backbone.dtype={args.dtype}"]
        # offline: the released CLIP stop model cannot be downloaded; only recipes that keep that stop get it
        # (setting a key under a null section would bring the section back, e.g. refinement in single pass)
        targets.CLIP_STOP[:] = ["refinement.stop.pretrained=tiny:clip"]
    else:
        rows = []
        for name in args.recipes if args.recipes is not None else generation_recipes():
            row = recipe_row(name, repeats=repeats, device=device, tiny=True)
            rows.append(row)
            print(f"{name}: {row['seconds_per_image']:.3f} s/image, {row['ratio_to_plain']:.2f}x plain, "
                  f"{row['unet_evals']} UNet evals", file=sys.stderr)
    sections["recipe rows"], mark = time.perf_counter() - mark, time.perf_counter()
    step = []
    target_rows = []
    if args.real:  # the single-pass target is judged at real size only (on CPU: --real-cpu)
        from benchmarks.real_cpu import GPU_CASES, single_pass_target, step_rows

        step = step_rows(with_repeats(GPU_CASES, args.step_repeats), device, args.dtype)
        target_rows.append(single_pass_target(step))
        sections["step rows"], mark = time.perf_counter() - mark, time.perf_counter()
    target_rows.append(targets.cache_target(device, tiny, "ezigen-sd21"))
    sections["cache target"], mark = time.perf_counter() - mark, time.perf_counter()
    target_rows.append(targets.refinement_target(target_repeats, device, tiny, "ezigen-sd21-base", list(args.fast)))
    sections["refinement target"], mark = time.perf_counter() - mark, time.perf_counter()
    if args.real:
        target_rows.append(targets.memory_target(False, device, "ezigen-sd21", targets.BACKBONE,
                                                 "real-size SD2.1-base, 512 px"))
    else:
        target_rows.append(targets.memory_target(True, device, "ezigen-sd21", (), "tiny:sd21"))
        if not args.quick:  # ~100 s on 2 cores: three fresh processes holding 5-9 GB
            target_rows.append(targets.memory_target(False, device, "ezigen-sd21", targets.REAL_SIZE_ON_CPU,
                                                     "real-size SD2.1-base architecture, 128 px, 4 steps"))
    sections["memory target"], mark = time.perf_counter() - mark, time.perf_counter()
    for row in target_rows:
        print(f"{row['target']}: {'met' if row['met'] else 'NOT met'}", file=sys.stderr)
    distances = targets.fast_path_distances(device, tiny, "ezigen-sd21-base", seeds=1 if args.quick else 4)
    sections["fast-path distances"] = time.perf_counter() - mark
    results = {"machine": machine_info(device), "rows": rows, "step_rows": step, "targets": target_rows,
               "fast_path_distances": distances, "quick": args.quick, "real": args.real,
               "repeats": {"rows": repeats, "targets": target_repeats},
               "section_seconds": {k: round(v, 1) for k, v in sections.items()},
               "seconds": round(time.perf_counter() - started, 1)}
    write_results(args.out, results)
    print(os.path.join(args.out, "results.json"))


def with_repeats(cases: list[tuple], repeats: int | None) -> list[tuple]:
    return [case[:4] + (repeats if repeats is not None else case[4],) + case[5:] for case in cases]


def real_cpu_section(args: argparse.Namespace) -> None:
    """``--real-cpu``: the step rows on CPU, the single-pass target from them; results.json / results.md."""

    from benchmarks.measure import machine_info
    from benchmarks.real_cpu import CPU_CASES, single_pass_target, step_rows
    from benchmarks.report import write_results

    started = time.perf_counter()
    step = step_rows(with_repeats(CPU_CASES, args.step_repeats), "cpu", args.dtype)
    target = single_pass_target(step)
    print(f"{target['target']}: {'met' if target['met'] else 'NOT met'}", file=sys.stderr)
    write_results(args.out, {"machine": machine_info("cpu"), "rows": [], "step_rows": step, "targets": [target],
                             "fast_path_distances": [], "real_cpu": True,
                             "seconds": round(time.perf_counter() - started, 1)})
    print(os.path.join(args.out, "results.json"))


if __name__ == "__main__":
    main()

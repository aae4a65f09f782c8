"""Writing benchmark results: results.json (the schema of issue 9) and results.md."""

from __future__ import annotations

import os
from typing import Any

from ezigen.io import write_json_atomic, write_text_atomic


def write_results(out: str, results: dict[str, Any]) -> None:
    os.makedirs(out, exist_ok=True)
    write_json_atomic(os.path.join(out, "results.json"), results)
    write_text_atomic(os.path.join(out, "results.md"), render(results))


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [f"Measured {machine['date']} on {machine.get('gpu', machine['platform'])} ({machine['device']}, "
             f"{machine['cpu_count']} CPUs, torch {machine['torch']}, {machine['torch_threads']} threads)"
             f"{' — quick run' if results.get('quick') else ''}."]
    if results.get("step_rows"):
        lines += ["", *render_step_rows(results["step_rows"])]
        if results.get("seconds") and not results["rows"]:
            lines += ["", f"Section total: {results['seconds']} s."]
    if results["rows"]:
        lines += ["", "| recipe | backbone | res | steps | s / image | x plain | UNet evals (plain) | subject enc. | "
                  "VAE enc/dec | iterations | peak MB (plain) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['recipe']} | {r['backbone']} | {r['resolution']} | {r['steps']} | "
                     f"{r['seconds_per_image']:.3f} | {r['ratio_to_plain']:.2f} | {r['unet_evals']} "
                     f"({r['plain_unet_evals']}) | {r['subject_encodings']} | {r['vae_encodes']}/{r['vae_decodes']} | "
                     f"{r['iterations']} | {r['peak_mem_mb']:.1f} ({r['plain_peak_mem_mb']:.1f}) |")
    if machine["device"] == "cpu" and results["rows"]:
        lines += ["", "Peak MB on CPU is the resident memory a generation adds to the process during its untimed warm-up "
                  "run: under 25 MB for the tiny backbones, whose activations fit memory the process already "
                  "holds. The memory target below starts fresh processes instead (and, in a full run, measures "
                  "the real-size SD2.1 architecture)."]
    if results.get("repeats"):
        lines += ["", f"Seconds: median of {results['repeats']['rows']} timed run(s) per recipe row and "
                  f"{results['repeats']['targets']} per target, after a warm-up, alternating with the plain "
                  "pipeline. Sections (s): " + ", ".join(f"{k} {v}" for k, v in results.get("section_seconds", {}).items())
                  + f"; total {results.get('seconds')}."]
    lines += ["", "| target | result | met |", "|---|---|---|"]
    for t in results["targets"]:
        detail = ", ".join(f"{k}={v}" for k, v in t.items() if k not in ("target", "met"))
        lines.append(f"| {t['target']} | {detail} | {'yes' if t['met'] else 'NO'} |")
    if not results["fast_path_distances"]:
        return "\n".join(lines) + "\n"
    lines += ["", "| fast path | mean abs pixel difference from the released path (3 fixed iterations) | iterations | VAE passes |",
              "|---|---|---|---|"]
    for d in results["fast_path_distances"]:
        lines.append(f"| {d['fast_path']} | {d['mean_abs_pixel_difference']:.4f} | {d['iterations']} | "
                     f"{d['vae_passes']} |")
    return "\n".join(lines) + "\n"


def render_step_rows(rows: list[dict[str, Any]]) -> list[str]:
    """One CFG step (batch 2), subject off vs on: seconds as median [min, max] of the interleaved repeats."""

    def sec(d: dict[str, float]) -> str:
        return f"{d['median']:.2f} [{d['min']:.2f}, {d['max']:.2f}]"

    lines = ["| case | dtype | repeats | off s | on s | subject_step_ratio | flop_ratio | measured / FLOP | "
             "GFLOPs off / on (K/V once) | plain path: on s, ratio, flop ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        plain = (f"{sec(r['subject_on_plain_path_step_s'])}, {r['plain_path_step_ratio']:.3f}, "
                 f"{r['plain_path_flop_ratio']:.3f}" if "plain_path_step_ratio" in r
                 else f"-, -, {r['plain_path_flop_ratio']:.3f}")
        lines.append(f"| {r['case']} | {r['dtype']} | {r['repeats']} | {sec(r['subject_off_step_s'])} | "
                     f"{sec(r['subject_on_step_s'])} | {r['subject_step_ratio']:.3f} | {r['flop_ratio']:.3f} | "
                     f"{r['ratio_over_flop_ratio']:.3f} | {r['subject_off_gflops']:,.0f} / {r['subject_on_gflops']:,.0f} "
                     f"({r['subject_kv_gflops']:,.1f}) | {plain} |")
    return lines

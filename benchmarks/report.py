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
             f"{' — quick run' if results.get('quick') else ''}.", "",
             "| recipe | backbone | res | steps | s / image | x plain | UNet evals (plain) | subject enc. | "
             "VAE enc/dec | iterations | peak MB (plain) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['recipe']} | {r['backbone']} | {r['resolution']} | {r['steps']} | "
                     f"{r['seconds_per_image']:.3f} | {r['ratio_to_plain']:.2f} | {r['unet_evals']} "
                     f"({r['plain_unet_evals']}) | {r['subject_encodings']} | {r['vae_encodes']}/{r['vae_decodes']} | "
                     f"{r['iterations']} | {r['peak_mem_mb']:.1f} ({r['plain_peak_mem_mb']:.1f}) |")
    if machine["device"] == "cpu":
        lines += ["", "Peak MB on CPU is the resident memory a generation adds to the process during its untimed warm-up "
                  "run: under 25 MB for the tiny backbones, whose activations fit memory the process already "
                  "holds. The memory target below starts fresh processes instead (and, in a full run, measures "
                  "the real-size SD2.1 architecture)."]
    if results.get("repeats"):
        lines += ["", f"Seconds: median of {results['repeats']['rows']} timed run(s) per recipe row and "
                  f"{results['repeats']['targets']} per target ({results['repeats'].get('single_pass_target')} for the "
                  "single-pass target), after a warm-up, alternating with the plain "
                  "pipeline. Sections (s): " + ", ".join(f"{k} {v}" for k, v in results.get("section_seconds", {}).items())
                  + f"; total {results.get('seconds')}."]
    lines += ["", "| target | result | met |", "|---|---|---|"]
    for t in results["targets"]:
        detail = ", ".join(f"{k}={v}" for k, v in t.items() if k not in ("target", "met"))
        lines.append(f"| {t['target']} | {detail} | {'yes' if t['met'] else 'NO'} |")
    lines += ["", "| fast path | mean abs pixel difference from the released path (3 fixed iterations) | iterations | VAE passes |",
              "|---|---|---|---|"]
    for d in results["fast_path_distances"]:
        lines.append(f"| {d['fast_path']} | {d['mean_abs_pixel_difference']:.4f} | {d['iterations']} | "
                     f"{d['vae_passes']} |")
    return "\n".join(lines) + "\n"

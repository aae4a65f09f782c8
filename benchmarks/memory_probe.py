"""One fresh process, one image: prints {"peak_mb", "adapter_mb"} (peak RSS on CPU, CUDA peak on GPU).

On Linux the peak RSS is VmHWM from /proc/self/status: ``ru_maxrss`` survives ``execve``, so a probe
started from a big parent (the benchmark process) would report the parent's size."""

from __future__ import annotations

import argparse
import json
import resource
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("--plain", action="store_true", help="the plain diffusers pipeline on the same backbone")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    import torch

    import ezigen
    from benchmarks.recipes import ours_call, plain_call, subject_image

    # the peak (VmHWM) is a lifetime high-water mark: the plain probe must never build the adapters or the encoder
    overrides = args.overrides + (["fusion=null", "subject_encoder=null", "refinement=null"] if args.plain else [])
    system = ezigen.build_system(ezigen.load_recipe(args.recipe, overrides, tiny=args.tiny)).to(args.device)
    adapter_mb = 0.0
    if system.fusion is not None:
        adapter_mb = sum(p.numel() * p.element_size() for p in system.fusion.parameters()) / 2**20
    if args.plain:
        run, _ = plain_call(system, 0)
    else:
        run = ours_call(system, 0, subject_image())
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    run()
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = _peak_rss_mb()
    print(json.dumps({"peak_mb": round(peak, 1), "adapter_mb": round(adapter_mb, 3)}))


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


if __name__ == "__main__":
    main()

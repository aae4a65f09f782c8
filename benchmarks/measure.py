"""Measuring one generation: median seconds over repeats after a warm-up, and peak memory.

Peak memory, taken during the untimed warm-up run: on CUDA, ``torch.cuda.max_memory_allocated``
after a reset (an absolute peak, weights included); on CPU (torch has no allocator statistics
there) the resident set size sampled every millisecond by a thread, minus the RSS before the
call: the extra memory the generation needed beyond what the process already held, first-call
allocations (and, for a compiled UNet, the compilation) included.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs


@attrs.define
class Measurement:
    seconds: list[float]
    peak_mem_mb: float
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class PeakRSS:
    """Context manager: peak RSS above the starting RSS, in MB (CPU)."""

    def __init__(self, interval: float = 0.001):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def megabytes(self) -> float:
        return (self.peak - self.start) / 2**20


def peak_memory(fn: Callable[[], Any], device: str) -> tuple[Any, float]:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        result = fn()
        torch.cuda.synchronize()
        return result, torch.cuda.max_memory_allocated() / 2**20
    with PeakRSS() as rss:
        result = fn()
    return result, rss.megabytes


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, device: str) -> dict[str, Measurement]:
    """Measure several callables in alternation (a, b, a, b, ...) so drift hits all of them alike.

    Each callable's untimed warm-up run is also its memory run, so the RSS sampling thread on CPU
    never competes with a timed run."""
    import torch

    out = {name: Measurement([], 0.0) for name in fns}
    for name, fn in fns.items():
        out[name].result, out[name].peak_mem_mb = peak_memory(fn, device)
    for _ in range(repeats):
        for name, fn in fns.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            out[name].result = fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            out[name].seconds.append(time.perf_counter() - started)
    return out


def machine_info(device: str) -> dict[str, Any]:
    import os
    import platform

    import diffusers
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": device, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    return info

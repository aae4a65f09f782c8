"""Device names as users give them (``--device auto|cpu|cuda|cuda:N|mps``), checked before any model loads."""

from __future__ import annotations

from ezigen.errors import EzigenError


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; a device this torch cannot use is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = name.split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise EzigenError(f"--device {name}: this torch ({torch.__version__}) has no usable CUDA device; "
                          "use --device cpu (or auto)")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise EzigenError(f"--device {name}: MPS is not available here; use --device cpu (or auto)")
    if kind not in ("cpu", "cuda", "mps", "xpu"):
        raise EzigenError(f"--device {name!r}: expected auto, cpu, cuda, cuda:N or mps")
    return name

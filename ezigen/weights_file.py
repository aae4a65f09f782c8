"""Fusion weight files: safetensors with a small metadata header.

Header (safetensors ``__metadata__``, all strings): ``ezigen.format`` (version), ``ezigen.fusion``
(registry name), ``ezigen.backbone`` (``sd`` | ``sdxl``), ``ezigen.layers`` (JSON list of the
UNet layer names it attaches to), ``ezigen.config`` (JSON of the fusion config). Tensor names
follow the layout of the method's own releases (EZIGen: the released main-UNet keys of the
adapters plus ``learnable_weights``), so files stay readable by other tools.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ezigen.errors import WeightsError

FORMAT_VERSION = "1"


def save_weights(path: str, tensors: dict[str, Any], *, fusion: str, backbone: str, layers: list[str],
                 config: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    from ezigen.io import atomic_path

    metadata = {
        "ezigen.format": FORMAT_VERSION,
        "ezigen.fusion": fusion,
        "ezigen.backbone": backbone,
        "ezigen.layers": json.dumps(layers),
        "ezigen.config": json.dumps(config, default=str),
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    from safetensors import SafetensorError

    try:
        with atomic_path(path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
    except SafetensorError as exc:  # its write failures (no space, read-only) are I/O errors in all but type
        raise OSError(f"{exc}") from None


def read_state_dict(path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) from a .safetensors file, or a .bin/.pt file read with ``weights_only=True``."""
    import torch

    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path!r} does not exist")
    if os.path.getsize(path) == 0:
        raise WeightsError(f"weights file {path!r} is empty")
    with open(path, "rb") as fh:
        head = fh.read(16)
    is_safetensors = path.endswith(".safetensors") or (len(head) >= 9 and head[8:9] == b"{")
    try:
        if is_safetensors:
            from safetensors import safe_open

            tensors = {}
            with safe_open(path, framework="pt") as fh:
                metadata = dict(fh.metadata() or {})
                for key in fh.keys():
                    tensors[key] = fh.get_tensor(key)
            return tensors, metadata
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"weights file {path!r} cannot be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {path!r} does not hold a state dict (got {type(state).__name__})")
    return state, {}


def check_tensors(tensors: dict[Any, Any], source: str, expected: dict[str, Any] | None = None) -> None:
    """Every key a string, every value a tensor, every floating tensor finite, and (given ``expected``,
    key -> the model's tensor) no bool/integer tensor where the model has floats; else one error naming the keys.

    A NaN or Inf weight is never what anyone trained: loaded silently, it turns every image black
    (exit 0). ``torch.isfinite`` reads each tensor once, a fraction of the time loading it took.
    """
    import torch

    bad_keys = [repr(k) for k in tensors if not isinstance(k, str)]
    not_tensors = [f"{k} ({type(v).__name__})" for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    non_finite = []
    for key, value in tensors.items():
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                count = int((~finite).sum())
                kinds = "/".join(name for name, test in (("NaN", torch.isnan), ("Inf", torch.isinf))
                                 if bool(test(value).any()))
                non_finite.append(f"{key} ({count} {kinds} of {value.numel()})")
    wrong_kind = [f"{k} ({v.dtype} in the file, {expected[k].dtype} in the model)" for k, v in tensors.items()
                  if expected is not None and isinstance(v, torch.Tensor) and k in expected
                  and expected[k].is_floating_point() and not v.is_floating_point()]  # cast silently otherwise
    lines = []
    for title, items in (("keys that are not strings", bad_keys), ("values that are not tensors", not_tensors),
                         ("tensors with NaN or Inf values", non_finite),
                         ("integer or bool tensors where the model has floats", wrong_kind)):
        if items:
            shown = items[:10] + ([f"... and {len(items) - 10} more"] if len(items) > 10 else [])
            lines.append(f"  {title} ({len(items)}): " + ", ".join(shown))
    if lines:
        raise WeightsError("\n".join([f"{source} cannot be used:", *lines]))


def check_keys(expected: dict[str, tuple[int, ...]], found: dict[str, Any], what: str, source: str) -> None:
    """Exact key and shape match, or one error listing missing keys, unexpected keys and shape mismatches."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = sorted(
        f"{k}: file {tuple(found[k].shape)} vs model {expected[k]}"
        for k in set(expected) & set(found) if tuple(found[k].shape) != tuple(expected[k])
    )
    if not (missing or unexpected or mismatched):
        return
    lines = [f"{source} does not fit {what}:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            shown = items[:20] + ([f"... and {len(items) - 20} more"] if len(items) > 20 else [])
            lines.append(f"  {title} ({len(items)}): " + ", ".join(shown))
    raise WeightsError("\n".join(lines))

"""The ``decoupled-cross-attention`` fusion's recipe keys: its config and enums (the method: ``__init__.py``; the module: ``model.py``)."""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs

from ezigen.config import in_range, setting


class Projection(enum.Enum):
    LINEAR = "linear"
    RESAMPLER = "resampler"


class NegativeSubject(enum.Enum):
    EMPTY = "empty"  # IP-Adapter: the unconditional branch sees "no image"
    SUBJECT = "subject"  # EZIGen's convention: the subject in both branches


def _scale_ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_layer_scales(value: Any) -> None:
    """InstantStyle's shape, checked when the recipe is validated: null, a number, or a mapping of
    ``down`` / ``mid`` / ``up`` to a number, (``mid``) a one-number list, or (``down`` / ``up``) a
    mapping ``block_N`` -> a number or a list of numbers (one per transformer layer of that block;
    the counts and which blocks exist depend on the UNet and are checked when the fusion is built)."""
    if value is None or _scale_ok(value):
        return
    shape = "null, a number, or a mapping of down / mid / up, e.g. {up: {block_0: [0.0, 1.0, 0.0]}}"
    if not isinstance(value, dict):
        raise ValueError(f"expected {shape}")
    for part, scales in value.items():
        if part not in ("down", "mid", "up"):
            raise ValueError(f"unknown part {part!r}; expected {shape}")
        if part == "mid":
            if not (_scale_ok(scales) or (isinstance(scales, list) and len(scales) == 1 and _scale_ok(scales[0]))):
                raise ValueError("mid must be a number or a list of one number")
        elif isinstance(scales, dict):
            for block, block_scales in scales.items():
                if not (isinstance(block, str) and block.startswith("block_") and block[6:].isdigit()):
                    raise ValueError(f"{part}: {block!r} is not a block name (block_0, block_1, ...)")
                if not (_scale_ok(block_scales) or (isinstance(block_scales, list) and block_scales
                                                    and all(_scale_ok(v) for v in block_scales))):
                    raise ValueError(f"{part}.{block} must be a number or a list of numbers")
        elif not _scale_ok(scales):
            raise ValueError(f"{part} must be a number or a mapping of block_N to numbers")


@attrs.frozen
class DecoupledCrossAttentionConfig:
    weights: str | None = setting(
        None, doc="IP-Adapter weights: an official file (.bin / .safetensors, e.g. hf://h94/IP-Adapter/models/"
        "ip-adapter_sd15.safetensors) or one trained by `ezigen train`; null = untrained init.", tiny="drop",
    )
    scale: float = setting(1.0, doc="Global image-prompt scale s (IP-Adapter's scale; 0 = off).",
                           validator=in_range(0.0, 10.0))
    layer_scales: Any = setting(
        None, doc="Per-layer scales in InstantStyle's format, e.g. {up: {block_0: [0.0, 1.0, 0.0]}}; layers "
        "not named get 0 when given (diffusers' set_ip_adapter_scale rules); null = 1 everywhere.",
        validator=lambda _inst, _attr, value: check_layer_scales(value),
    )
    projection: Projection = setting(Projection.LINEAR, doc="linear (IP-Adapter) | resampler (IP-Adapter Plus).")
    num_tokens: int | None = setting(None, doc="Image tokens N; null = 4 (linear) or 16 (resampler).",
                                     validator=in_range(1, 1024))
    negative: NegativeSubject = setting(NegativeSubject.EMPTY, doc="What the unconditional CFG branch sees: "
                                        "empty (IP-Adapter) | subject (EZIGen's convention).")
    image_embed_dim: int | None = setting(None, doc="Encoder token size D; null = taken from the recipe's encoder.",
                                          validator=in_range(1, 100000))

"""The ``decoupled-cross-attention`` fusion's recipe keys: its config and enums (the method: ``__init__.py``; the module: ``model.py``)."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ezigen.config import in_range, setting


class Projection(enum.Enum):
    LINEAR = "linear"
    RESAMPLER = "resampler"


class NegativeSubject(enum.Enum):
    EMPTY = "empty"  # IP-Adapter: the unconditional branch sees "no image"
    SUBJECT = "subject"  # EZIGen's convention: the subject in both branches


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
    )
    projection: Projection = setting(Projection.LINEAR, doc="linear (IP-Adapter) | resampler (IP-Adapter Plus).")
    num_tokens: int | None = setting(None, doc="Image tokens N; null = 4 (linear) or 16 (resampler).",
                                     validator=in_range(1, 1024))
    negative: NegativeSubject = setting(NegativeSubject.EMPTY, doc="What the unconditional CFG branch sees: "
                                        "empty (IP-Adapter) | subject (EZIGen's convention).")
    image_embed_dim: int | None = setting(None, doc="Encoder token size D; null = taken from the recipe's encoder.",
                                          validator=in_range(1, 100000))

"""The ``adapter-attention`` fusion's recipe keys: its config and enums (the method: ``__init__.py``; the module: ``model.py``)."""

from __future__ import annotations

import attrs

from ezigen.config import in_range, setting


@attrs.frozen
class AdapterAttentionConfig:
    weights: str | None = setting(
        None, doc="Adapter weights (.safetensors from `ezigen train` or `ezigen weights convert`); null = "
        "initialised as copies of each block's attn1/norm1 (untrained).", tiny="drop",
    )
    scale: float = setting(1.0, doc="Strength of the adapter output s (1 = as trained; 0 = off).",
                           validator=in_range(0.0, 10.0))
    residual_connection: bool | None = setting(
        None, doc="Add the adapter's LayerNormed input to its output (released SD2.1: true; SDXL configs: false); "
        "null = the backbone's default (true for SD2.1-style, false for SDXL-style).",
    )
    gated: bool = setting(False, doc="A released-but-unused option: multiply the adapter output by tanh(g), "
                          "g a trainable scalar per block initialised to 0 (training starts from the frozen model).")
    only_up: bool = setting(False, doc="Adapters only in the up blocks (an option of the authors' SDXL code).")

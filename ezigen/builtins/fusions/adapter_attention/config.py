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
    gated: bool = setting(False, doc="The released (unused) gate: a trainable (1, 1) scalar g per block, initialised "
                          "to 0, multiplying the attention output inside the adapter, before its double residual: "
                          "g o + u, no tanh.")
    tanh_gate: bool = setting(False, doc="ezigen's gate (the toy model's): tanh(g) times the whole adapter output, "
                              "tanh(g) (o [+ u]), g (1,) per block initialised to 0 (training starts from the "
                              "frozen model). Not with gated.")
    only_up: bool = setting(False, doc="Adapters only in the up blocks (an option of the authors' SDXL code).")
    precompute_subject_kv: bool = setting(
        True, doc="Compute the subject half of the adapter's keys and values, W_k(w_l S_l) and W_v(w_l S_l), once per "
        "subject (recomputed when those weights change) instead of at every step and for every CFG row; the same "
        "noise prediction to float tolerance. false = the plain path (K/V of the concatenated tokens at every call).")

    def __attrs_post_init__(self) -> None:
        if self.gated and self.tanh_gate:
            raise ValueError("gated (the released g o + u) and tanh_gate (ezigen's tanh(g) (o + u)) are two different "
                             "gates: set at most one of them")

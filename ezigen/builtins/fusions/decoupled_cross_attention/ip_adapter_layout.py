"""The official IP-Adapter weight layout, both ways.

Reading uses diffusers' own converters (``UNet2DConditionLoadersMixin.
_convert_ip_adapter_image_proj_to_diffusers``). diffusers has no converter back to the
official layout, which our trained files need so that diffusers' ``load_ip_adapter`` reads
them; :func:`image_proj_to_official` inverts diffusers' key map by hand for the two
projections ezigen trains (linear and resampler), and a test round-trips it through
diffusers' converter.
"""

from __future__ import annotations

import re
from typing import Any

_PLUS_RULES = [  # (diffusers key pattern, official key) for one resampler layer i
    (r"layers\.(\d+)\.ln0\.(.*)", r"layers.\1.0.norm1.\2"),
    (r"layers\.(\d+)\.ln1\.(.*)", r"layers.\1.0.norm2.\2"),
    (r"layers\.(\d+)\.attn\.to_q\.(.*)", r"layers.\1.0.to_q.\2"),
    (r"layers\.(\d+)\.attn\.to_out\.0\.(.*)", r"layers.\1.0.to_out.\2"),
    (r"layers\.(\d+)\.ff\.0\.(.*)", r"layers.\1.1.0.\2"),
    (r"layers\.(\d+)\.ff\.1\.net\.0\.proj\.(.*)", r"layers.\1.1.1.\2"),
    (r"layers\.(\d+)\.ff\.1\.net\.2\.(.*)", r"layers.\1.1.3.\2"),
]


def split_official(tensors: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A flat (``image_proj.x`` / ``ip_adapter.x``) or nested ({image_proj: {...}}) state -> the two parts."""
    if "image_proj" in tensors and isinstance(tensors["image_proj"], dict):
        return dict(tensors["image_proj"]), dict(tensors["ip_adapter"])
    image_proj = {k[len("image_proj."):]: v for k, v in tensors.items() if k.startswith("image_proj.")}
    ip_adapter = {k[len("ip_adapter."):]: v for k, v in tensors.items() if k.startswith("ip_adapter.")}
    return image_proj, ip_adapter


def image_proj_to_official(state: dict[str, Any], kind: str) -> dict[str, Any]:
    """A diffusers ``ImageProjection`` / ``IPAdapterPlusImageProjection`` state dict -> official keys."""
    if kind == "linear":
        return {k.replace("image_embeds", "proj"): v for k, v in state.items()}
    import torch

    out: dict[str, Any] = {}
    for key, value in state.items():
        match = re.fullmatch(r"layers\.(\d+)\.attn\.to_([kv])\.(.*)", key)
        if match:
            layer, which, rest = match.groups()
            if which == "k":  # to_k and to_v are one to_kv matrix in the official layout
                other = state[f"layers.{layer}.attn.to_v.{rest}"]
                out[f"layers.{layer}.0.to_kv.{rest}"] = torch.cat([value, other], dim=0)
            continue
        for pattern, replacement in _PLUS_RULES:
            if re.fullmatch(pattern, key):
                key = re.sub(pattern, replacement, key)
                break
        out[key] = value
    return out

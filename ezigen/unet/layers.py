"""Naming the UNet's transformer blocks, in the order the forward pass runs them.

Layers are always addressed by their diffusers module names
(``down_blocks.0.attentions.0.transformer_blocks.0``), never by traversal order. Where an
index is needed (the released per-block scalars ``learnable_weights[l]``), it is the
position in *execution* order (down -> mid -> up), derived from the names. Note that
``named_modules()`` yields ``up_blocks`` before ``mid_block`` (registration order), which is
why the order is computed here rather than taken from it.
"""

from __future__ import annotations

import re
from typing import Any

_SECTION_ORDER = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}
_NUMBER = re.compile(r"\d+")


def execution_order_key(name: str) -> tuple:
    """Sort key: (section, then every index in the name), e.g. up_blocks.1.attentions.2.transformer_blocks.0."""
    section = name.split(".", 1)[0]
    return (_SECTION_ORDER.get(section, 3), tuple(int(n) for n in _NUMBER.findall(name)))


def transformer_block_names(unet: Any) -> list[str]:
    """Every ``BasicTransformerBlock`` of ``unet``, in execution order (16 for SD2.1-base, 70 for SDXL-base)."""
    from diffusers.models.attention import BasicTransformerBlock

    names = [name for name, module in unet.named_modules() if isinstance(module, BasicTransformerBlock)]
    return sorted(names, key=execution_order_key)


def block_geometry(unet: Any, name: str) -> dict[str, int]:
    """Channels, heads and head size of a transformer block's self-attention."""
    block = unet.get_submodule(name)
    attn = block.attn1
    return {"channels": int(block.norm1.normalized_shape[0]), "heads": int(attn.heads),
            "head_dim": int(attn.inner_dim // attn.heads)}


def token_counts(unet: Any, resolution: int, vae_scale_factor: int = 8) -> dict[str, int]:
    """Tokens (h*w) each transformer block sees at ``resolution`` px: the latent side halves per down level."""
    names = transformer_block_names(unet)
    side = resolution // vae_scale_factor
    levels = len(unet.config.block_out_channels)
    counts = {}
    for name in names:
        parts = name.split(".")
        if parts[0] == "down_blocks":
            level = int(parts[1])
        elif parts[0] == "mid_block":
            level = levels - 1
        else:
            level = levels - 1 - int(parts[1])
        counts[name] = (side >> level) ** 2
    return counts

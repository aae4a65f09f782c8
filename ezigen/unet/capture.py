"""Recording what transformer blocks see, with forward hooks that are always removed.

Positions (spec §2.2 point 6), per ``BasicTransformerBlock`` with input h:

- ``before_sa``: LN1(h), the tensor the self-attention turns into Q/K/V (released default);
- ``after_sa``:  h1 = h + Attn1(LN1(h)), the residual stream after self-attention (input of norm2);
- ``after_ca``:  h2 = h1 + Attn2(LN2(h1), text) (input of norm3);
- ``after_ff``:  the block output.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import Any


class FeaturePosition(enum.Enum):
    BEFORE_SA = "before_sa"
    AFTER_SA = "after_sa"
    AFTER_CA = "after_ca"
    AFTER_FF = "after_ff"


@contextlib.contextmanager
def capture_block_features(unet: Any, names: list[str], position: FeaturePosition) -> Iterator[dict[str, Any]]:
    """Within the block, every forward of ``unet`` records ``{block name: tensor (B, HW, C)}`` at ``position``."""
    captured: dict[str, Any] = {}
    handles = []

    def output_hook(name: str):
        def hook(_module: Any, _args: Any, output: Any) -> None:
            captured[name] = output

        return hook

    def input_hook(name: str):
        def hook(_module: Any, args: Any) -> None:
            captured[name] = args[0]

        return hook

    try:
        for name in names:
            block = unet.get_submodule(name)
            if position is FeaturePosition.BEFORE_SA:
                handles.append(block.norm1.register_forward_hook(output_hook(name)))
            elif position is FeaturePosition.AFTER_SA:
                handles.append(block.norm2.register_forward_pre_hook(input_hook(name)))
            elif position is FeaturePosition.AFTER_CA:
                handles.append(block.norm3.register_forward_pre_hook(input_hook(name)))
            else:
                handles.append(block.register_forward_hook(output_hook(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()

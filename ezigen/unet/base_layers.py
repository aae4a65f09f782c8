"""The base weights of UNet layers that peft may have wrapped (a LoRA loaded by ``pipe.load_lora_weights``).

peft replaces an adapted ``nn.Linear`` (``to_q``, ``to_k``, ``to_v``, ``to_out.0`` ...) by a
``peft.tuners.lora.Linear`` that holds the original as ``base_layer`` beside ``lora_A`` /
``lora_B``; its ``state_dict()`` keys become ``to_q.base_layer.weight``, ``to_q.lora_A.default.weight``.
A fusion that copies a layer to initialise its own weights (adapter-attention's copy of attn1,
IP-Adapter's copies of the text key/value) wants the layer as the base model has it:

    W_copy = W_base            (not W_base + (alpha / r) B A: the LoRA stays the UNet's, switchable)

peft has no call for "the state dict of a module as if unwrapped", so :func:`base_state_dict`
is written here; :func:`base_module` is peft's own ``get_base_layer()``.
"""

from __future__ import annotations

import sys
from typing import Any


def _tuner_layer_class() -> Any:
    """peft's wrapper base class, or None when peft was never imported (then nothing can be wrapped)."""
    module = sys.modules.get("peft.tuners.tuners_utils")
    return None if module is None else module.BaseTunerLayer


def is_wrapped(module: Any) -> bool:
    cls = _tuner_layer_class()
    return cls is not None and isinstance(module, cls)


def base_module(module: Any) -> Any:
    """``module`` itself, or the layer peft wraps (``get_base_layer()`` unwraps nested wrappers too)."""
    return module.get_base_layer() if is_wrapped(module) else module


def base_state_dict(module: Any) -> dict[str, Any]:
    """``module.state_dict()`` with every peft-wrapped submodule replaced by its base layer's tensors,
    under the unwrapped names (``to_q.base_layer.weight`` -> ``to_q.weight``; ``lora_*`` left out)."""
    cls = _tuner_layer_class()
    if cls is None:
        return module.state_dict()
    wrapped: list[str] = []
    for name, sub in module.named_modules():  # parents come before their children
        if isinstance(sub, cls) and not any(_inside(name, outer) for outer in wrapped):
            wrapped.append(name)  # the outermost wrapper only: get_base_layer() unwraps the rest
    if not wrapped:
        return module.state_dict()
    prefixes = tuple(name + "." if name else "" for name in wrapped)
    out = {key: value for key, value in module.state_dict().items()
           if not any(key.startswith(prefix) for prefix in prefixes)}
    for name in wrapped:
        base = module.get_submodule(name).get_base_layer() if name else module.get_base_layer()
        for key, value in base.state_dict().items():
            out[f"{name}.{key}" if name else key] = value
    return out


def _inside(name: str, outer: str) -> bool:
    return outer == "" or name.startswith(outer + ".")

"""Reversible changes to a UNet: swapped attention processors, hooks, added submodules and parameters.

Every fusion attaches through a :class:`UNetPatch`, which records each change and undoes them
all, in reverse order, on :meth:`UNetPatch.restore`. After a restore the UNet's processors,
hooks and ``state_dict()`` keys are exactly what they were.
"""

from __future__ import annotations

from typing import Any


class UNetPatch:
    def __init__(self, unet: Any):
        self.unet = unet
        self._undo: list[Any] = []
        self.restored = False

    def set_processor(self, attention_name: str, processor: Any) -> Any:
        """Replace the processor of the ``Attention`` module at ``attention_name``; returns the original."""
        attention = self.unet.get_submodule(attention_name)
        original = attention.processor
        attention.set_processor(processor)
        self._undo.append(lambda: attention.set_processor(original))
        return original

    def add_hook(self, handle: Any) -> None:
        self._undo.append(handle.remove)

    def add_module(self, parent_name: str, child: str, module: Any) -> None:
        parent = self.unet.get_submodule(parent_name) if parent_name else self.unet
        if child in parent._modules:
            raise RuntimeError(f"{parent_name}.{child} already exists: is another fusion attached?")
        parent.add_module(child, module)
        self._undo.append(lambda: parent._modules.pop(child))

    def add_parameter(self, name: str, parameter: Any) -> None:
        if name in self.unet._parameters:
            raise RuntimeError(f"UNet parameter {name!r} already exists: is another fusion attached?")
        self.unet.register_parameter(name, parameter)
        self._undo.append(lambda: self.unet._parameters.pop(name))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()
        self.restored = True

"""What every builtin fusion module shares: weights I/O with checks, trainable parameters, attach/detach.

A fusion is an ``nn.Module`` that owns its trainable weights. ``attach(unet)`` installs it
through a :class:`~ezigen.unet.patch.UNetPatch` and returns an :class:`Attachment`;
``attachment.detach()`` undoes every change.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ezigen.config import unstructure
from ezigen.errors import WeightsError
from ezigen.unet.patch import UNetPatch
from ezigen.weights_file import check_keys, check_tensors, read_state_dict, save_weights

BACKBONE_NAMES = {"sd": "SD2.1-style", "sdxl": "SDXL-style"}


class FusionState:
    """What the installed processors read at call time: features, per-sample activity, scale."""

    def __init__(self) -> None:
        self.features: Any = None
        self.active: torch.Tensor | None = None  # (B,) of 0/1, or None = all active
        self.uncond: torch.Tensor | None = None  # (B,) bool: rows of the unconditional CFG branch, or None
        self.scale: float = 1.0
        self.mask_padding: bool = False  # training: hide padded subject slots from attention
        self.subject_kv: dict[int, Any] | None = None  # per-subject precomputed work of a fusion (adapter K/V)
        self.subject_kv_trainable: bool = False  # ... computed from trainable weights: not reused under grad

    def gate(self, output: torch.Tensor) -> torch.Tensor:
        """scale * output, zeroed for inactive batch rows (output (B, ...))."""
        if self.scale != 1.0:
            output = output * self.scale
        if self.active is not None:
            mask = self.active.to(device=output.device, dtype=output.dtype)
            output = output * mask.view(-1, *([1] * (output.dim() - 1)))
        return output


class Attachment:
    """A fusion installed in one UNet."""

    def __init__(self, fusion: FusionModule, patch: UNetPatch, state: FusionState):
        self.fusion = fusion
        self.patch = patch
        self.state = state

    def set_subject(self, features: Any, active: torch.Tensor | None = None,
                    uncond: torch.Tensor | None = None) -> None:
        """Features for the next UNet calls (None: off). ``active`` (B,) switches the subject per row;
        ``uncond`` (B,) marks the unconditional CFG rows (for fusions whose convention treats them apart)."""
        if features is not None:
            self.fusion.check_features(features)
        self.state.features = features
        self.state.active = active if features is not None else None
        self.state.uncond = uncond if features is not None else None
        self.fusion.prepare_subject(self.state)

    def set_scale(self, scale: float) -> None:
        self.state.scale = float(scale)

    def prepare_step(self, timestep: Any, batch: int, **context: Any) -> int:
        """Per-step work before the UNet call; ``context``: the loop's ``embeds``, ``generator``, ``branches``."""
        return self.fusion.prepare_step(self.state, timestep, batch, **context)

    def detach(self) -> None:
        self.state.features = None
        self.state.subject_kv = None
        self.patch.restore()


class FusionModule(torch.nn.Module):
    """Base class: subclasses set ``fusion_type`` and implement ``install(patch, state)``."""

    fusion_type: ClassVar[str] = ""

    def __init__(self, config: Any, backbone_kind: str, layers: list[str]):
        super().__init__()
        self.config = config
        self.backbone_kind = backbone_kind
        self.layers = list(layers)

    # --- attach -----------------------------------------------------------------------------

    def install(self, patch: UNetPatch, state: FusionState) -> None:
        raise NotImplementedError

    def attach(self, unet: Any) -> Attachment:
        state = FusionState()
        state.scale = float(getattr(self.config, "scale", 1.0))
        patch = UNetPatch(unet)
        try:
            self.install(patch, state)
        except BaseException:
            patch.restore()
            raise
        return Attachment(self, patch, state)

    def check_features(self, features: Any) -> None:
        """Raise if ``features`` cannot be read by this fusion (override for kind-specific checks)."""

    def prepare_subject(self, state: FusionState) -> None:
        """Work that depends on the subject but not on the step, done on ``set_subject`` outside the UNet call
        (and so outside a compiled graph); default: none."""

    def prepare_step(self, state: FusionState, timestep: Any, batch: int, **context: Any) -> int:
        """Per-step work before the UNet call (reference attention); returns extra UNet rows run."""
        return 0

    # --- weights ----------------------------------------------------------------------------

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def weights_state(self) -> dict[str, torch.Tensor]:
        """The tensors of the weights file (default: this module's state_dict)."""
        return self.state_dict()

    def load_weights_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.load_state_dict(tensors, strict=True)

    def save_weights(self, path: str) -> None:
        save_weights(path, self.weights_state(), fusion=self.fusion_type, backbone=self.backbone_kind,
                     layers=self.layers, config=unstructure(self.config))

    def load_weights(self, path: str) -> None:
        tensors, meta = read_state_dict(path)
        self.check_file(path, meta)
        tensors = self.convert_foreign(tensors, meta)
        model = self.weights_state()
        check_tensors(tensors, f"weights file {path!r}", model)  # NaN/Inf would give black images, exit 0
        expected = {k: tuple(v.shape) for k, v in model.items()}
        check_keys(expected, tensors, f"fusion {self.fusion_type!r} on this {BACKBONE_NAMES.get(self.backbone_kind)} "
                   f"backbone ({len(self.layers)} layers)", f"weights file {path!r}")
        self.load_weights_state(tensors)

    def convert_foreign(self, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, torch.Tensor]:
        """Hook for files in another project's layout (official IP-Adapter files); default: as is."""
        return tensors

    def check_file(self, path: str, meta: dict[str, str]) -> None:
        fusion = meta.get("ezigen.fusion")
        if fusion is not None and fusion != self.fusion_type:
            raise WeightsError(f"weights file {path!r} holds {fusion!r} weights, but the recipe's fusion is "
                               f"{self.fusion_type!r}")
        kind = meta.get("ezigen.backbone")
        if kind is not None and kind != self.backbone_kind:
            import json

            layers = len(json.loads(meta.get("ezigen.layers", "[]")))
            raise WeightsError(
                f"weights file {path!r} was made for an {BACKBONE_NAMES.get(kind, kind)} UNet ({layers} layers), "
                f"but this backbone is {BACKBONE_NAMES.get(self.backbone_kind)} ({len(self.layers)} layers)"
            )

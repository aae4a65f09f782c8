"""Converting released checkpoints into ezigen fusion weight files.

``ezigen-official``: the released EZIGen checkpoint (spec §6.2) — an Accelerate ``save_state``
folder holding ``model.safetensors`` or ``pytorch_model.bin`` (or one such file) with the full
main-UNet state dict: every SD UNet key, plus per block
``<block>.adapter.{to_q,to_k,to_v,to_out.0}.*`` and ``<block>.adapter_norm.*``, plus
``learnable_weights``. The file is validated against the backbone by loading it *strictly*
into the backbone's UNet with the adapters attached (a private copy); any mismatch fails with
the lists of missing and unexpected keys. A file with only the adapter keys is accepted too.

The destination is checked before any work (``ezigen.destinations``): only an absent path, or a
regular file with ``overwrite``, is ever written; the file is published by one rename at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ezigen.errors import WeightsError
from ezigen.weights_file import check_keys, check_tensors, read_state_dict

CHECKPOINT_FILES = ("model.safetensors", "pytorch_model.bin", "diffusion_pytorch_model.safetensors",
                    "diffusion_pytorch_model.bin")


def find_checkpoint_file(src: str) -> str:
    if os.path.isfile(src):
        return src
    if os.path.isdir(src):
        for name in CHECKPOINT_FILES:
            path = os.path.join(src, name)
            if os.path.isfile(path):
                return path
        raise WeightsError(f"{src!r} is a folder without a checkpoint file (looked for {', '.join(CHECKPOINT_FILES)})")
    raise WeightsError(f"checkpoint {src!r} does not exist")


def _strip_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    # Accelerate unwraps DDP before saving, but a checkpoint saved from a wrapped model has "module."
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def convert_ezigen_official(src: str, backbone_pretrained: str, dst: str, log: Callable[[str], None] = print,
                            overwrite: bool = False) -> dict:
    """Validate a released EZIGen checkpoint against ``backbone_pretrained`` and write the adapter file ``dst``.

    ``dst`` must not exist, or be a regular file and ``overwrite`` set; it is checked first, so a
    wrong destination costs nothing.
    """
    import torch

    from ezigen.destinations import check_destination, write_destination

    from ezigen.builtins.backbones.stable_diffusion import StableDiffusionBackbone, StableDiffusionConfig
    from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
    from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel

    check_destination(dst, overwrite, probe=True)
    path = find_checkpoint_file(src)
    state, _meta = read_state_dict(path)
    check_tensors(state, f"checkpoint {path!r}")
    state = _strip_prefixes(state)
    backbone = StableDiffusionBackbone.from_config(StableDiffusionConfig(pretrained=backbone_pretrained))
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), backbone)
    adapter_keys = set(fusion.weights_state())
    has_base = any(k not in adapter_keys for k in state)
    report: dict[str, Any] = {"source": path, "tensors": len(state), "layers": len(fusion.layers)}
    _check_scalar_count(state, fusion.layers, backbone_pretrained, path)
    if has_base:
        attachment = fusion.attach(backbone.unet)
        try:
            plain = {k: v.detach().clone() for k, v in backbone.unet.state_dict().items() if k not in adapter_keys}
            expected = {k: tuple(v.shape) for k, v in backbone.unet.state_dict().items()}
            check_keys(expected, state, f"the main UNet of {backbone_pretrained!r} with EZIGen adapters "
                       f"({len(fusion.layers)} blocks)", f"checkpoint {path!r}")
            backbone.unet.load_state_dict(state, strict=True)
            changed = [k for k, v in plain.items() if not torch.equal(v, state[k].to(v.dtype))]
        finally:
            attachment.detach()
        report["base_tensors_differing_from_backbone"] = len(changed)
        if changed:
            log(f"note: {len(changed)} base UNet tensors in the checkpoint differ from {backbone_pretrained!r} "
                f"(e.g. {changed[0]}); only the adapters are converted")
    else:
        check_keys({k: tuple(v.shape) for k, v in fusion.weights_state().items()}, state,
                   f"EZIGen adapters for {backbone_pretrained!r}", f"checkpoint {path!r}")
        fusion.load_weights_state(state)
    with write_destination(dst, overwrite) as tmp:
        fusion.save_weights(tmp)
    report["written"] = dst
    return report


def _check_scalar_count(state: dict[str, Any], layers: list[str], backbone_pretrained: str, path: str) -> None:
    """The released code hard-codes ``learnable_weights = ones(16)``: scalar l scales the subject features of
    the l-th transformer block in execution order (down -> mid -> up; spec §2.2 point 10). That order maps
    onto another UNet only if it has exactly as many blocks, so any other count is refused here, by name."""
    weights = state.get("learnable_weights")
    if weights is None or tuple(weights.shape) == (len(layers),):
        return
    count = int(weights.numel())
    adapters = len({k.split(".adapter")[0] for k in state if ".adapter." in k or ".adapter_norm." in k})
    raise WeightsError(
        f"checkpoint {path!r}: learnable_weights holds {count} scalars (shape {tuple(weights.shape)}), one per "
        f"transformer block in execution order down -> mid -> up (the released code hard-codes ones(16) for "
        f"SD2.1-base's 16 blocks), and the file has adapters for {adapters} blocks; {backbone_pretrained!r} has "
        f"{len(layers)} transformer blocks ({layers[0]} ... {layers[-1]}), so scalar l has no block to go to. "
        f"Convert it with the backbone it was trained on (--backbone stabilityai/stable-diffusion-2-1-base for the "
        f"released checkpoint-200000)"
    )


CONVERTERS = {"ezigen-official": convert_ezigen_official}

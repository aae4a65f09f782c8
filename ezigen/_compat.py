"""The private diffusers functions ezigen calls, in one place, each behind a version check.

diffusers has no public API for these two; they are stable across the versions ezigen is tested
with (``pyproject.toml`` caps diffusers below the next minor release for this reason). A diffusers
outside the tested range gets one clear error naming the function, not an AttributeError deep inside.
"""

from __future__ import annotations

from typing import Any

from ezigen.errors import EzigenError

TESTED_DIFFUSERS = ("0.42", "0.43")  # [low, high): the range the suite runs with


def _check_diffusers(function: str) -> None:
    import diffusers
    from packaging.version import Version

    version = Version(diffusers.__version__)
    low, high = (Version(v) for v in TESTED_DIFFUSERS)
    if not (low <= version < high):
        raise EzigenError(f"diffusers {diffusers.__version__} is outside the tested range >={low},<{high} for its "
                          f"private {function}, which ezigen uses; install a diffusers in that range")


def expand_layer_scales(unet: Any, layer_scales: Any, default_scale: float = 0.0) -> Any:
    """diffusers' ``_maybe_expand_lora_scales``: an InstantStyle-style per-block mapping -> per-layer scales."""
    _check_diffusers("_maybe_expand_lora_scales")
    from diffusers.loaders.unet_loader_utils import _maybe_expand_lora_scales

    return _maybe_expand_lora_scales(unet, [layer_scales], default_scale=default_scale)[0]


def ip_adapter_image_proj_to_diffusers(unet: Any, image_proj: dict[str, Any]) -> Any:
    """diffusers' ``UNet2DConditionLoadersMixin._convert_ip_adapter_image_proj_to_diffusers``: official
    IP-Adapter ``image_proj`` weights -> the diffusers projection module holding them."""
    _check_diffusers("_convert_ip_adapter_image_proj_to_diffusers")
    from diffusers.loaders.unet import UNet2DConditionLoadersMixin

    return UNet2DConditionLoadersMixin._convert_ip_adapter_image_proj_to_diffusers(unet, image_proj,
                                                                                  low_cpu_mem_usage=False)

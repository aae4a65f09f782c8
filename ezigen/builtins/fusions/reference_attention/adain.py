"""AdaIN of ``reference-attention``: where the UNet's feature maps are matched to the reference's
statistics, with which weights, and the formula (formulas in reference_attention.py).

Two placements:

- ``blocks`` (the diffusers community ``stable_diffusion_reference`` pipeline): the output of
  every (ResNet[, transformer]) unit of each down and up block (before its down/up-sampler) and
  the mid block's output. Each block has a depth weight w: mid 0, down block k of K
  ``2 (1 - k / K)``, up block k of K ``2 k / K``; a block takes part iff
  ``gn_auto_machine_weight >= w`` (default 1.0: the deeper half of the UNet). The map x is
  renormalised with std = sqrt(max(var, 1e-6)).
- ``resnets`` (ezigen's first variant): every ``ResnetBlock2D`` output, std = sqrt(var + 1e-5).

Both: per row and channel, (var, mean) over (H, W) with no Bessel correction, and

    adain(x) = (x - mean_x) / std_x * std_ref + mean_ref
"""

from __future__ import annotations

from typing import Any

import torch

from ezigen.builtins.fusions.reference_attention import AdainPlacement  # the torch-free config's enum

__all__ = ["AdainPlacement", "adain", "adain_sites", "block_depth_weights", "stats"]

COMMUNITY_EPS = 1e-6  # std = sqrt(max(var, eps))
RESNETS_EPS = 1e-5  # std = sqrt(var + eps)


def block_depth_weights(unet: Any) -> dict[str, float]:
    """Block name -> the community depth weight (mid 0; down 2 (1 - k/K); up 2 k/K)."""
    weights = {"mid_block": 0.0}
    downs, ups = len(unet.down_blocks), len(unet.up_blocks)
    for k in range(downs):
        weights[f"down_blocks.{k}"] = 2.0 * (1.0 - k / downs)
    for k in range(ups):
        weights[f"up_blocks.{k}"] = 2.0 * (k / ups)
    return weights


def adain_sites(unet: Any, placement: AdainPlacement, gn_auto_machine_weight: float) -> list[str]:
    """Module names whose outputs are renormalised, in execution order within each block."""
    from diffusers.models.resnet import ResnetBlock2D

    if placement is AdainPlacement.RESNETS:
        return [name for name, module in unet.named_modules() if isinstance(module, ResnetBlock2D)]
    sites = []
    for block, weight in block_depth_weights(unet).items():
        if gn_auto_machine_weight < weight:
            continue
        if block == "mid_block":
            sites.append(block)
            continue
        module = unet.get_submodule(block)
        attentions = getattr(module, "attentions", None)  # a unit ends with its transformer, if it has one
        kind, count = ("attentions", len(attentions)) if attentions else ("resnets", len(module.resnets))
        sites.extend(f"{block}.{kind}.{i}" for i in range(count))
    return sites


def std_of(var: torch.Tensor, placement: AdainPlacement) -> torch.Tensor:
    if placement is AdainPlacement.BLOCKS:
        return torch.clamp(var, min=COMMUNITY_EPS).sqrt()
    return (var + RESNETS_EPS).sqrt()


def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> (mean, var), each (B, C, 1, 1), population variance."""
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    return mean, var


def adain(x: torch.Tensor, ref_mean: torch.Tensor, ref_var: torch.Tensor, placement: AdainPlacement) -> torch.Tensor:
    """x (B, C, H, W) with the per-channel statistics of the reference (rows 1 or B)."""
    mean, var = stats(x)
    return (x - mean) / std_of(var, placement) * std_of(ref_var, placement) + ref_mean


def output_tensor(output: Any) -> torch.Tensor:
    """The feature map of a hooked module's output (a tensor, or a tuple / ModelOutput whose first item is it)."""
    return output if isinstance(output, torch.Tensor) else output[0]


def replace_output(output: Any, tensor: torch.Tensor) -> Any:
    if isinstance(output, torch.Tensor):
        return tensor
    if isinstance(output, tuple):
        return (tensor, *output[1:])
    output["sample"] = tensor  # a diffusers BaseOutput (Transformer2DModelOutput)
    return output

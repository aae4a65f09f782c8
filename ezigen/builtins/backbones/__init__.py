"""Builtin backbones: ``stable-diffusion`` (SD2.1-style and SDXL-style diffusers models)."""

from ezigen.builtins.backbones.stable_diffusion import StableDiffusionBackbone
from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_backbones(register):
    register("stable-diffusion", StableDiffusionBackbone)

"""Builtin subject encoders: ``unet`` (EZIGen's frozen UNet), ``clip`` and ``dino`` (token encoders)."""

from ezigen.builtins.encoders.clip import ClipSubjectEncoder
from ezigen.builtins.encoders.dino import DinoSubjectEncoder
from ezigen.builtins.encoders.unet import UNetSubjectEncoder
from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_subject_encoders(register):
    register("unet", UNetSubjectEncoder)
    register("clip", ClipSubjectEncoder)
    register("dino", DinoSubjectEncoder)

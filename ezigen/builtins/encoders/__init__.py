"""Builtin subject encoders."""

from ezigen.builtins.encoders.unet import UNetSubjectEncoder
from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_subject_encoders(register):
    register("unet", UNetSubjectEncoder)

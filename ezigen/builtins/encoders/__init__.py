"""Builtin subject encoders."""

from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_subject_encoders(register):
    pass

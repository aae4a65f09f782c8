"""Builtin fusions."""

from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_fusions(register):
    pass

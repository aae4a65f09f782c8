"""Builtin metrics."""

from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_metrics(register):
    pass

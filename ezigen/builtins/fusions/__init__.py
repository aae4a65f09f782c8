"""Builtin fusions."""

from ezigen.builtins.fusions.adapter_attention import AdapterAttention
from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_fusions(register):
    register("adapter-attention", AdapterAttention)

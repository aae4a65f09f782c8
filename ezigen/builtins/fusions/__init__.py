"""Builtin fusions: EZIGen's ``adapter-attention`` and the baselines' fusions."""

from ezigen.builtins.fusions.adapter_attention import AdapterAttention
from ezigen.builtins.fusions.decoupled_cross_attention import DecoupledCrossAttention
from ezigen.builtins.fusions.reference_attention import ReferenceAttention
from ezigen.builtins.fusions.token_adapter_attention import TokenAdapterAttention
from ezigen.markers import hookimpl


@hookimpl
def ezigen_register_fusions(register):
    register("adapter-attention", AdapterAttention)
    register("decoupled-cross-attention", DecoupledCrossAttention)
    register("reference-attention", ReferenceAttention)
    register("token-adapter-attention", TokenAdapterAttention)

"""The modules and attention processors of ``adapter-attention`` (formulas in adapter_attention.py).

How it is installed, by name and reversibly: each block's ``attn1`` processor is wrapped so
that it returns ``a1 + s * o`` (the block then adds h, giving h + a1 + s * o); a forward
pre-hook on the block's ``norm1`` hands the processor the block input h it needs for
h1 = h + a1; the adapter modules are added to the block as ``adapter`` / ``adapter_norm`` and
the scalars to the UNet as ``learnable_weights``, so that the attached UNet's ``state_dict()``
has exactly the released main-UNet layout. diffusers' ``BasicTransformerBlock.forward`` has no
slot between self- and cross-attention, hence the wrapper (no diffusers code is copied).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from ezigen.builtins.fusions.adapter_attention.subject_kv import SubjectKVCache, input_dtype, split_kv_attention
from ezigen.errors import EzigenError
from ezigen.unet.base_layers import base_module, base_state_dict
from ezigen.unet.batch import match_batch
from ezigen.unet.fusion_base import FusionModule, FusionState
from ezigen.unet.layers import transformer_block_names
from ezigen.values import BackboneKind, FeatureKind


class AdapterBlock(torch.nn.Module):
    """One block's adapter: ``adapter`` (attention, a copy of attn1) and ``adapter_norm`` (a copy of norm1)."""

    def __init__(self, adapter: Attention, adapter_norm: torch.nn.Module):
        super().__init__()
        self.adapter = adapter
        self.adapter_norm = adapter_norm


def set_nested(root: torch.nn.Module, dotted: str, module: torch.nn.Module) -> None:
    """Place ``module`` at ``dotted`` under ``root``, creating empty containers on the way."""
    parts = dotted.split(".")
    node = root
    for part in parts[:-1]:
        if part not in node._modules:
            node.add_module(part, torch.nn.Module())
        node = node._modules[part]
    node.add_module(parts[-1], module)


def copy_attention(attn1: Attention, residual_connection: bool) -> Attention:
    """A new ``Attention`` with attn1's geometry and base weights (without a LoRA peft wrapped in), plus the
    residual option."""
    to_q, to_out = base_module(attn1.to_q), base_module(attn1.to_out[0])
    heads = attn1.heads
    adapter = Attention(
        query_dim=attn1.query_dim,
        heads=heads,
        dim_head=attn1.inner_dim // heads,
        bias=to_q.bias is not None,
        out_bias=to_out.bias is not None,
        upcast_attention=attn1.upcast_attention,
        residual_connection=residual_connection,
    )
    adapter.load_state_dict(base_state_dict(attn1))
    return adapter.to(device=to_q.weight.device, dtype=to_q.weight.dtype)


class AdapterSelfAttentionProcessor:
    """Wraps a block's attn1 processor: returns a1 when the subject is off (bit-identical), else a1 + s * o."""

    def __init__(self, inner: Any, name: str, index: int, holder: AdapterBlock, fusion: AdapterAttentionModel,
                 state: FusionState):
        self.inner = inner
        self.name = name
        self.index = index
        self.holder = holder
        self.fusion = fusion
        self.state = state
        self.block_input: torch.Tensor | None = None

    def stash_block_input(self, _module: Any, args: tuple) -> None:
        """Forward pre-hook on norm1: its input is the block input h."""
        self.block_input = args[0]

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: Any = None,
                 attention_mask: Any = None, temb: Any = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        a1 = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        h, self.block_input = self.block_input, None
        features = self.state.features
        if features is None:
            return a1
        h1 = h + a1  # (B, HW, C)
        u = self.holder.adapter_norm(h1)
        adapter = self.holder.adapter
        if self.fusion.config.precompute_subject_kv and type(adapter.processor) is AttnProcessor2_0:
            o = self.split_kv(adapter, u, features)
        else:  # the plain path (or a processor someone else installed on the adapter): K/V of [u ; w S] per call
            subject = self.fusion.subject_tokens(features, self.name, self.index).to(dtype=u.dtype)  # (1|B, N*HW, C)
            subject = subject * self.fusion.learnable_weights[self.index].to(u.dtype)
            subject = match_batch(subject, u.shape[0])
            kv = torch.cat([u, subject], dim=1)  # (B, HW + N*HW, C)
            mask = self.fusion.token_mask(self.state, u.shape[0], u.shape[1], subject.shape[1], u.device, u.dtype)
            # the adapter's processor is called directly: Attention.forward would only filter keyword arguments
            # through inspect.signature on every call (5 % of a subject-on step on the tiny UNet), then make this call
            o = adapter.processor(adapter, u, encoder_hidden_states=kv, attention_mask=mask)  # (+ u if residual)
        if self.fusion.config.gated:  # released: g o + u (the adapter is built without its own residual)
            o = adapter.gated_weight.to(o.dtype) * o
            if self.fusion.residual_connection:
                o = o + u
        elif self.fusion.config.tanh_gate:
            o = torch.tanh(adapter.gated_weight.to(o.dtype)) * o
        return a1 + self.state.gate(o)

    def split_kv(self, adapter: Attention, u: torch.Tensor, features: Any) -> torch.Tensor:
        """The adapter attention with the subject K/V precomputed on ``set_subject`` (subject_kv.py), or computed
        here from the (1 or b) subject rows when they must stay in the autograd graph (training)."""
        state = self.state
        if state.subject_kv is not None and not (state.subject_kv_trainable and torch.is_grad_enabled()):
            key, value = state.subject_kv[self.index]  # (1|b, N*HW, inner)
        else:
            key, value = self.fusion.subject_key_value(features, self.name, self.index, u.dtype)
        mask = self.fusion.token_mask(state, u.shape[0], u.shape[1], key.shape[1], u.device, u.dtype)
        return split_kv_attention(adapter, u, key, value, mask)


class AdapterAttentionModel(FusionModule):
    fusion_type = "adapter-attention"

    def __init__(self, config: Any, backbone: Any):
        unet = backbone.unet
        names = transformer_block_names(unet)
        if config.only_up:
            names = [n for n in names if n.startswith("up_blocks")]
        super().__init__(config, backbone.kind.value, names)
        residual = config.residual_connection
        if residual is None:
            residual = backbone.kind is BackboneKind.SD
        self.residual_connection = residual
        for name in names:
            block = unet.get_submodule(name)
            adapter = copy_attention(block.attn1, residual and not config.gated)  # gated adds u itself, after g o
            if config.gated or config.tanh_gate:
                shape = (1, 1) if config.gated else (1,)  # the released gated_weight is (1, 1)
                adapter.register_parameter("gated_weight", torch.nn.Parameter(torch.zeros(shape, device=unet.device)))
            set_nested(self, name, AdapterBlock(adapter, copy.deepcopy(block.norm1)))
        self.learnable_weights = torch.nn.Parameter(torch.ones(len(names), device=unet.device, dtype=unet.dtype))
        self.requires_grad_(True)
        self.subject_kv = SubjectKVCache()  # one subject's K/V per block (not a module: no state_dict keys)

    def install(self, patch: Any, state: FusionState) -> None:
        unet = patch.unet
        for index, name in enumerate(self.layers):
            block = unet.get_submodule(name)
            holder = self.get_submodule(name)
            inner = block.attn1.processor
            processor = AdapterSelfAttentionProcessor(inner, name, index, holder, self, state)
            patch.add_hook(block.norm1.register_forward_pre_hook(processor.stash_block_input))
            patch.set_processor(f"{name}.attn1", processor)
            patch.add_module(name, "adapter", holder.adapter)
            patch.add_module(name, "adapter_norm", holder.adapter_norm)
        patch.add_parameter("learnable_weights", self.learnable_weights)

    def subject_tokens(self, features: Any, name: str, index: int) -> torch.Tensor:
        """S_l for block ``name``: the encoder's features of that block (1 or B, N*HW, C)."""
        return features.layers[name]

    def subject_source(self, features: Any, name: str, index: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The tensor S_l is made from and the parameters (besides to_k, to_v and w) that make it."""
        return features.layers[name], []

    def subject_key_value(self, features: Any, name: str, index: int,
                          dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """W_k (w_l S_l), W_v (w_l S_l): (1 or b, N*HW, inner) each, from the subject rows only."""
        adapter = self.get_submodule(name).adapter
        subject = self.subject_tokens(features, name, index).to(dtype=dtype)  # (1|b, N*HW, C)
        subject = subject * self.learnable_weights[index].to(dtype)
        return adapter.to_k(subject), adapter.to_v(subject)

    def prepare_subject(self, state: FusionState) -> None:
        """On ``set_subject``: every block's subject K/V from the cache, computed where the subject, the weights
        or the dtype changed (``precompute_subject_kv``). Under grad with trainable weights nothing is kept:
        the processors compute them per forward, inside the graph."""
        state.subject_kv, state.subject_kv_trainable = None, False
        if state.features is None or not self.config.precompute_subject_kv:
            return
        sources = []
        for index, name in enumerate(self.layers):
            source, extra = self.subject_source(state.features, name, index)
            adapter = self.get_submodule(name).adapter
            parameters = [*adapter.to_k.parameters(), *adapter.to_v.parameters(), self.learnable_weights, *extra]
            sources.append((source, parameters))
        trainable = any(p.requires_grad for _, parameters in sources for p in parameters)
        if trainable and torch.is_grad_enabled():
            return
        dtype = input_dtype(self.learnable_weights)
        state.subject_kv = {
            index: self.subject_kv.get(index, source, parameters, dtype,
                                       lambda index=index, name=name: self.subject_key_value(
                                           state.features, name, index, dtype))
            for index, (name, (source, parameters)) in enumerate(zip(self.layers, sources))
        }
        state.subject_kv_trainable = trainable

    def check_features(self, features: Any) -> None:
        if features.kind is not FeatureKind.SPATIAL or features.layers is None:
            raise EzigenError(f"adapter-attention reads spatial features, got {features.kind.value}")
        missing = [n for n in self.layers if n not in features.layers]
        if missing:
            raise EzigenError(
                f"subject features lack {len(missing)} of the {len(self.layers)} layers this adapter needs "
                f"(first: {missing[0]}); were they made with another backbone?"
            )

    def token_mask(self, state: FusionState, batch: int, query_tokens: int, subject_tokens: int, device: Any,
                   dtype: Any):
        """Additive key mask (B, 1, HW + N*T) hiding padded subject slots (training with ``mask_padding``)."""
        if state.features.slot_mask is None or not state.mask_padding:
            return None
        slots = match_batch(state.features.slot_mask.to(device=device), batch)  # (B, N) bool: True = real image
        per_slot = subject_tokens // slots.shape[1]
        subject = slots.repeat_interleave(per_slot, dim=1)  # (B, N*T)
        keep = torch.cat([torch.ones(batch, query_tokens, dtype=torch.bool, device=device), subject], dim=1)
        mask = torch.zeros(keep.shape, dtype=dtype, device=device).masked_fill(~keep, torch.finfo(dtype).min)
        return mask[:, None, :]

"""The adapter attention with its subject keys and values computed once per subject (spec §2.3, §4.3 cost).

The adapter attends from u = LN_a(h1) (B, HW, C) over kv = [u ; w_l S_l] (B, HW + N*HW, C).
Keys and values are per-token linear maps, so they split along the token axis::

    K = W_k [u ; w_l S_l] = [W_k u ; W_k (w_l S_l)]        (same for V)

and the subject half ``W_k (w_l S_l)``, ``W_v (w_l S_l)`` (b, N*HW, inner) depends on neither
the step nor the CFG row: it is computed once per subject, kept with the subject's feature
tensor, and reused at every subject-on step. A cache entry is valid while the feature tensor,
its version counter and every parameter it was computed from (``to_k``, ``to_v``, ``w_l``, a token
projection; identity and version counter, so an optimizer step or ``load_state_dict`` invalidates
it) and the dtype / autocast state are unchanged. The fusion scale s multiplies the adapter
*output* (``FusionState.gate``), so it is not part of K/V and a scale change keeps the entry.

Written by hand because diffusers' ``AttnProcessor2_0`` computes K/V from one
``encoder_hidden_states`` tensor; the attention itself is ``F.scaled_dot_product_attention``
exactly as that processor calls it (default scale 1/sqrt(d), no dropout).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ezigen.unet.batch import match_batch


def autocast_on(device: torch.device) -> bool:
    """``torch.is_autocast_enabled`` for a device type autocast knows (meta, used to count FLOPs, it does not)."""
    try:
        return torch.is_autocast_enabled(device.type)
    except RuntimeError:
        return False


def input_dtype(weight: torch.Tensor) -> torch.dtype:
    """The dtype the adapter's LayerNorm output u has in the forward: float32 under autocast (layer_norm runs
    in float32 there), else the weights' dtype; the subject tokens are cast to it as the plain path casts them."""
    if autocast_on(weight.device):
        return torch.float32
    return weight.dtype


class SubjectKVCache:
    """One entry per block index: (source tensor, parameters, stamp, K, V)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[torch.Tensor, list[torch.Tensor], tuple, torch.Tensor, torch.Tensor]] = {}
        self.computed = 0  # K/V pairs computed (tests count them)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, index: int, source: torch.Tensor, parameters: list[torch.Tensor], dtype: torch.dtype,
            compute: Any) -> tuple[torch.Tensor, torch.Tensor]:
        stamp = (source._version, dtype, autocast_on(source.device),
                 tuple(p._version for p in parameters))
        entry = self._entries.get(index)
        if (entry is not None and entry[0] is source and entry[2] == stamp and len(entry[1]) == len(parameters)
                and all(a is b for a, b in zip(entry[1], parameters))):
            return entry[3], entry[4]
        key, value = compute()
        self.computed += 1
        self._entries[index] = (source, list(parameters), stamp, key, value)
        return key, value


def split_kv_attention(attn: Any, u: torch.Tensor, subject_key: torch.Tensor, subject_value: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
    """``AttnProcessor2_0(attn, u, encoder_hidden_states=[u ; w S])`` with the subject K/V given.

    u (B, HW, C); subject_key / subject_value (1 or b, N*HW, inner), broadcast over the rows with
    ``expand`` (no copy) before the one concatenation per K and V that SDPA needs; mask: additive
    (B, 1, HW + N*HW) or None. Returns (B, HW, C), plus u when ``attn.residual_connection``.
    """
    batch = u.shape[0]
    heads = attn.heads
    query = attn.to_q(u)  # (B, HW, inner)
    key = attn.to_k(u)
    value = attn.to_v(u)
    key = torch.cat([key, match_batch(subject_key, batch).to(key.dtype)], dim=1)  # (B, HW + N*HW, inner)
    value = torch.cat([value, match_batch(subject_value, batch).to(value.dtype)], dim=1)
    head_dim = key.shape[-1] // heads
    query = query.view(batch, -1, heads, head_dim).transpose(1, 2)  # (B, H, HW, d)
    key = key.view(batch, -1, heads, head_dim).transpose(1, 2)  # (B, H, HW + N*HW, d)
    value = value.view(batch, -1, heads, head_dim).transpose(1, 2)
    if mask is not None:
        mask = mask[:, None]  # (B, 1, 1, L): the same key mask for every head and query
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False)
    out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)  # (B, HW, inner)
    out = attn.to_out[1](attn.to_out[0](out))  # (B, HW, C)
    if attn.residual_connection:
        out = out + u
    if attn.rescale_output_factor != 1.0:  # 1.0 in every SD/SDXL block: no extra pass over (B, HW, C)
        out = out / attn.rescale_output_factor
    return out

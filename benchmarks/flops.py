"""Counting the arithmetic of a UNet step: ``torch.utils.flop_counter.FlopCounterMode`` with attention included.

The fused CPU SDPA kernel (``_scaled_dot_product_flash_attention_for_cpu``) has no FLOP formula, so
under the default backend a 4,096 x 8,192 attention reads 0 FLOPs; under
``sdpa_kernel(SDPBackend.MATH)`` SDPA decomposes into two batched matmuls and is counted as

    FLOPs(attention) = 2 B H Lq Lk d  (Q K^T)  +  2 B H Lq Lk d  (P V)  =  4 B H Lq Lk d

(multiply-adds count 2, softmax and elementwise ops 0, as FlopCounterMode counts them).
``tests/test_benchmarks_flops.py`` checks that this count sees attention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def attention_flops(batch: int, heads: int, query_tokens: int, key_tokens: int, head_dim: int) -> int:
    """4 B H Lq Lk d: the two matmuls of one softmax attention."""
    return 4 * batch * heads * query_tokens * key_tokens * head_dim


def count_flops(fn: Callable[[], Any]) -> int:
    """Total FLOPs of ``fn()`` as FlopCounterMode counts them, attention through the math SDPA backend."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())

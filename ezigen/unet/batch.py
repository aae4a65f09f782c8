"""Matching subject features to the UNet's batch, for every fusion (CFG branches, several samples)."""

from __future__ import annotations

import torch

from ezigen.errors import EzigenError


def match_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """(b, ...) -> (batch, ...): broadcast one subject, or tile b subjects over the CFG branches."""
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.expand(batch, *tensor.shape[1:])
    if batch % tensor.shape[0] == 0:
        return tensor.repeat(batch // tensor.shape[0], *([1] * (tensor.dim() - 1)))
    raise EzigenError(f"subject features for {tensor.shape[0]} samples cannot serve a batch of {batch}")

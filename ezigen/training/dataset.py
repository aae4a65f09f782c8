"""Training samples: images decoded and checked, and the deterministic, resumable sample order.

Order: epoch e shuffles all sample indices with a generator seeded by (seed, e); the global
micro-batch c of W processes with per-process batch B takes positions
[c' * W * B, (c' + 1) * W * B) of its epoch's permutation (c' = c mod batches per epoch), and
process r its slice [r * B, (r + 1) * B). So the data position is a pure function of c: a
resumed run continues exactly where the checkpoint was written, on any number of processes
that divides the same way.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from ezigen.data.manifest import Sample
from ezigen.errors import DataError, SubjectImageError


def derived_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts (stable across runs and machines)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:15], 16)


def epoch_permutation(count: int, seed: int, epoch: int) -> list[int]:
    import torch

    generator = torch.Generator().manual_seed(derived_seed("order", seed, epoch))
    return torch.randperm(count, generator=generator).tolist()


def batch_indices(count: int, seed: int, micro_batch: int, batch: int, world: int, rank: int) -> list[int]:
    """Sample indices of process ``rank`` at global micro-batch ``micro_batch`` (see module docstring)."""
    per_global = batch * world
    per_epoch = max(1, count // per_global)  # incomplete tail batches are dropped, as drop_last does
    epoch, within = divmod(micro_batch, per_epoch)
    order = epoch_permutation(count, seed, epoch)
    start = within * per_global + rank * batch
    return [order[(start + i) % count] for i in range(batch)]


@attrs.define
class LoadedSample:
    sample: Sample
    subjects: list[Any]
    target: Any


def load_sample(sample: Sample) -> LoadedSample:
    """Decode a sample's images; unreadable files raise DataError naming the file and manifest line."""
    from ezigen.images import load_image

    try:
        subjects = [load_image(path, what="subject image") for path in sample.subjects]
        target = load_image(sample.target, what="target image")
    except SubjectImageError as exc:
        raise DataError(f"manifest line {sample.line}: {exc}") from None
    return LoadedSample(sample, subjects, target)


def target_pixels(images: list[Any], resolution: int):
    """Target images -> (B, 3, R, R) in [-1, 1] (bilinear resize, aspect not kept, as released)."""
    from ezigen.images import to_tensor

    return to_tensor(images, resolution)

"""Training samples: images decoded and checked, the deterministic, resumable sample order, and the
``torch.utils.data`` pipeline that decodes micro-batches ahead of the step in worker processes.

Order: epoch e shuffles all sample indices with a generator seeded by (seed, e); the global
micro-batch c of W processes with per-process batch B takes positions
[c' * W * B, (c' + 1) * W * B) of its epoch's permutation (c' = c mod batches per epoch), and
process r its slice [r * B, (r + 1) * B). So the data position is a pure function of c: a
resumed run continues exactly where the checkpoint was written, on any number of processes
that divides the same way.

Pipeline: :class:`MicroBatchDataset` is indexed by the global micro-batch c (item c is process
r's whole micro-batch: decoded images and the target pixels (B, 3, R, R) in [-1, 1]), and
:class:`MicroBatchSampler` yields c = start, start + 1, ... from the resumed micro-batch, so a
``DataLoader(num_workers=N)`` over them hands the loop exactly what loading inline would, in the same
order, for any N. Nothing here draws random numbers; any per-sample randomness added here
(augmentation, flips) must seed a local generator with ``derived_seed(..., seed, c)``, never the
global stream, which differs between worker processes and the main one.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
from torch.utils.data import DataLoader, Dataset, Sampler

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


@attrs.frozen
class LoadedBatch:
    """One micro-batch as the DataLoader delivers it.

    ``items`` are the samples that decoded, ``pixels`` their target images (B', 3, R, R) (None when
    none decoded), ``errors`` a message per sample that did not (the loop stops or skips and counts).
    """

    index: int
    items: list[LoadedSample]
    pixels: Any
    errors: list[str]

    def pin_memory(self) -> LoadedBatch:
        """Called by ``DataLoader(pin_memory=True)`` (its hook for custom batch types)."""
        return attrs.evolve(self, pixels=None if self.pixels is None else self.pixels.pin_memory())


class MicroBatchDataset(Dataset):
    """A map-style dataset whose item c is micro-batch c of process ``rank``.

    ``resolution`` is the backbone's: the targets are resized and normalised here, in the worker.
    """

    def __init__(self, samples: list[Sample], seed: int, batch: int, world: int, rank: int, resolution: int):
        self.samples, self.seed, self.batch, self.world, self.rank = samples, seed, batch, world, rank
        self.resolution = resolution

    def __getitem__(self, micro_batch: int) -> LoadedBatch:
        indices = batch_indices(len(self.samples), self.seed, micro_batch, self.batch, self.world, self.rank)
        items, errors = [], []
        for i in indices:
            try:
                items.append(load_sample(self.samples[i]))
            except DataError as exc:  # the loop decides: stop, or skip and count (--skip-bad)
                errors.append(str(exc))
        pixels = target_pixels([item.target for item in items], self.resolution) if items else None
        return LoadedBatch(micro_batch, items, pixels, errors)


class MicroBatchSampler(Sampler[int]):
    """Micro-batch indices ``start, start + 1, ..., stop - 1``: a resumed run starts where its checkpoint stopped."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _as_is(batch: LoadedBatch) -> LoadedBatch:
    """The DataLoader's collate_fn: items already are whole micro-batches (module level, so workers can pickle it)."""
    return batch


def micro_batch_loader(dataset: MicroBatchDataset, start: int, stop: int, num_workers: int, pin_memory: bool,
                       prefetch_factor: int):
    """``DataLoader`` over micro-batches [start, stop), decoded by ``num_workers`` processes (0: inline).

    Each worker keeps ``prefetch_factor`` micro-batches ready; ``pin_memory`` (CUDA only) lets the
    host-to-device copy of the targets overlap. The order is the sampler's whatever ``num_workers`` is.
    """
    import torch

    workers = {"num_workers": num_workers}
    if num_workers > 0:
        workers.update(prefetch_factor=prefetch_factor, persistent_workers=False)
    return DataLoader(dataset, batch_size=None, sampler=MicroBatchSampler(start, stop), collate_fn=_as_is,
                      pin_memory=pin_memory and torch.cuda.is_available(), **workers)


def target_pixels(images: list[Any], resolution: int):
    """Target images -> (B, 3, R, R) in [-1, 1] (bilinear resize, aspect not kept, as released)."""
    from ezigen.images import to_tensor

    return to_tensor(images, resolution)

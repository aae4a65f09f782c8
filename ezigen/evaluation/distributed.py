"""Processes taking part in one evaluation: one (a plain run) or several (``accelerate launch``).

Under ``accelerate launch --num_processes N`` (or torchrun) the environment names a world of N
processes; accelerate's ``PartialState`` joins it (gloo on CPU, NCCL on GPUs) and gives each
process its rank and device. Generation is sharded by rank (disjoint slices of the plan); the
main process alone scores and writes the results after a barrier (the one merge). A plain run
never touches torch.distributed.
"""

from __future__ import annotations

import os
from typing import Any

import attrs


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


@attrs.define
class Workers:
    rank: int = 0
    world: int = 1
    device: Any = None
    _state: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def join(cls, device: str) -> Workers:
        """Join the launched world if there is one; ``device`` is the --device choice for a plain run."""
        from ezigen.devices import resolve_device

        if launched_world_size() <= 1:
            return cls(0, 1, resolve_device(device), None)
        from accelerate import PartialState

        wanted = resolve_device(device)
        state = PartialState(cpu=str(wanted).startswith("cpu"))
        return cls(state.process_index, state.num_processes, state.device, state)

    def barrier(self) -> None:
        if self._state is not None:
            self._state.wait_for_everyone()

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order (on every process)."""
        if self._state is None:
            return [value]
        from accelerate.utils import gather_object

        return gather_object([value])

    def close(self) -> None:
        if self._state is not None:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()

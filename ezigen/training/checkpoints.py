"""Checkpoints that lose nothing: ``RUN/checkpoints/step-NNNNNN/``, written atomically.

A checkpoint folder holds the fusion's weights (``adapter.safetensors``, the format of every
adapter file; or ``unet/`` for whole-UNet training), Accelerate's state (optimizer, scheduler,
model, RNG: ``accelerator.save_state``) and ``state.json`` (step, micro-batch position,
counters). It is written into ``.tmp-step-NNNNNN`` and renamed when complete, so a process
killed at any moment leaves either no folder or a complete one; leftovers are removed on resume.
Only the last K are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any

CHECKPOINTS = "checkpoints"
STEP_DIR = re.compile(r"^step-(\d{6,})$")


def checkpoint_root(run: str) -> str:
    return os.path.join(run, CHECKPOINTS)


def step_name(step: int) -> str:
    return f"step-{step:06d}"


def complete_checkpoints(run: str) -> list[tuple[int, str]]:
    """(step, folder) of every complete checkpoint, oldest first."""
    root = checkpoint_root(run)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = STEP_DIR.match(name)
        path = os.path.join(root, name)
        if match and os.path.isfile(os.path.join(path, "state.json")):
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run: str) -> tuple[int, str] | None:
    found = complete_checkpoints(run)
    return found[-1] if found else None


def remove_partial(run: str) -> None:
    """Delete temporary folders left by a process killed while writing a checkpoint."""
    root = checkpoint_root(run)
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith(".tmp-"):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def begin(run: str, step: int) -> str:
    """A fresh temporary folder for the checkpoint of ``step``."""
    root = checkpoint_root(run)
    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f".tmp-{step_name(step)}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def commit(run: str, tmp: str, step: int, state: dict[str, Any], keep: int) -> str:
    """Write ``state.json`` last, rename the folder into place, prune to the last ``keep``."""
    with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    final = os.path.join(checkpoint_root(run), step_name(step))
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)
    for _, old in complete_checkpoints(run)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(folder: str) -> dict[str, Any]:
    with open(os.path.join(folder, "state.json"), encoding="utf-8") as fh:
        return json.load(fh)

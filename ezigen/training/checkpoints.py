"""Checkpoints that lose nothing: ``RUN/checkpoints/step-NNNNNN/``, written atomically.

A checkpoint folder holds the fusion's weights (``adapter.safetensors``, the format of every
adapter file; or ``unet/`` for whole-UNet training), Accelerate's state (optimizer, scheduler,
model, RNG: ``accelerator.save_state``) and ``state.json`` (step, micro-batch position,
counters). It is written into ``.tmp-step-NNNNNN`` and renamed when complete, so a process
killed at any moment leaves either no folder or a complete one; leftovers are removed on resume.
Only the last K are kept.

A folder can still be damaged after it was committed (a full disk, a copy cut short, a bad
sector, a stray edit), so ``state.json`` also lists every other file of the checkpoint with its
size and sha256, computed at save time. ``--resume`` (:func:`resume`) verifies the newest
checkpoint first — ``state.json`` readable, every listed file present with its size and
checksum — and falls back to the newest one that verifies, saying which it skipped and why; the
damaged ones are moved aside to ``damaged-step-NNNNNN`` (kept for inspection, never loaded).
A checkpoint that verifies but does not load is not damage (the recipe changed, say): that is
an error, not a fallback. Checkpoints written before checksums existed are verified by loading.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

from ezigen.io import file_sha256

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
    """Write ``state.json`` last (with every other file's size and sha256), rename the folder into place,
    prune to the last ``keep``."""
    state = {**state, "files": file_checksums(tmp)}
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



def file_checksums(folder: str) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of every file under ``folder`` except ``state.json``."""
    found = {}
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if rel != "state.json":
                found[rel] = {"size": os.path.getsize(path), "sha256": file_sha256(path)}
    return found


def verify(folder: str) -> tuple[dict[str, Any] | None, str | None]:
    """(state, None) for a checkpoint whose files all match ``state.json``; (None, what is wrong) otherwise.

    A checkpoint from before checksums gives (state, None) when its state is readable: loading it is its test.
    """
    try:
        state = read_state(folder)
        if not isinstance(state, dict) or not all(k in state for k in ("step", "micro_batch", "counters")):
            raise ValueError("step, micro_batch or counters missing")
    except (OSError, ValueError) as exc:
        return None, f"state.json is unreadable ({type(exc).__name__}: {str(exc)[:120]})"
    files = state.get("files")
    if files is None:
        return state, None
    for rel, expected in sorted(files.items()):
        path = os.path.join(folder, *rel.split("/"))
        if not os.path.isfile(path):
            return None, f"{rel} is missing"
        size = os.path.getsize(path)
        if size != expected.get("size"):
            return None, f"{rel} has {size} bytes, {expected.get('size')} were written"
        if file_sha256(path) != expected.get("sha256"):
            return None, f"{rel} does not match its checksum"
    return state, None


def set_aside(folders: list[str]) -> list[str]:
    """Rename damaged checkpoints to ``damaged-step-NNNNNN[-k]`` so that nothing lists or loads them again."""
    moved = []
    for folder in folders:
        parent, name = os.path.split(folder)
        target, k = os.path.join(parent, f"damaged-{name}"), 1
        while os.path.exists(target):
            target, k = os.path.join(parent, f"damaged-{name}-{k}"), k + 1
        os.rename(folder, target)
        moved.append(target)
    return moved


def resume(run: str, load: Callable[[str], None], log: Callable[[str], None]) -> tuple[dict[str, Any] | None,
                                                                                      list[str]]:
    """Load the newest checkpoint that verifies: (its state or None when there is none, damaged folders skipped).

    ``load(folder)`` restores the trainer from a checkpoint folder (``accelerator.load_state``).
    """
    from ezigen.errors import EzigenError

    damaged = []
    for _step, folder in reversed(complete_checkpoints(run)):
        state, problem = verify(folder)
        if problem is None:
            try:
                load(folder)
            except Exception as exc:  # noqa: BLE001 - any failure to load is reported below
                if state.get("files") is not None:
                    raise EzigenError(f"checkpoint {folder} is complete (every checksum matches) but does not load "
                                      f"into this run: {type(exc).__name__}: {str(exc)[:300]}; resume with the recipe "
                                      "and --set options it was trained with") from None
                problem = f"it cannot be loaded ({type(exc).__name__}: {str(exc)[:120]})"
        if problem is None:
            newest = ", the newest complete checkpoint" if damaged else ""
            log(f"resumed from {folder} (step {state['step']}){newest}")
            return state, damaged
        log(f"checkpoint {folder} is damaged: {problem}; skipping it")
        damaged.append(folder)
    if damaged:
        log("no complete checkpoint is left: training starts again from step 0")
    return None, damaged

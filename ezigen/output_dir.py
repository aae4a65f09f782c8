"""Output folders: created and proven writable before any work is done."""

from __future__ import annotations

import os

from ezigen.errors import OutputError


def prepare_output_dir(path: str) -> str:
    """Create ``path`` (and parents) and prove it is writable, before any work is done."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"--out {path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".ezigen-write-test-{os.getpid()}")
        with open(probe, "w") as fh:
            fh.write("")
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"--out {path!r} is not writable: {exc.strerror or exc}") from None
    return path

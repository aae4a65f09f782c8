"""Atomic file writes: a file is either absent or complete, never half-written.

A write goes to ``.tmp-XXXXXXXX<suffix>`` beside the target and is renamed onto it when complete.
``tempfile.mkstemp`` creates that file with mode 0600; it is set to the mode a plain ``open``
would give, ``0o666 & ~umask`` (0644 under the usual umask 022), before the rename, so result
folders and served reports can be read by others exactly as files written any other way.
A process killed mid-write leaves its ``.tmp-*`` file behind; :func:`remove_stray_temp_files`
clears them (``ezigen eval`` calls it on its output folder before generating).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

TEMP_PREFIX = ".tmp-"


def default_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` gives a new file (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def default_folder_mode() -> int:
    """``0o777 & ~umask``: the mode ``os.mkdir`` gives a new folder (0755 under umask 022), for
    folders made by ``tempfile.mkdtemp`` (always 0700) and then published by a rename."""
    return 0o777 & ~current_umask()


def current_umask() -> int:
    umask = _umask_from_proc()
    if umask is None:  # elsewhere the only way to read it is to set it (racy with threads): put it straight back
        umask = os.umask(0o022)
        os.umask(umask)
    return umask


def _umask_from_proc() -> int | None:
    """The umask from ``/proc/self/status`` (Linux >= 4.7), without changing it."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return None


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The file at ``path`` ends with mode :func:`default_file_mode`, not mkstemp's 0600.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=os.path.splitext(path)[1], dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stray_temp_files(root: str) -> list[str]:
    """Delete every ``.tmp-*`` file under ``root`` (left by a killed writer); return their paths.

    Only call it where no other process is writing into ``root`` at the same time.
    """
    removed = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name.startswith(TEMP_PREFIX):
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed.append(path)
    return sorted(removed)


def write_text_atomic(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def write_json_atomic(path: str, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def file_sha256(path: str) -> str:
    """The hex SHA-256 of a file's bytes, read in 4 MiB blocks (checksums of checkpoints and result sets)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()

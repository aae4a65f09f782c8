"""One run per output folder: an exclusive lock file ``OUT/.lock``.

Two processes writing one ``--out`` mix their results (scores computed on the other run's
images, weights beside another run's recipe). Each command that owns an output folder holds
``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``OUT/.lock`` for as long as it runs; a second process
fails at once with an :class:`~ezigen.errors.OutputError` naming the first (pid, host, start
time and command line, which the holder writes into the file).

The kernel drops the lock when the holder exits, however it exits (``kill -9`` included), so
there is no stale lock to clean up by hand. The file is removed on release; a process that
opened it just before it was removed notices (the path no longer names the file it locked) and
tries again, so two processes never both believe they hold the folder. Under ``accelerate
launch`` only the process of global rank 0 locks (the others belong to the same run).

Usage, in a click command (released when the command ends, also on error)::

    click.get_current_context().with_resource(output_lock(out))
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import socket
import stat
import sys
import time
from collections.abc import Iterator

from ezigen.errors import OutputError

LOCK_FILE = ".lock"


def launch_rank() -> int:
    """This process's global rank under torchrun / ``accelerate launch`` (0 for a plain run)."""
    try:
        return int(os.environ.get("RANK", "0") or 0)
    except ValueError:
        return 0


def command_line() -> str:
    """How this process was started, for the message a second run gets."""
    argv = list(sys.argv)
    if argv and os.path.basename(argv[0]) in ("ezigen", "main.py", "__main__.py"):
        argv[0] = "ezigen"
    return shlex.join(argv)


def _describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["started"])))
        return f"pid {info['pid']} on {info['host']}, started {started}: {info['command']}"
    except (ValueError, KeyError, TypeError, OverflowError):
        return "a process that has not recorded itself yet"


def _open_locked(path: str, folder: str) -> int:
    """An fd on ``path`` holding the exclusive lock, or raise naming the holder."""
    for _attempt in range(10):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"--out {folder!r}: {LOCK_FILE} is a symbolic link; remove it") from None
            raise OutputError(f"--out {folder!r} is not writable: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OutputError(f"--out {folder!r}: {LOCK_FILE} is not a regular file; remove it")
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = b""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 4096, 0)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"--out {folder!r}: cannot lock {LOCK_FILE}: {exc.strerror or exc}") from None
            raise OutputError(f"--out {folder!r} is in use by another ezigen run "
                              f"({_describe_holder(holder.decode('utf-8', 'replace'))}); wait for it to finish "
                              "or choose another --out") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one
    raise OutputError(f"--out {folder!r}: could not take {LOCK_FILE} (it keeps being replaced)")


@contextlib.contextmanager
def output_lock(folder: str, *, enabled: bool | None = None, command: str | None = None) -> Iterator[str | None]:
    """Hold ``folder/.lock`` for the block; yield the lock path (None when ``enabled`` is false).

    ``enabled`` defaults to "global rank 0". The folder is created if missing (and removed again
    on release if this call created it and nothing else was written into it, so a run that
    fails on bad input leaves nothing behind). A path that exists and is not a folder is an
    :class:`OutputError`.
    """
    if enabled is None:
        enabled = launch_rank() == 0
    if not enabled:
        yield None
        return
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise OutputError(f"--out {folder!r} exists and is not a folder")
    created = not os.path.exists(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--out {folder!r} is not writable: it cannot be created ({exc.strerror or exc})") from None
    path = os.path.join(folder, LOCK_FILE)
    fd = _open_locked(path, folder)
    try:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                  "command": command or command_line()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: a waiter re-checks the path after locking
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only succeeds when empty

"""Output folders: created and proven writable before any work is done; an error of the file system
while writing into one (full disk, read-only, forbidden) names the folder."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from ezigen.errors import OutputError

# errors of the environment, not of ezigen: reported as one message (exit 2), never a traceback
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR,
                                errno.ENOTDIR, errno.ENAMETOOLONG, errno.EIO})


@contextlib.contextmanager
def writing_into(out: str, what: str = "--out") -> Iterator[None]:
    """Turn an environment ``OSError`` raised while writing into ``out`` into an :class:`OutputError`
    naming ``out``. ``write()`` errors (a full disk) carry no file name, so without this the message
    could not say where; an error naming a file outside ``out`` and its staging siblings (an input
    that cannot be read) is left alone, to be reported with its own path."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS or not _inside(exc.filename2 or exc.filename, out):
            raise
        named = exc.filename2 if exc.filename2 is not None else exc.filename  # a rename's destination first
        detail = f" ({os.fsdecode(named)})" if isinstance(named, (str, bytes)) else ""
        raise OutputError(f"{what} {out!r} cannot be written: {exc.strerror or exc}{detail}") from None


def _inside(filename: object, out: str) -> bool:
    """No file name (a write error), or a path in ``out`` or in a staging sibling ``.NAME.tmp-*``."""
    if filename is None:
        return True
    path = os.path.abspath(os.fsdecode(filename)) if isinstance(filename, (str, bytes, os.PathLike)) else ""
    root = os.path.abspath(out)
    staging = os.path.join(os.path.dirname(root), f".{os.path.basename(root)}.tmp-")
    return path == root or path.startswith(root + os.sep) or path.startswith(staging)


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

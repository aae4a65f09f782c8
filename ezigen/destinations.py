"""Writing one output file without damaging what sits at its path.

A destination given on the command line (``ezigen weights convert ... DST``) may only ever be a
regular file or a path that does not exist yet. Anything else (a folder, a symbolic link, a FIFO,
a device node such as ``/dev/full``, a socket) is refused before any work starts: writing "over"
it with a rename would silently replace it by a regular file, which is damage, not output. An
existing regular file is replaced only when the caller says so (``--overwrite``).

The content is written to a temporary sibling (same folder, so the rename is atomic) and
published at the end: with a hard link when the destination must not exist (``link`` fails
instead of clobbering, closing the window between the check and the publish), or ``os.replace``
when overwriting. A failure at any point leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator

from ezigen.errors import OutputError

_KINDS = (
    (stat.S_ISDIR, "a folder", "give a file path inside it, e.g. {path}/weights.safetensors"),
    (stat.S_ISLNK, "a symbolic link", "give the path it points to, or remove the link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)", "give a regular file path"),
    (stat.S_ISCHR, "a character device", "give a regular file path"),
    (stat.S_ISBLK, "a block device", "give a regular file path"),
    (stat.S_ISSOCK, "a socket", "give a regular file path"),
)


def check_destination(path: str, overwrite: bool, what: str = "destination", probe: bool = False) -> None:
    """Raise :class:`OutputError` unless ``path`` is absent, or a regular file and ``overwrite`` is set.

    ``probe``: also prove that its folder (when it exists) takes a new file, so a read-only or
    forbidden destination fails before the work rather than after it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if probe and os.path.isdir(folder):
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-probe-", dir=folder)
            os.close(fd)
            os.unlink(tmp)
        except OSError as exc:
            raise OutputError(f"{what} {path!r} cannot be written: {exc.strerror or exc}") from None
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{what} {path!r} cannot be checked: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        if not overwrite:
            raise OutputError(f"{what} {path!r} already exists; pass --overwrite to replace it")
        return
    for test, kind, hint in _KINDS:
        if test(mode):
            raise OutputError(f"{what} {path!r} is {kind}, not a regular file; refusing to write over it "
                              f"({hint.format(path=path.rstrip(os.sep))})")
    raise OutputError(f"{what} {path!r} is not a regular file; refusing to write over it")


@contextlib.contextmanager
def write_destination(path: str, overwrite: bool, what: str = "destination") -> Iterator[str]:
    """Yield a temporary sibling of ``path`` to write; publish it onto ``path`` if the block succeeds.

    The destination is checked on entry (before the work) and again just before publishing.
    ``OSError`` while preparing or publishing (no space, read-only, no permission) becomes an
    :class:`OutputError` naming ``path``; the temporary file never survives.
    """
    check_destination(path, overwrite, what)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{what} {path!r} cannot be written: {exc.strerror or exc}") from None
    try:
        yield tmp
        check_destination(path, overwrite, what)
        _publish(tmp, path, overwrite, what)
    except OSError as exc:
        raise OutputError(f"{what} {path!r} cannot be written: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _publish(tmp: str, path: str, overwrite: bool, what: str) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if anything appeared at `path` since the check: never clobbers
    except FileExistsError:
        raise OutputError(f"{what} {path!r} appeared while this command ran; it was left alone "
                          "(pass --overwrite to replace it)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        os.replace(tmp, path)  # a file system without hard links: the check above is the guard

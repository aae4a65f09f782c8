"""``ezigen data dreambench --out DIR`` without ``--from``: fetch google/dreambooth's ``dataset/``.

Only this explicit command touches the network (DESIGN §7: no default and no test needs it). It
downloads the GitHub archive of the repository (a zip, :data:`ARCHIVE_URL` at ``--ref``, or any
``--url``: a mirror, or a ``file://`` path to an archive fetched elsewhere), extracts it into a
temporary folder beside DIR, finds the folder holding ``prompts_and_classes.txt`` and hands it
to :func:`ezigen.evaluation.dreambench_copy.copy_dreambench`, which checks and copies it exactly
as ``--from`` does (``checksums.json`` records the URL and every file's SHA-256, which pins the
content when the ref is a branch). The temporary folder is removed whatever happens.

Written by hand because no library here provides it: streaming to a file with a size cap
(:data:`MAX_BYTES`) and a zip extraction that refuses members escaping the folder or links.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile

from ezigen.errors import DataError
from ezigen.evaluation.dreambench import PROMPTS_FILE

ARCHIVE_URL = "https://github.com/google/dreambooth/archive/{ref}.zip"
DEFAULT_REF = "main"
MAX_BYTES = 1 << 30  # the archive is ~100 MB; anything past 1 GiB is not DreamBench
TIMEOUT_S = 60
CHUNK = 1 << 20
FIND_DEPTH = 3


def archive_url(ref: str = DEFAULT_REF, url: str | None = None) -> str:
    return url or ARCHIVE_URL.format(ref=ref)


def download(url: str, target: str) -> None:
    """Stream ``url`` into the file ``target`` (at most :data:`MAX_BYTES`)."""
    hint = ("where the network does not allow it, get the repository's dataset/ folder another way "
            "(a git clone elsewhere) and pass it with --from")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(target, "wb") as fh:
            total = 0
            while chunk := response.read(CHUNK):
                total += len(chunk)
                if total > MAX_BYTES:
                    raise DataError(f"{url}: more than {MAX_BYTES >> 20} MiB; not the DreamBench archive")
                fh.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"cannot download DreamBench from {url}: {reason}; {hint}") from None


def extract(archive: str, folder: str, url: str) -> None:
    """Unzip ``archive`` into ``folder``, refusing absolute paths, ``..`` and symbolic links."""
    root = os.path.realpath(folder)
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                target = os.path.realpath(os.path.join(root, member.filename))
                if os.path.commonpath([root, target]) != root:
                    raise DataError(f"{url}: archive member {member.filename!r} points outside the folder")
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise DataError(f"{url}: archive member {member.filename!r} is a symbolic link")
            zf.extractall(root)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{url}: not a zip archive ({exc})") from None


def find_dataset(folder: str, url: str) -> str:
    """The shallowest folder under ``folder`` holding ``prompts_and_classes.txt``."""
    found = []
    for current, dirs, files in os.walk(folder):
        depth = 0 if current == folder else os.path.relpath(current, folder).count(os.sep) + 1
        if depth >= FIND_DEPTH:
            dirs.clear()
        if PROMPTS_FILE in files:
            found.append((depth, current))
    if found:
        return min(found)[1]
    raise DataError(f"{url}: no {PROMPTS_FILE} in the archive (expected google/dreambooth's dataset/ folder)")


def fetch_dreambench(out: str, ref: str = DEFAULT_REF, url: str | None = None):
    """Download, extract, check and copy DreamBench to ``out``; the copy's report."""
    from ezigen.evaluation.dreambench_copy import copy_dreambench

    url = archive_url(ref, url)
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".tmp-dreambench-download-", dir=parent)
    try:
        archive = os.path.join(work, "archive.zip")
        download(url, archive)
        extract(archive, os.path.join(work, "files"), url)
        return copy_dreambench(find_dataset(os.path.join(work, "files"), url), out, source_label=url)
    finally:
        shutil.rmtree(work, ignore_errors=True)

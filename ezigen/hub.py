"""Failing fast when a hub id cannot be had: no network and not in the local cache.

huggingface_hub retries an unreachable endpoint for about 30 s before its error; a user who is
offline should hear it at once, with the hint that helps (``HF_HUB_OFFLINE=1``, ``--tiny``, a
local folder). One TCP connect (2 s at most) per process decides; ``HF_HUB_OFFLINE=1`` skips it,
as huggingface_hub then answers from the cache alone without retrying.

Also here: ``hf://OWNER/REPO[@REVISION]/FILE`` URIs (weights files at a pinned revision), parsed
by huggingface_hub (:func:`parse_hf_uri`) and downloaded with ``hf_hub_download``.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

import attrs

from ezigen.errors import EzigenError

CONNECT_TIMEOUT_S = 2.0


@functools.lru_cache(maxsize=4)
def hub_reachable(endpoint: str) -> bool:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def in_local_cache(repo_id: str) -> bool:
    from huggingface_hub import constants

    return os.path.isdir(os.path.join(constants.HF_HUB_CACHE, "models--" + repo_id.replace("/", "--")))


def require_hub(repo_id: str, where: str) -> None:
    """Before a hub read of ``repo_id``: an error at once when it can neither be downloaded nor read from cache."""
    from huggingface_hub import constants

    if os.path.isdir(repo_id) or ":" in repo_id.split("/")[0] or constants.HF_HUB_OFFLINE or in_local_cache(repo_id):
        return
    if not hub_reachable(constants.ENDPOINT):
        raise EzigenError(f"{where}: {repo_id!r} is not a local folder, not in the local cache "
                          f"({constants.HF_HUB_CACHE}), and the hub ({constants.ENDPOINT}) cannot be reached. Offline, "
                          "use --tiny (tiny stand-ins) or a local diffusers folder, and set HF_HUB_OFFLINE=1")


HF_SCHEME = "hf://"


@attrs.frozen
class HubFile:
    """One file of a hub repo at a revision: what ``hf://OWNER/REPO[@REVISION]/PATH`` names."""

    repo_id: str
    revision: str | None  # None: main
    path_in_repo: str


def parse_hf_uri(uri: str, where: str = "fusion.weights", error: type[EzigenError] = EzigenError) -> HubFile:
    """``hf://owner/repo@revision/path/in/repo`` (``@revision`` optional; a ref with a slash is URL-encoded,
    ``@refs%2Fpr%2F3``) -> :class:`HubFile`.

    Online, ``HfFileSystem().resolve_path`` parses it and checks that the repo and revision exist;
    it asks the hub for that, so offline (``HF_HUB_OFFLINE=1``, or the hub unreachable) the same
    grammar is read by ``huggingface_hub.parse_hf_uri``, the parser resolve_path itself uses, and
    the download is then answered from the local cache.
    """
    from huggingface_hub import HfFileSystem, constants
    from huggingface_hub import parse_hf_uri as parse

    if not uri.startswith(HF_SCHEME):
        raise error(f"{where}: {uri!r} is not an hf:// URI")
    try:
        parsed = parse(uri)
    except ValueError as exc:
        raise error(f"{where}: {uri!r} is not hf://OWNER/REPO[@REVISION]/FILE: {exc}") from None
    if parsed.type != "model" or not parsed.path_in_repo or "/" not in parsed.id:
        raise error(f"{where}: {uri!r} is not hf://OWNER/REPO[@REVISION]/FILE (a file in a model repo)")
    if constants.HF_HUB_OFFLINE or not hub_reachable(constants.ENDPOINT):
        return HubFile(parsed.id, parsed.revision, parsed.path_in_repo)
    try:
        resolved = HfFileSystem().resolve_path(uri)
    except FileNotFoundError:
        at = f" at revision {parsed.revision!r}" if parsed.revision else ""
        raise error(f"{where}: {uri!r}: the hub has no repo {parsed.id!r}{at} (or no access to it)") from None
    return HubFile(resolved.repo_id, resolved.revision, resolved.path_in_repo)


def download_hf_uri(uri: str, where: str = "fusion.weights", error: type[EzigenError] = EzigenError) -> str:
    """The local path of the file an ``hf://`` URI names (downloaded into, or read from, the HF cache)."""
    from huggingface_hub import hf_hub_download

    target = parse_hf_uri(uri, where, error)
    try:
        return hf_hub_download(target.repo_id, target.path_in_repo, revision=target.revision)
    except Exception as exc:  # offline and not cached, missing file, unknown revision, no access
        raise error(f"{where}: cannot download {uri!r}: {type(exc).__name__}. "
                          "Offline, download it elsewhere and give a local path.") from None

"""Failing fast when a hub id cannot be had: no network and not in the local cache.

huggingface_hub retries an unreachable endpoint for about 30 s before its error; a user who is
offline should hear it at once, with the hint that helps (``HF_HUB_OFFLINE=1``, ``--tiny``, a
local folder). One TCP connect (2 s at most) per process decides; ``HF_HUB_OFFLINE=1`` skips it,
as huggingface_hub then answers from the cache alone without retrying.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

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

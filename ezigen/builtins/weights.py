"""The builtin weights resolver: local paths and ``hf://OWNER/REPO[@REVISION]/PATH/IN/REPO``.

``@REVISION`` pins a commit (or names a branch or tag; a ref with a slash is URL-encoded,
``@refs%2Fpr%2F3``); without it the file is read at ``main``. Parsing and download: ezigen.hub.
"""

from __future__ import annotations

import os

from ezigen.errors import WeightsError
from ezigen.hub import HF_SCHEME, download_hf_uri
from ezigen.markers import hookimpl


@hookimpl(trylast=True)
def ezigen_resolve_weights(uri: str) -> str | None:
    if uri.startswith("toy:"):  # weights shipped with the package (the toy world's adapter)
        from ezigen.toy.backbone import embedded_weights

        return embedded_weights(uri)
    expanded = os.path.expanduser(uri)
    if os.path.isfile(expanded):
        return expanded
    if os.path.isdir(expanded):
        raise WeightsError(f"fusion.weights: {uri!r} is a folder; expected a weights file (.safetensors or .bin)")
    if uri.startswith(HF_SCHEME):
        return download_hf_uri(uri, "fusion.weights", WeightsError)
    return None

"""The builtin weights resolver: local paths and ``hf://OWNER/REPO/PATH/IN/REPO``."""

from __future__ import annotations

import os

from ezigen.errors import WeightsError
from ezigen.markers import hookimpl

HF_SCHEME = "hf://"


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
        parts = uri[len(HF_SCHEME):].split("/")
        if len(parts) < 3:
            raise WeightsError(f"fusion.weights: {uri!r} is not hf://OWNER/REPO/FILE")
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download("/".join(parts[:2]), "/".join(parts[2:]))
        except Exception as exc:  # offline (HF_HUB_OFFLINE), missing file, no access
            raise WeightsError(f"fusion.weights: cannot download {uri!r}: {type(exc).__name__}. "
                               "Offline, download it elsewhere and give a local path.") from None
    return None

"""The hub revisions that define the protocol, and the ``revision`` recipe key beside ``pretrained``.

A hub id read at ``main`` moves when its owner pushes, and a metric backbone that moves shifts
every score. So each shipped recipe and each default below names a commit. The commits are those
that public code loads these models at (snapshot folders and pinned download URLs found through
code search; the EZIGen release names no revision); docs/dependencies.md lists each with its source.
A model not listed here is read at ``main`` unless its recipe says otherwise.

``revision`` is passed to every ``from_pretrained`` / ``hf_hub_download`` of a hub id; local folders
and ``tiny:*`` models have no revisions and ignore it. Runs record the commit it resolved to
(``trace.json`` / ``results.json`` ``"provenance"``).
"""

from __future__ import annotations

import os
from typing import Any

from ezigen.config import setting

PINNED = {
    "stabilityai/stable-diffusion-2-1-base": "5ede9e4bf3e3fd1cb0ef2f7a3fff13ee514fdf06",
    "stabilityai/stable-diffusion-xl-base-1.0": "462165984030d82259a11f4367a4eed129e94a7b",
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "451f4fe16113bff5a5d2269ed5ad43b0592e9a14",
    "openai/clip-vit-base-patch32": "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
    "facebook/dino-vits16": "abe3b354cb6a9b6f146096b14a4a9d7eecbcb4bd",
    "facebook/dinov2-base": "f9e44c814b77203eaa57a6bdbbd535f21ede1415",
    "h94/IP-Adapter": "018e402774aeeddd60609b4ecdb7e298259dc729",
    "madebyollin/sdxl-vae-fp16-fix": "207b116dae70ace3637169f1ddd2434b91b3a8cd",
}


def is_hub_id(ref: Any) -> bool:
    """``owner/name`` that is not a local folder and not a builtin name (``tiny:clip``)."""
    return isinstance(ref, str) and ":" not in ref and not os.path.exists(ref)


def _matches_model(instance: Any, attribute: Any, value: str | None) -> None:
    """A pinned commit of one model given for another hub model is a mistake (a 404 at load time otherwise)."""
    if instance is None:  # checked field by field (ezigen.config.structure); the pair is checked when built
        return
    of = attribute.metadata.get("ezigen.revision_of", "pretrained")
    ref = getattr(instance, of)
    owners = [model for model, commit in PINNED.items() if commit == value]
    if value is not None and owners and is_hub_id(ref) and ref not in owners:
        raise ValueError(f"{value} is the pinned commit of {owners[0]}, not of {of} {ref!r}; give {ref}'s own "
                         "revision, or null for main")


def revision_setting(default_model: str | None = None, of: str = "pretrained") -> Any:
    """The ``revision`` field beside ``of``; its default pins ``default_model`` (the field's default model)."""
    doc = (f"Hub revision of `{of}`: a commit hash (a branch or tag also works, but moves); null = main. Ignored "
           "for local folders and tiny:* models. Runs record the commit it resolved to.")
    default = PINNED.get(default_model) if default_model else None
    if default:
        doc += f" Default: the commit pinned for {default_model} (docs/dependencies.md)."
    field = setting(default, doc=doc, validator=_matches_model)
    field.metadata["ezigen.revision_of"] = of
    return field

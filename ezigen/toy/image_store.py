"""Generated images of ``ezigen toy table``, kept so that a rerun (or a run killed half-way) reuses them.

Layout: ``DIR/images/<method>/key.json`` (what made the images: the resolved recipe and a digest
of every weights file it loads) and, per sample ``i``, ``<i>.png`` with ``<i>.json`` (seconds,
UNet evaluations). Each file is written atomically, the image last, so a present ``<i>.png``
always has its record. A folder whose key differs from the method's current key (another recipe,
retrained weights) is emptied before use: stale images are never scored as new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from ezigen.images import save_image_atomic
from ezigen.io import write_json_atomic


def weights_digest(paths: list[str]) -> str:
    """SHA-256 over the weights and config files under ``paths`` (files or folders; missing ones skipped)."""
    digest = hashlib.sha256()
    for path in paths:
        files = [path] if os.path.isfile(path) else sorted(
            os.path.join(root, name) for root, _, names in os.walk(path) for name in names
            if name.endswith((".safetensors", ".json", ".txt")))
        for file in files:
            digest.update(os.path.relpath(file, path).encode())
            with open(file, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def recipe_key(recipe: Any) -> dict[str, Any]:
    """What decides a method's images: the resolved recipe and the digest of the toy weights it names."""
    from ezigen.toy.backbone import TOY_ADAPTER, TOY_BASE
    from ezigen.toy.encoders.models import EMBEDDED

    data = recipe.to_data()
    named = [data["backbone"].get("pretrained"), (data.get("fusion") or {}).get("weights"),
             (data.get("subject_encoder") or {}).get("pretrained")]  # a retrained toy:clip / toy:dino changes images
    embedded = {"toy:base": TOY_BASE, "toy:ezigen": TOY_ADAPTER, **EMBEDDED}
    paths = [embedded.get(p, p) for p in named if isinstance(p, str)]
    return {"recipe": json.loads(json.dumps(data, sort_keys=True, default=str)),
            "weights": weights_digest([p for p in paths if os.path.exists(p)])}


class ImageStore:
    """The images of one method (or one training checkpoint) in ``folder``, valid for ``key``."""

    def __init__(self, folder: str, key: dict[str, Any]):
        self.folder = folder
        key_path = os.path.join(folder, "key.json")
        if os.path.isfile(key_path):
            with open(key_path, encoding="utf-8") as handle:
                if json.load(handle) != key:
                    shutil.rmtree(folder)
        os.makedirs(folder, exist_ok=True)
        if not os.path.isfile(key_path):
            write_json_atomic(key_path, key)

    def load(self, index: int) -> tuple[Any, dict[str, Any]] | None:
        """(image, record) of sample ``index``, or None when it was not generated yet."""
        from PIL import Image

        image_path = os.path.join(self.folder, f"{index}.png")
        if not os.path.isfile(image_path):
            return None
        with open(os.path.join(self.folder, f"{index}.json"), encoding="utf-8") as handle:
            record = json.load(handle)
        with Image.open(image_path) as image:
            return image.convert("RGB"), record

    def save(self, index: int, image: Any, record: dict[str, Any]) -> None:
        write_json_atomic(os.path.join(self.folder, f"{index}.json"), record)
        save_image_atomic(image, os.path.join(self.folder, f"{index}.png"))  # last: it marks the sample done

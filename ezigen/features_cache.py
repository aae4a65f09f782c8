"""The subject-feature cache: encode each subject once per (image content, prompt, encoder config).

In memory (an LRU of ``capacity`` entries) and, when a folder is given (``cache_dir`` or the
``EZIGEN_FEATURE_CACHE`` environment variable), on disk too: content-addressed safetensors files
named by sha256(subject key + encoder key), written atomically, so other processes and later
runs reuse them. A hit costs no UNet pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ezigen.values import FeatureKind, SubjectFeatures

CACHE_ENV = "EZIGEN_FEATURE_CACHE"


class FeatureCache:
    def __init__(self, capacity: int = 16, cache_dir: str | None = None):
        self.capacity = capacity
        self.cache_dir = cache_dir or os.environ.get(CACHE_ENV) or None
        self._memory: OrderedDict[str, SubjectFeatures] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(subject_key: str, encoder_key: str) -> str:
        return hashlib.sha256(f"{subject_key}\n{encoder_key}".encode()).hexdigest()

    def get_or_compute(self, key: str, compute: Callable[[], SubjectFeatures]) -> tuple[SubjectFeatures, bool]:
        """(features, computed): ``computed`` is False on a hit (memory or disk)."""
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key], False
        features = self._read(key)
        computed = features is None
        if computed:
            features = compute()
            self._write(key, features)
            self.misses += 1
        else:
            self.hits += 1
        self._memory[key] = features
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)
        return features, computed

    def clear(self) -> None:
        self._memory.clear()

    # --- disk ---------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        return os.path.join(self.cache_dir, key[:2], f"{key}.safetensors")

    def _read(self, key: str) -> SubjectFeatures | None:
        if not self.cache_dir or not os.path.isfile(self._path(key)):
            return None
        from safetensors import safe_open

        try:
            tensors: dict[str, Any] = {}
            with safe_open(self._path(key), framework="pt") as fh:
                meta = fh.metadata() or {}
                for name in fh.keys():
                    tensors[name] = fh.get_tensor(name)
            kind = FeatureKind(meta["kind"])
            info = json.loads(meta.get("info", "{}"))
        except Exception:  # a damaged cache entry is recomputed, never trusted
            return None
        if kind is FeatureKind.SPATIAL:
            return SubjectFeatures(kind, layers={k[len("layer:"):]: v for k, v in tensors.items()}, info=info)
        if kind is FeatureKind.TOKENS:
            return SubjectFeatures(kind, tokens=tensors["tokens"], info=info)
        return SubjectFeatures(kind, reference={k[len("ref:"):]: v for k, v in tensors.items()}, info=info)

    def _write(self, key: str, features: SubjectFeatures) -> None:
        if not self.cache_dir:
            return
        from safetensors.torch import save_file

        from ezigen.io import atomic_path

        if features.kind is FeatureKind.SPATIAL:
            tensors = {f"layer:{k}": v for k, v in features.layers.items()}
        elif features.kind is FeatureKind.TOKENS:
            tensors = {"tokens": features.tokens}
        else:
            tensors = {f"ref:{k}": v for k, v in features.reference.items() if hasattr(v, "contiguous")}
            if len(tensors) != len(features.reference):
                return  # not all plain tensors: memory cache only
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        meta = {"kind": features.kind.value, "info": json.dumps(dict(features.info), default=str)}
        with atomic_path(path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=meta)

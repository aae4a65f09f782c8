"""``myplugin-grid``: a TOKENS subject encoder, the documented minimum (docs/plugins.md#subject-encoders).

Each subject image is resized to ``grid`` x ``grid`` cells; each cell's mean RGB in [-1, 1] is one
token, so N images give tokens (1, N * grid², 3) and ``output_dim`` = 3. Batching for training,
the "no subject" tokens and ``tokens_per_image`` come from ezigen's defaults.
"""

from __future__ import annotations

import hashlib
import json

import attrs

import ezigen


@attrs.frozen
class GridEncoderConfig:
    grid: int = ezigen.setting(4, doc="Cells per side: grid² tokens per subject image.", validator=ezigen.in_range(1, 32))


class GridEncoder:
    config_class = GridEncoderConfig

    def __init__(self, config: GridEncoderConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: GridEncoderConfig, backbone=None) -> GridEncoder:
        return cls(config)

    @classmethod
    def output_kind(cls, config: GridEncoderConfig) -> ezigen.FeatureKind:
        return ezigen.FeatureKind.TOKENS

    output_dim = 3  # the token size D

    def encode(self, subject: ezigen.SubjectInput, backbone=None) -> ezigen.SubjectFeatures:
        import numpy as np
        import torch

        size = self.config.grid
        cells = [np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32) / 127.5 - 1.0
                 for image in subject.images]  # each (grid, grid, 3)
        tokens = torch.from_numpy(np.concatenate([c.reshape(-1, 3) for c in cells]))[None]  # (1, N*grid², 3)
        device = getattr(backbone, "device", None) if backbone is not None else None
        return ezigen.SubjectFeatures(ezigen.FeatureKind.TOKENS, tokens=tokens.to(device=device))

    def cache_key(self) -> str:
        return hashlib.sha256(json.dumps({"encoder": "myplugin-grid", "grid": self.config.grid}).encode()).hexdigest()

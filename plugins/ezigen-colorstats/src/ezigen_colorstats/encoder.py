"""``colorstats``: colour statistics of the subject as TOKENS.

For N subject images and a grid of g x g cells, with x the pixels in [-1, 1]:

    token(n, cell) = [mean_R, mean_G, mean_B, std_R, std_G, std_B] over the cell     # D = 6
    tokens: (1, N * g², 6)

The documented minimum of a TOKENS encoder: ``config_class``, ``from_config``, ``output_kind``,
``encode``, ``cache_key``, ``output_dim``.
"""

from __future__ import annotations

import hashlib
import json

import attrs

import ezigen


@attrs.frozen
class ColorStatsConfig:
    grid: int = ezigen.setting(2, doc="Cells per side: grid² tokens per subject image.", validator=ezigen.in_range(1, 16))
    size: int = ezigen.setting(64, doc="Side the image is resized to before the cells are taken.",
                               validator=ezigen.in_range(8, 1024))


class ColorStatsEncoder:
    """Per-cell RGB mean and standard deviation (TOKENS, D = 6)."""

    config_class = ColorStatsConfig
    output_dim = 6

    def __init__(self, config: ColorStatsConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: ColorStatsConfig, backbone=None) -> ColorStatsEncoder:
        return cls(config)

    @classmethod
    def output_kind(cls, config: ColorStatsConfig) -> ezigen.FeatureKind:
        return ezigen.FeatureKind.TOKENS

    def image_tokens(self, image) -> "list[list[float]]":
        import numpy as np

        g, size = self.config.grid, self.config.size - self.config.size % self.config.grid
        x = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float64) / 127.5 - 1.0  # (S, S, 3)
        cells = x.reshape(g, size // g, g, size // g, 3).transpose(0, 2, 1, 3, 4).reshape(g * g, -1, 3)
        return np.concatenate([cells.mean(axis=1), cells.std(axis=1)], axis=1).tolist()  # (g², 6)

    def encode(self, subject: ezigen.SubjectInput, backbone=None) -> ezigen.SubjectFeatures:
        import torch

        rows = [row for image in subject.images for row in self.image_tokens(image)]
        tokens = torch.tensor(rows, dtype=torch.float32)[None]  # (1, N*g², 6)
        if backbone is not None:
            tokens = tokens.to(device=backbone.device, dtype=backbone.dtype)
        return ezigen.SubjectFeatures(ezigen.FeatureKind.TOKENS, tokens=tokens,
                                      info={"encoder": "colorstats", "grid": self.config.grid})

    def cache_key(self) -> str:
        payload = json.dumps({"encoder": "colorstats", **attrs.asdict(self.config)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

"""``myplugin-brightness``: a metric, the documented minimum (docs/plugins.md#metrics).

    score = 1 - |mean luminance(image) - mean luminance(conditioning reference)|,  luminance in [0, 1]

One score per image, independent of the batch. No ``describe()``: the report shows the config.
"""

from __future__ import annotations

import attrs

import ezigen


def _luminance(image) -> float:
    import numpy as np

    return float(np.asarray(image.convert("L"), dtype=np.float64).mean() / 255.0)


@attrs.frozen
class BrightnessMetricConfig:
    pass


class BrightnessMetric:
    config_class = BrightnessMetricConfig
    uses_references = True  # optional: the evaluation passes the subject's real images

    def __init__(self, config: BrightnessMetricConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: BrightnessMetricConfig) -> BrightnessMetric:
        return cls(config)

    def score(self, images, references=None, prompts=None) -> list[float]:
        target = _luminance(references[0]) if references else 0.5
        return [1.0 - abs(_luminance(image) - target) for image in images]

"""``colour-histogram``: how close a generated image's colours are to the subject's.

    h(x) = joint RGB histogram of x with ``bins`` levels per channel, normalised to sum 1
    score(image) = sum_k min(h(image)_k, h(reference)_k)      in [0, 1] (histogram intersection)

against the conditioning reference (the first reference image). One score per image,
independent of the batch.
"""

from __future__ import annotations

import attrs

import ezigen


def histogram(image, bins: int):
    import numpy as np

    x = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.int64) * bins // 256  # (64, 64, 3) in 0..bins-1
    index = (x[..., 0] * bins + x[..., 1]) * bins + x[..., 2]
    counts = np.bincount(index.ravel(), minlength=bins ** 3).astype(np.float64)
    return counts / counts.sum()


@attrs.frozen
class ColourHistogramConfig:
    bins: int = ezigen.setting(8, doc="Levels per channel of the joint RGB histogram.", validator=ezigen.in_range(2, 64))


class ColourHistogramMetric:
    config_class = ColourHistogramConfig
    uses_references = True

    def __init__(self, config: ColourHistogramConfig):
        self.config = config

    @classmethod
    def from_config(cls, config: ColourHistogramConfig) -> ColourHistogramMetric:
        return cls(config)

    def score(self, images, references=None, prompts=None) -> list[float]:
        import numpy as np

        if not references:
            raise ezigen.EzigenError("colour-histogram needs the subject's reference images")
        target = histogram(references[0], self.config.bins)
        return [float(np.minimum(histogram(image, self.config.bins), target).sum()) for image in images]

    def describe(self) -> dict:
        return {"backbone": "none (pixel statistics)",
                "preprocessing": f"RGB, resized to 64x64, {self.config.bins} levels per channel"}

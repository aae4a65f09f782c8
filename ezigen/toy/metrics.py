"""Toy-world metrics from the generator's ground truth: no pretrained network.

For a generated 32 x 32 image of a scene (subject, background b, position p), measured on its
2 x 2 block means (16 x 16: the latent grid of the pixel-unshuffle base, which also averages
away the base's sub-pixel checker artefacts):

- background: the median colour of the 1-block border, matched to the nearest of the 8 world
  backgrounds; correct iff it is b.
- subject region R: blocks farther than 60 (RGB units) from the image's own background colour (the
  border median), so a slightly-off background does not swallow the whole image.
- position: R's centroid, matched to the nearest of the 5 anchors; correct iff it is p.
- alignment = (background correct + position correct) / 2.
- palette distance to colours {c1, c2}: a symmetric (chamfer) distance between R's pixels and the
  colours, D = (mean_{x in R} min_c |x - c| + mean_c min_{x in R} |x - c|) / 2 / (255 sqrt 3),
  in [0, 1]; fidelity = 1 - D against the true subject's colours. The control scores the same
  image against a *wrong* subject's colours: a gain that is real is specific to the subject.
  (Texture is not measured: at 32 px the base draws it too faintly to score reliably.)
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from ezigen.toy.world import BACKGROUNDS, POSITIONS, SIZE, Scene

GRID = SIZE // 2  # measure on 2 x 2 block means

REGION_DISTANCE = 60.0
NORMALISER = 255.0 * math.sqrt(3.0)


@attrs.frozen
class SceneScore:
    background_correct: bool
    position_correct: bool
    fidelity: float
    control_fidelity: float
    region_pixels: int

    @property
    def alignment(self) -> float:
        return (float(self.background_correct) + float(self.position_correct)) / 2


def _nearest(value: np.ndarray, table: dict[str, Any]) -> str:
    return min(table, key=lambda name: float(np.linalg.norm(value - np.asarray(table[name], dtype=np.float64))))


def palette_fidelity(region: np.ndarray, colours: tuple[tuple[int, int, int], ...]) -> float:
    """1 - symmetric palette distance between region pixels (N, 3) and the colours (0 when R is empty)."""
    if len(region) == 0:
        return 0.0
    targets = np.asarray(colours, dtype=np.float64)  # (K, 3)
    distances = np.linalg.norm(region[:, None, :] - targets[None, :, :], axis=-1)  # (N, K)
    chamfer = 0.5 * (distances.min(axis=1).mean() + distances.min(axis=0).mean())
    return float(1.0 - chamfer / NORMALISER)


def score_scene(image: Any, scene: Scene, control_colours: tuple[tuple[int, int, int], ...]) -> SceneScore:
    full = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.float64)  # (32, 32, 3)
    pixels = full.reshape(GRID, 2, GRID, 2, 3).mean(axis=(1, 3))  # (16, 16, 3) block means
    border = np.concatenate([pixels[:1].reshape(-1, 3), pixels[-1:].reshape(-1, 3),
                             pixels[:, :1].reshape(-1, 3), pixels[:, -1:].reshape(-1, 3)])
    background = np.median(border, axis=0)
    background_correct = _nearest(background, BACKGROUNDS) == scene.background
    mask = np.linalg.norm(pixels - background, axis=-1) > REGION_DISTANCE  # (16, 16)
    region = pixels[mask]
    if mask.any():
        ys, xs = np.nonzero(mask)
        centroid = np.array([xs.mean() + 0.5, ys.mean() + 0.5]) / GRID
        anchors = {name: np.asarray(xy) for name, xy in POSITIONS.items()}
        position_correct = min(anchors, key=lambda n: float(np.linalg.norm(centroid - anchors[n]))) == scene.position
    else:
        position_correct = False
    return SceneScore(
        background_correct=bool(background_correct),
        position_correct=bool(position_correct),
        fidelity=palette_fidelity(region, scene.subject.colours),
        control_fidelity=palette_fidelity(region, control_colours),
        region_pixels=int(mask.sum()),
    )


def mean_and_se(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    if len(array) < 2:
        return float(array.mean()) if len(array) else math.nan, math.nan
    return float(array.mean()), float(array.std(ddof=1) / math.sqrt(len(array)))


def checker_artefact(image: Any) -> float:
    """The pixel-unshuffle base's 2 x 2 sub-pixel checker on the flat background, in RGB units (0..255).

    For each 2 x 2 block of the outer ring of the 16 x 16 block grid (the background, where a true
    render is flat): the mean |pixel - block mean| over its 4 pixels and 3 channels; the median over
    the ring's 60 blocks (robust to a subject touching the border). 0 for a true render."""
    full = np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.float64)  # (32, 32, 3)
    blocks = full.reshape(GRID, 2, GRID, 2, 3).transpose(0, 2, 1, 3, 4)  # (16, 16, 2, 2, 3)
    deviation = np.abs(blocks - blocks.mean(axis=(2, 3), keepdims=True)).mean(axis=(2, 3, 4))  # (16, 16)
    ring = np.concatenate([deviation[0], deviation[-1], deviation[1:-1, 0], deviation[1:-1, -1]])  # (60,)
    return float(np.median(ring))

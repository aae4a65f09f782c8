"""Builtin stop rules for iterative appearance transfer (spec §4.3).

After refinement iteration n (1-based) the loop asks ``should_stop(n, previous, current)``;
``previous`` is the result before this iteration (the initial pass for n = 1).

- ``fixed``: exactly N iterations (the released ``--num_interations N``).
- ``clip-similarity`` (released default): stop when the CLIP image cosine of two consecutive
  results reaches ``threshold`` (0.99), after at least ``min_iterations`` (3) and at most
  ``max_iterations`` (9). The similarity is only computed once it can matter (n >= min), which
  changes no decision and saves min - 1 CLIP passes.
- ``latent-similarity``: the same convergence test on the final latents, with no decode and no
  CLIP model (a fast path; its decisions differ from the released rule).
"""

from __future__ import annotations

from typing import Any

import attrs

from ezigen.builtins.revisions import revision_setting
from ezigen.config import in_range, setting
from ezigen.markers import hookimpl


@attrs.frozen
class FixedStopConfig:
    iterations: int = setting(3, doc="Number of refinement iterations.", validator=in_range(1, 1000))


class FixedStop:
    config_class = FixedStopConfig
    needs_images = False

    def __init__(self, config: FixedStopConfig):
        self.config = config
        self.max_iterations = config.iterations

    @classmethod
    def from_config(cls, config: FixedStopConfig) -> FixedStop:
        return cls(config)

    def should_stop(self, iteration: int, previous: Any, current: Any) -> bool:
        return iteration >= self.config.iterations


@attrs.frozen
class SimilarityStopConfig:
    threshold: float = setting(0.99, doc="Stop when cos(previous, current) >= threshold.", validator=in_range(-1.0, 1.0))
    min_iterations: int = setting(3, doc="Always run at least this many iterations.", validator=in_range(1, 1000))
    max_iterations: int = setting(9, doc="Never run more than this many iterations.", validator=in_range(1, 1000))

    def __attrs_post_init__(self) -> None:
        if self.min_iterations > self.max_iterations:
            raise ValueError(f"min_iterations ({self.min_iterations}) must be <= max_iterations ({self.max_iterations})")


@attrs.frozen
class ClipSimilarityStopConfig(SimilarityStopConfig):
    pretrained: str = setting(
        "openai/clip-vit-base-patch32", doc="CLIP model (hub id or folder) whose image embeddings are compared.",
        tiny="clip",
    )
    revision: str | None = revision_setting("openai/clip-vit-base-patch32")


class _SimilarityStop:
    def __init__(self, config: SimilarityStopConfig):
        self.config = config
        self.max_iterations = config.max_iterations
        self.last_similarity: float | None = None

    @classmethod
    def from_config(cls, config: SimilarityStopConfig):
        return cls(config)

    def similarity(self, previous: Any, current: Any) -> float:
        raise NotImplementedError

    def should_stop(self, iteration: int, previous: Any, current: Any) -> bool:
        if iteration >= self.config.max_iterations:
            return True
        if iteration < self.config.min_iterations:
            return False
        self.last_similarity = self.similarity(previous, current)
        return self.last_similarity >= self.config.threshold


class ClipSimilarityStop(_SimilarityStop):
    """Released rule: CLIP ViT-B/32 image cosine of consecutive results >= 0.99 (min 3, max 9)."""

    config_class = ClipSimilarityStopConfig
    example_config = {"pretrained": "tiny:clip"}
    needs_images = True

    def similarity(self, previous: Any, current: Any) -> float:
        from ezigen.builtins.image_models import image_features, load_clip

        model, processor = load_clip(self.config.pretrained, self.config.revision)
        features = image_features(model, processor, list(previous.images) + list(current.images))
        n = len(previous.images)
        # the least similar pair decides for a batch, so every image has converged
        return float((features[:n] * features[n:]).sum(-1).min())


class LatentSimilarityStop(_SimilarityStop):
    """Cosine of consecutive final latents (flattened per image): no decode, no CLIP."""

    config_class = SimilarityStopConfig
    needs_images = False

    def similarity(self, previous: Any, current: Any) -> float:
        import torch

        a = previous.latents.flatten(1).float()
        b = current.latents.flatten(1).float()
        return float(torch.nn.functional.cosine_similarity(a, b, dim=1).min())


@hookimpl
def ezigen_register_stop_criteria(register):
    register("fixed", FixedStop)
    register("clip-similarity", ClipSimilarityStop)
    register("latent-similarity", LatentSimilarityStop)

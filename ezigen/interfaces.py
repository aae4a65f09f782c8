"""What each component kind must provide (structural protocols).

Every registered component is a class with ``config_class`` (a frozen attrs class: its recipe
keys) and ``from_config(config, ...)``. The conformance checks in :mod:`ezigen.testing` run
these contracts over every registered component, plugins' included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from ezigen.values import FeatureKind, StepGuidance, SubjectFeatures, SubjectInput

if TYPE_CHECKING:  # pragma: no cover
    import torch


@runtime_checkable
class Backbone(Protocol):
    """The diffusers parts of one base model (see ``ezigen.builtins.backbones``)."""

    unet: Any
    vae: Any

    @property
    def resolution(self) -> int: ...

    def encode_prompt(self, prompts: list[str], negative_prompts: list[str] | None, cfg: bool) -> Any: ...

    def make_scheduler(self, name: str) -> Any: ...


@runtime_checkable
class SubjectEncoder(Protocol):
    """Subject image(s) + class prompt -> :class:`SubjectFeatures` of kind ``produces``."""

    config_class: ClassVar[type]
    produces: ClassVar[FeatureKind]

    def encode(self, subject: SubjectInput, backbone: Backbone) -> SubjectFeatures: ...

    def cache_key(self) -> str:
        """Identifies the encoder's config and weights; with ``SubjectInput.key`` it keys the cache."""
        ...


@runtime_checkable
class Attachment(Protocol):
    """A fusion installed in one UNet. Reversible by construction."""

    def set_subject(self, features: SubjectFeatures | None, active: torch.Tensor | None = None,
                    uncond: torch.Tensor | None = None) -> None:
        """Features for the following UNet calls (None: subject path off, UNet bit-identical to plain).

        ``active`` (B,) of 0/1 switches the subject path per batch row (subject-free CFG branch);
        ``uncond`` (B,) bool marks the unconditional CFG rows (IP-Adapter gives them "no image").
        """
        ...

    def set_scale(self, scale: float) -> None: ...

    def detach(self) -> None:
        """Remove everything attach() added: processors, hooks, submodules, parameters."""
        ...


@runtime_checkable
class Fusion(Protocol):
    """Trainable weights that read subject features inside the UNet."""

    config_class: ClassVar[type]
    accepts: ClassVar[frozenset[FeatureKind]]

    def attach(self, unet: Any) -> Attachment: ...

    @classmethod
    def input_kinds(cls, config: Any) -> frozenset[FeatureKind]: ...

    def trainable_parameters(self) -> list[Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_weights(self, path: str) -> None: ...


@runtime_checkable
class GuidanceSchedule(Protocol):
    """Pure function of the step: ``at(step, num_steps) -> StepGuidance``."""

    config_class: ClassVar[type]

    def at(self, step: int, num_steps: int) -> StepGuidance: ...


@runtime_checkable
class StopCriterion(Protocol):
    """Decides when iterative appearance transfer stops."""

    config_class: ClassVar[type]
    max_iterations: int

    def should_stop(self, iteration: int, previous: Any, current: Any) -> bool:
        """After refinement ``iteration`` (1-based): stop? ``previous``/``current`` are RefinementResult."""
        ...


@runtime_checkable
class Metric(Protocol):
    """An evaluation metric over generated images (see ``ezigen.builtins.metrics``)."""

    config_class: ClassVar[type]

    def score(self, images: list[Any], references: list[Any] | None = None,
              prompts: list[str] | None = None) -> list[float]:
        """One score per image; ``references``: the subject's real images, the conditioning image first."""
        ...

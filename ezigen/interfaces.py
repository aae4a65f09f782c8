"""The contract of every component kind: what a plugin must implement, and what it may.

One source of truth. For each kind (the registry names of :data:`CONTRACTS`):

- the *registered* object is a class with ``config_class`` (a frozen attrs class whose fields
  are the recipe keys of its section) and ``from_config(config, ...)``;
- the *built* object (what ``from_config`` returns) satisfies the kind's :class:`typing.Protocol`
  below, which lists only the **required** members, so ``isinstance(obj, Protocol)`` is the
  minimum check;
- every **optional** member has a default in the library, listed in :data:`CONTRACTS` with what
  happens when it is absent (the core reads optional members with these defaults, never by a
  builtin's name).

``ezigen plugins`` and the registration step use :func:`missing_members` to report a plugin
class that lacks a required member; ``docs/plugins.md`` shows these tables (a test keeps them in
sync); :mod:`ezigen.testing` checks behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

from ezigen.values import FeatureKind, StepGuidance, SubjectFeatures, SubjectInput

if TYPE_CHECKING:  # pragma: no cover
    import torch


# --- registered classes -------------------------------------------------------------------------


@runtime_checkable
class ComponentClass(Protocol):
    """Any registered component class: its recipe keys and how to build it."""

    config_class: ClassVar[type]

    @classmethod
    def from_config(cls, config: Any, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class SubjectEncoderClass(ComponentClass, Protocol):
    @classmethod
    def output_kind(cls, config: Any) -> FeatureKind:
        """The feature kind this config produces (checked against the fusion before weights load)."""
        ...


@runtime_checkable
class FusionClass(ComponentClass, Protocol):
    @classmethod
    def input_kinds(cls, config: Any) -> frozenset[FeatureKind]:
        """The feature kinds this fusion reads."""
        ...


# --- built components ----------------------------------------------------------------------------


@runtime_checkable
class Backbone(Protocol):
    """The diffusers parts of one base model. Built by ``from_config(config)``."""

    unet: Any  # diffusers UNet2DConditionModel: fusions attach to it
    vae: Any

    @property
    def kind(self) -> Any:
        """``ezigen.values.BackboneKind``: SD (one text encoder) or SDXL (two, added time ids)."""
        ...

    @property
    def resolution(self) -> int: ...

    @property
    def device(self) -> Any: ...

    @property
    def dtype(self) -> Any: ...

    def latent_shape(self, batch: int) -> tuple[int, int, int, int]: ...

    def encode_prompt(self, prompts: list[str], negative_prompts: list[str] | None, cfg: bool) -> Any:
        """-> an object with ``cond`` and ``uncond`` (None without CFG) prompt embeddings that have
        ``embeds`` (B, L, D), ``repeat(n)``, ``concat(other)`` and ``index(rows)``."""
        ...

    def make_scheduler(self, name: Any = None) -> Any:
        """A fresh diffusers scheduler for sampling."""
        ...

    def predict_noise(self, latents: Any, timestep: Any, embeds: Any, unet: Any = None) -> Any:
        """The UNet's prediction (B, 4, h, w) for ``latents`` at ``timestep`` with prompt ``embeds``."""
        ...

    def encode_images(self, pixels: Any, generator: Any = None, sample: bool = True) -> Any:
        """(B, 3, H, W) in [-1, 1] -> scaled latents (B, 4, h, w)."""
        ...

    def decode_latents(self, latents: Any) -> Any:
        """Scaled latents -> pixels (B, 3, H, W) in [-1, 1] (not clamped)."""
        ...

    def to_pil(self, pixels: Any) -> list[Any]: ...

    def to(self, device: Any = None, dtype: Any = None) -> Any: ...


@runtime_checkable
class SubjectEncoder(Protocol):
    """Subject image(s) + class prompt -> :class:`SubjectFeatures` of ``output_kind(config)``.

    Built by ``from_config(config, backbone)``. ``encode`` returns, for N subject images:
    SPATIAL ``layers`` {block name: (1, N * HW_l, C_l)}; TOKENS ``tokens`` (1, N * T, D) with
    D = ``output_dim``; REFERENCE ``reference`` {"latents": (N, 4, h, w), ...}.
    """

    config_class: ClassVar[type]

    @classmethod
    def from_config(cls, config: Any, backbone: Any) -> Any: ...

    @classmethod
    def output_kind(cls, config: Any) -> FeatureKind: ...

    def encode(self, subject: SubjectInput, backbone: Backbone) -> SubjectFeatures: ...

    def cache_key(self) -> str:
        """Identifies the encoder's config and weights; with ``SubjectInput.key`` it keys the feature cache."""
        ...


@runtime_checkable
class TokenSubjectEncoder(SubjectEncoder, Protocol):
    """A TOKENS encoder also says its token size D, which token fusions size their projection by."""

    @property
    def output_dim(self) -> int: ...


@runtime_checkable
class Attachment(Protocol):
    """A fusion installed in one UNet (what ``Fusion.attach`` returns). Reversible by construction."""

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
    """Trainable weights that read subject features inside the UNet.

    Built by ``from_config(config, backbone, encoder=encoder)`` (the built subject encoder, so a
    token fusion can read ``encoder.output_dim``); usually a ``torch.nn.Module``.
    """

    def attach(self, unet: Any) -> Attachment: ...

    def trainable_parameters(self) -> list[Any]: ...

    def save_weights(self, path: str) -> None:
        """Write the trained weights to ``path`` (safetensors)."""
        ...

    def load_weights(self, path: str) -> None: ...


@runtime_checkable
class GuidanceSchedule(Protocol):
    """Pure function of the step: ``at(step, num_steps) -> StepGuidance``. Built by ``from_config(config)``.

    Its config should subclass :class:`ezigen.GuidanceConfig` (``text_scale``, ``negative_prompt``,
    ``subject_guidance``), which the core reads.
    """

    def at(self, step: int, num_steps: int) -> StepGuidance: ...


@runtime_checkable
class StopCriterion(Protocol):
    """Decides when iterative appearance transfer stops. Built by ``from_config(config)``."""

    max_iterations: int

    def should_stop(self, iteration: int, previous: Any, current: Any) -> bool:
        """After refinement ``iteration`` (1-based): stop? ``previous``/``current`` are passes with
        ``latents`` (B, 4, h, w), and ``pixels``/``images`` when ``needs_images``."""
        ...


@runtime_checkable
class Metric(Protocol):
    """An evaluation metric over generated images. Built by ``from_config(config)``."""

    def score(self, images: list[Any], references: list[Any] | None = None,
              prompts: list[str] | None = None) -> list[float]:
        """One score per image; ``references``: the subject's real images, the conditioning image first."""
        ...


# --- the tables ------------------------------------------------------------------------------------


@attrs.frozen
class Member:
    """One member of a contract: its name, what it is, and (optional members) the library's default."""

    name: str
    doc: str
    default: str | None = None  # None: required

    @property
    def required(self) -> bool:
        return self.default is None


@attrs.frozen
class Contract:
    """What one component kind must and may provide."""

    kind: str  # registry kind, e.g. "subject_encoders"
    human: str  # e.g. "subject encoder"
    registered: type  # protocol of the registered class
    protocol: type  # protocol of the built object
    build: str  # how the core calls from_config
    members: tuple[Member, ...]

    @property
    def required(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.required)

    @property
    def optional(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if not m.required)


_CLASS = (Member("config_class", "frozen attrs class: the section's recipe keys (fields made with `ezigen.setting`)"),)
_EXAMPLE = Member("example_config", "recipe data used by the conformance checks when the config has required "
                  "fields", "the config's defaults")

CONTRACTS: dict[str, Contract] = {
    "backbones": Contract("backbones", "backbone", ComponentClass, Backbone, "from_config(config)", _CLASS + (
        Member("from_config", "classmethod (config) -> backbone"),
        Member("unet, vae", "the diffusers UNet2DConditionModel and VAE"),
        Member("kind", "BackboneKind.SD or BackboneKind.SDXL"),
        Member("resolution, device, dtype", "image size in pixels; where and in what dtype the UNet runs"),
        Member("latent_shape(batch)", "(B, 4, h, w)"),
        Member("encode_prompt(prompts, negatives, cfg)", "prompt embeddings: `.cond`, `.uncond` (None without CFG)"),
        Member("make_scheduler(name=None)", "a fresh diffusers scheduler"),
        Member("predict_noise(latents, t, embeds, unet=None)", "the UNet's prediction (B, 4, h, w)"),
        Member("encode_images(pixels, generator=None, sample=True)", "pixels in [-1, 1] -> scaled latents"),
        Member("decode_latents(latents)", "scaled latents -> pixels in [-1, 1]"),
        Member("to_pil(pixels)", "pixels in [-1, 1] -> PIL images"),
        Member("to(device, dtype)", "move every model"),
        Member("training_scheduler", "the noise schedule `ezigen train` adds noise with", "`ezigen train` refuses the backbone"),
        Member("text_encoder", "trained when `training.target: unet-text`", "that target is refused"),
        _EXAMPLE,
    )),
    "subject_encoders": Contract("subject_encoders", "subject encoder", SubjectEncoderClass, SubjectEncoder,
                                 "from_config(config, backbone)", _CLASS + (
        Member("from_config", "classmethod (config, backbone) -> encoder"),
        Member("output_kind", "classmethod (config) -> FeatureKind: SPATIAL, TOKENS or REFERENCE"),
        Member("encode(subject, backbone)", "SubjectInput -> SubjectFeatures of that kind (tokens (1, N*T, D) "
               "for N images)"),
        Member("cache_key()", "a string naming the config and weights (the feature cache key)"),
        Member("output_dim", "TOKENS only: the token size D (a property or attribute)"),
        Member("encode_batch(images, prompts, slots, backbone, generator)", "training: B samples of up to `slots` "
               "images -> features (B, slots*T, D) with `slot_mask` (B, slots)",
               "a loop over `encode`, padded with zero tokens, `slot_mask` marking real images"),
        Member('extras["null_tokens"]', 'in the features: the (1, T, D) "no subject" tokens that IP-Adapter-style '
               "fusions give the unconditional CFG rows", "zeros of shape (1, T, D)"),
        Member('info["tokens_per_image"]', "in the features: T", "tokens.shape[1] // number of subject images"),
        Member("to(device, dtype)", "move the encoder's models", "not moved (CPU models stay on CPU)"),
        Member("load_image(source, what)", "decode a subject file (path or PIL image) the way the encoder expects",
               "ezigen.images.load_image (EXIF rotation, alpha on white)"),
        Member("unet_evals(config, N)", "classmethod: UNet evaluations one encoding of N images costs "
               "(the cost model)", "0"),
        _EXAMPLE,
    )),
    "fusions": Contract("fusions", "fusion", FusionClass, Fusion, "from_config(config, backbone, encoder=encoder)",
                        _CLASS + (
        Member("from_config", "classmethod (config, backbone, encoder=None) -> fusion"),
        Member("input_kinds", "classmethod (config) -> frozenset of FeatureKind it reads"),
        Member("attach(unet)", "install into the UNet -> Attachment (set_subject, set_scale, detach)"),
        Member("trainable_parameters()", "the parameters `ezigen train` optimises"),
        Member("save_weights(path), load_weights(path)", "safetensors files"),
        Member("config.scale", "the fusion's strength s, multiplied into every subject step", "1.0"),
        Member("config.weights", "a weights URI loaded after building", "none loaded"),
        Member("Attachment.prepare_step(timestep, batch, **context)", "called before each UNet call with the subject on "
               "(reference fusions run the reference pass here; context: embeds, generator, branches, as keywords it "
               "accepts); returns extra UNet evaluations", "nothing, 0"),
        Member("to(device, dtype), train(), eval()", "as torch.nn.Module", "not moved; no mode switch"),
        Member("extra_unet_rows(config, N, rows)", "classmethod: UNet rows added on a subject-on step of `rows` "
               "CFG branches for N subject images (the cost model)", "0"),
        _EXAMPLE,
    )),
    "guidance_schedules": Contract("guidance_schedules", "guidance schedule", ComponentClass, GuidanceSchedule,
                                   "from_config(config)", _CLASS + (
        Member("from_config", "classmethod (config) -> schedule"),
        Member("at(step, num_steps)", "pure: StepGuidance(text_scale, subject_scale) for step 0..T-1"),
        Member("config.text_scale, negative_prompt, subject_guidance", "subclass ezigen.GuidanceConfig",
               "text_scale 7.5, no negative prompt, no subject guidance"),
        Member("config.appearance_fraction", "the late fraction refinement restarts from", "0.4"),
        Member("config.switch_arithmetic", "released (floats) or exact: how refinement's restart index is computed",
               "released"),
        _EXAMPLE,
    )),
    "stop_criteria": Contract("stop_criteria", "stop criterion", ComponentClass, StopCriterion, "from_config(config)",
                              _CLASS + (
        Member("from_config", "classmethod (config) -> stop rule"),
        Member("max_iterations", "an upper bound >= 1 (termination)"),
        Member("should_stop(iteration, previous, current)", "bool, True at max_iterations"),
        Member("needs_images", "whether `previous`/`current` must carry decoded images", "True (decode every pass)"),
        Member("to(device)", "move the rule's model", "not moved"),
        _EXAMPLE,
    )),
    "metrics": Contract("metrics", "metric", ComponentClass, Metric, "from_config(config)", _CLASS + (
        Member("from_config", "classmethod (config) -> metric"),
        Member("score(images, references=None, prompts=None)", "one finite float per image, the same alone or in a batch"),
        Member("uses_references", "class attribute: the metric reads the subject's real images", "False"),
        Member("describe()", "dict for the report: `backbone`, `preprocessing`, ...", "the config alone is reported"),
        Member("to(device)", "move the metric's model", "not moved"),
        _EXAMPLE,
    )),
}

# Required members that can be checked on the registered class itself (at registration time).
_CLASS_LEVEL = {
    "backbones": ("config_class", "from_config"),
    "subject_encoders": ("config_class", "from_config", "output_kind", "encode", "cache_key"),
    "fusions": ("config_class", "from_config", "input_kinds"),
    "guidance_schedules": ("config_class", "from_config", "at"),
    "stop_criteria": ("config_class", "from_config", "should_stop"),
    "metrics": ("config_class", "from_config", "score"),
}


def missing_members(kind: str, cls: Any) -> list[str]:
    """The required members a registered class of ``kind`` lacks (checkable without building it)."""
    return [name for name in _CLASS_LEVEL[kind] if not hasattr(cls, name)]

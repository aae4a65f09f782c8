"""Conformance checks: the contract of each component kind, run over every registered component.

A component may declare ``example_config`` (recipe data for its section, without ``type``) when
its config has required fields; otherwise its defaults are used. Checks (per kind):

- every kind: the config is a frozen attrs class; data -> config -> data round-trips exactly;
  ``from_config`` builds;
- guidance schedules: ``at`` is pure and returns finite ``StepGuidance`` values for T in 1..60;
- stop criteria: ``max_iterations >= 1`` and the rule stops at ``max_iterations`` (termination);
- subject encoders: on a tiny backbone the features have the declared kind;
- fusions: attach + detach restore the UNet's processors, hooks and ``state_dict()`` exactly;
  attached with the subject off, the UNet output is bit-identical to the plain UNet; with the
  subject on (features from an encoder of an accepted kind) the output changes;
- backbones: a tiny model loads and encodes a prompt;
- metrics: ``score`` returns one finite score per image, the same alone or in a batch.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import attrs

from ezigen.config import structure, unstructure
from ezigen.plugins import components as default_components
from ezigen.values import FeatureKind, SubjectInput

KINDS = ("backbones", "subject_encoders", "fusions", "guidance_schedules", "stop_criteria", "metrics")


def conformance_cases(components: Any = None) -> list[tuple[str, str]]:
    """Every (kind, name) registered, plugins' included."""
    components = components or default_components()
    return [(kind, name) for kind in KINDS for name in components.registry(kind).names()]


@functools.lru_cache(maxsize=2)
def tiny_backbone(name: str = "tiny:sd21") -> Any:
    from ezigen.builtins.backbones.stable_diffusion import StableDiffusionBackbone, StableDiffusionConfig

    return StableDiffusionBackbone.from_config(StableDiffusionConfig(pretrained=name, resolution=64), cache=False)


def example_config(cls: Any) -> Any:
    data = dict(getattr(cls, "example_config", {}) or {})
    config, problems = structure(cls.config_class, data, "example")
    assert not problems, f"{cls.__name__}: example config invalid: {'; '.join(map(str, problems))}"
    return config


def check_config(cls: Any) -> Any:
    assert hasattr(cls, "config_class"), f"{cls.__name__} has no config_class"
    assert attrs.has(cls.config_class), f"{cls.__name__}.config_class is not an attrs class"
    assert cls.config_class.__setattr__ is not object.__setattr__, f"{cls.config_class.__name__} must be frozen"
    config = example_config(cls)
    data = unstructure(config)
    again, problems = structure(cls.config_class, data, "roundtrip")
    assert not problems and again == config, f"{cls.__name__}: config does not round-trip: {problems}"
    assert hasattr(cls, "from_config"), f"{cls.__name__} has no from_config"
    return config


def subject_for_tests() -> SubjectInput:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (48, 48), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 38, 38), fill=(200, 40, 40))
    return SubjectInput.from_images([image], "a red square")


def check_guidance_schedule(cls: Any) -> None:
    schedule = cls.from_config(check_config(cls))
    for total in (1, 2, 7, 20, 50, 60):
        for step in range(total):
            first, second = schedule.at(step, total), schedule.at(step, total)
            assert first == second, f"{cls.__name__}.at is not pure"
            assert math.isfinite(first.text_scale) and math.isfinite(first.subject_scale)
            assert first.subject_scale >= 0


def check_stop_criterion(cls: Any) -> None:
    stop = cls.from_config(check_config(cls))
    assert stop.max_iterations >= 1
    assert hasattr(stop, "needs_images"), f"{cls.__name__} must say whether it needs decoded images"
    import torch
    from PIL import Image

    from ezigen.sampling.refinement import PassResult

    previous = PassResult(torch.zeros(1, 4, 2, 2), torch.zeros(1, 3, 16, 16), [Image.new("RGB", (16, 16))])
    current = PassResult(torch.ones(1, 4, 2, 2), torch.ones(1, 3, 16, 16), [Image.new("RGB", (16, 16), "white")])
    assert stop.should_stop(stop.max_iterations, previous, current), f"{cls.__name__} does not stop at max_iterations"
    decisions = [stop.should_stop(n, previous, current) for n in range(1, stop.max_iterations + 1)]
    assert all(isinstance(d, bool) for d in decisions)


def check_backbone(cls: Any) -> None:
    config = check_config(cls)
    backbone = cls.from_config(config)
    conditioning = backbone.encode_prompt(["a test"], None, cfg=True)
    assert conditioning.cond.embeds.shape[0] == 1


def check_subject_encoder(cls: Any, backbone: Any = None) -> Any:
    backbone = backbone or tiny_backbone()
    config = check_config(cls)
    encoder = cls.from_config(config, backbone)
    features = encoder.encode(subject_for_tests(), backbone)
    assert features.kind is cls.output_kind(config), f"{cls.__name__}: features are {features.kind}, declared {cls.output_kind(config)}"
    assert isinstance(encoder.cache_key(), str) and encoder.cache_key()
    return features


def encoder_for(kinds: frozenset[FeatureKind], backbone: Any, components: Any) -> tuple[Any, Any]:
    """(encoder, features) of an accepted kind, from the first registered encoder that makes them."""
    registry = components.registry("subject_encoders")
    for name in registry.names():
        cls = registry.get(name)
        try:
            config = example_config(cls)
        except AssertionError:
            continue
        for candidate in _encoder_variants(cls, config):
            if cls.output_kind(candidate) in kinds:
                encoder = cls.from_config(candidate, backbone)
                return encoder, encoder.encode(subject_for_tests(), backbone)
    return None, None


def _encoder_variants(cls: Any, config: Any) -> list[Any]:
    variants = [config]
    if hasattr(config, "mode"):
        for mode in type(config.mode):
            variants.append(attrs.evolve(config, mode=mode))
    return variants


def check_fusion(cls: Any, backbone: Any = None, components: Any = None) -> None:
    import torch

    components = components or default_components()
    backbone = backbone or tiny_backbone()
    config = check_config(cls)
    encoder, features = encoder_for(cls.input_kinds(config), backbone, components)
    fusion = cls.from_config(config, backbone, encoder=encoder)
    unet = backbone.unet
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(backbone.latent_shape(2), generator=generator)
    conditioning = backbone.encode_prompt(["a photo", "a photo"], None, cfg=False).cond

    def run() -> torch.Tensor:
        with torch.no_grad():
            return backbone.predict_noise(sample, torch.tensor(500), conditioning)

    keys = list(unet.state_dict().keys())
    processors = dict(unet.attn_processors)
    hooks = _hook_counts(unet)
    plain = run()
    attachment = fusion.attach(unet)
    try:
        attachment.set_subject(None)
        assert torch.equal(run(), plain), f"{cls.__name__}: with the subject off the UNet is not bit-identical"
        if features is not None:
            attachment.set_subject(features)
            if hasattr(attachment, "prepare_step"):
                attachment.prepare_step(torch.tensor(500), 2)
            assert not torch.equal(run(), plain), f"{cls.__name__}: the subject path changes nothing"
    finally:
        attachment.detach()
    assert list(unet.state_dict().keys()) == keys, f"{cls.__name__}: detach did not restore state_dict keys"
    assert dict(unet.attn_processors) == processors, f"{cls.__name__}: detach did not restore processors"
    assert _hook_counts(unet) == hooks, f"{cls.__name__}: detach left hooks behind"
    assert torch.equal(run(), plain), f"{cls.__name__}: the UNet output changed after detach"


def _hook_counts(module: Any) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def check_metric(cls: Any) -> None:
    config = check_config(cls)
    metric = cls.from_config(config)
    from PIL import Image

    images = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    prompts = ["a red image", "a blue image"]
    scores = metric.score(images, references=images, prompts=prompts)
    assert len(scores) == len(images) and all(math.isfinite(float(s)) for s in scores)
    # one score per image, whatever else is in the batch (the evaluation scores in groups)
    alone = [float(metric.score([im], references=images, prompts=[p])[0]) for im, p in zip(images, prompts)]
    assert all(abs(a - float(s)) <= 1e-4 for a, s in zip(alone, scores)), f"{cls.__name__}: scores depend on the batch"


def check_component(kind: str, name: str, components: Any = None) -> None:
    """Run the conformance check of one registered component."""
    components = components or default_components()
    cls = components.registry(kind).get(name)
    if kind == "guidance_schedules":
        check_guidance_schedule(cls)
    elif kind == "stop_criteria":
        check_stop_criterion(cls)
    elif kind == "backbones":
        check_backbone(cls)
    elif kind == "subject_encoders":
        check_subject_encoder(cls)
    elif kind == "fusions":
        check_fusion(cls, components=components)
    elif kind == "metrics":
        check_metric(cls)
    else:
        raise ValueError(f"unknown component kind {kind!r}")

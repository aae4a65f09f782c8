"""Conformance checks: the contract of each component kind (``ezigen.interfaces``), behaviourally.

``conformance_cases(plugin=NAME)`` gives the cases of one plugin (its entry-point or distribution
name; ``"ezigen"`` = the builtins); ``check_component(kind, name)`` runs one case. Every check
first asserts the kind's protocols (``isinstance`` on the registered class and the built object),
then behaviour, pairing the component with fixed builtin partners only
(:mod:`ezigen.testing.subject_path`), so installing a plugin never changes another's result.

A component may declare ``example_config`` (recipe data for its section, without ``type``) when
its config has required fields; otherwise its defaults are used. Checks (per kind):

- every kind: the config is a frozen attrs class; data -> config -> data round-trips exactly;
  ``from_config`` builds;
- guidance schedules: ``at`` is pure and returns finite ``StepGuidance`` values for T in 1..60;
- stop criteria: ``max_iterations >= 1`` and the rule stops at ``max_iterations`` (termination);
- subject encoders: through every shipped fusion of its kind, a UNet call with CFG rows and one
  training step on tiny models (see ``subject_path``);
- fusions: attach / subject off bit-identical / subject on changes / detach restores exactly;
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

KINDS = ("backbones", "subject_encoders", "fusions", "guidance_schedules", "stop_criteria", "metrics")


def conformance_cases(components: Any = None, plugin: str | None = None) -> list[tuple[str, str]]:
    """Every registered (kind, name), or only those registered by ``plugin`` (entry-point name,
    distribution name, or ``"ezigen"`` for the builtins)."""
    components = components or default_components()
    owner = None if plugin is None else _plugin_names(components, plugin)
    cases = [(kind, entry.name) for kind in KINDS for entry in components.registry(kind).entries()
             if owner is None or entry.plugin in owner]
    # a component registered without a required member is a case too, so that it fails instead of vanishing
    broken = sorted((kind, name) for (kind, name), (who, _) in components.broken.items() if owner is None or who in owner)
    return cases + broken


def _plugin_names(components: Any, plugin: str) -> set[str]:
    from ezigen.plugins import BUILTIN_MODULES, find_plugin

    if plugin == "ezigen":
        return set(BUILTIN_MODULES)
    found = find_plugin(components.pm, plugin)
    if found is None:
        known = sorted(name for name, p in components.pm.list_name_plugin() if not name.startswith("ezigen."))
        raise ValueError(f"no plugin named {plugin!r} is installed (entry points: {', '.join(known) or 'none'})")
    return {components.pm.get_name(found)}


@functools.lru_cache(maxsize=2)
def tiny_backbone(name: str = "tiny:sd21") -> Any:
    from ezigen.builtins.backbones.stable_diffusion import StableDiffusionBackbone, StableDiffusionConfig

    return StableDiffusionBackbone.from_config(StableDiffusionConfig(pretrained=name, resolution=64))


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


def _satisfies(built: Any, kind: str, cls: Any) -> None:
    from ezigen.interfaces import CONTRACTS

    protocol = CONTRACTS[kind].protocol
    assert isinstance(built, protocol), f"{cls.__name__}: the built object does not satisfy ezigen.{protocol.__name__}"


def check_guidance_schedule(cls: Any) -> None:
    schedule = cls.from_config(check_config(cls))
    _satisfies(schedule, "guidance_schedules", cls)
    for total in (1, 2, 7, 20, 50, 60):
        for step in range(total):
            first, second = schedule.at(step, total), schedule.at(step, total)
            assert first == second, f"{cls.__name__}.at is not pure"
            assert math.isfinite(first.text_scale) and math.isfinite(first.subject_scale)
            assert first.subject_scale >= 0


def check_stop_criterion(cls: Any) -> None:
    stop = cls.from_config(check_config(cls))
    _satisfies(stop, "stop_criteria", cls)
    assert stop.max_iterations >= 1
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
    _satisfies(backbone, "backbones", cls)
    conditioning = backbone.encode_prompt(["a test"], None, cfg=True)
    assert conditioning.cond.embeds.shape[0] == 1


def check_metric(cls: Any) -> None:
    config = check_config(cls)
    metric = cls.from_config(config)
    _satisfies(metric, "metrics", cls)
    from PIL import Image

    images = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    prompts = ["a red image", "a blue image"]
    scores = metric.score(images, references=images, prompts=prompts)
    assert len(scores) == len(images) and all(math.isfinite(float(s)) for s in scores)
    # one score per image, whatever else is in the batch (the evaluation scores in groups)
    alone = [float(metric.score([im], references=images, prompts=[p])[0]) for im, p in zip(images, prompts)]
    assert all(abs(a - float(s)) <= 1e-4 for a, s in zip(alone, scores)), f"{cls.__name__}: scores depend on the batch"


def check_component(kind: str, name: str, components: Any = None) -> None:
    """Run the conformance check of one registered component (plugins' included)."""
    from ezigen.interfaces import CONTRACTS
    from ezigen.testing import subject_path

    components = components or default_components()
    broken = components.broken_message(kind, name)
    assert broken is None, broken
    entry = components.registry(kind).entry(name)
    cls = entry.value
    contract = CONTRACTS[kind]
    assert isinstance(cls, contract.registered), (
        f"{name}: the registered class does not satisfy {contract.registered.__name__} "
        f"(needs {', '.join(m.name for m in contract.required[:3])}, ...)")
    if kind == "guidance_schedules":
        check_guidance_schedule(cls)
    elif kind == "stop_criteria":
        check_stop_criterion(cls)
    elif kind == "backbones":
        check_backbone(cls)
    elif kind == "subject_encoders":
        subject_path.check_subject_encoder(name, cls, check_config(cls), entry.plugin, tiny_backbone())
    elif kind == "fusions":
        check_config(cls)
        subject_path.check_fusion(name, cls, tiny_backbone())
    elif kind == "metrics":
        check_metric(cls)
    else:
        raise ValueError(f"unknown component kind {kind!r}")

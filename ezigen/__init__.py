"""ezigen: zero-shot subject-driven image generation on Stable Diffusion (EZIGen and baselines).

Importing ezigen is cheap: no torch, no I/O. The public API::

    import ezigen
    recipe = ezigen.load_recipe("ezigen-sd21-base", overrides=["sampling.steps=30"])
    system = ezigen.build_system(recipe)
    result = system.generate(prompt="a dog on the beach", subject="dog.jpg", subject_prompt="a dog", seed=3)
    result.image.save("out.png"); result.trace.to_json()

diffusers users: ``ezigen.EZIGenPipeline.from_pipe(pipe, recipe="ezigen-sd21-base")(prompt, subject_image=...)``
(docs/pipeline.md).

The plugin API (docs/plugins.md): everything a plugin needs is importable from ``ezigen`` itself:
``hookimpl``; ``setting`` and ``in_range`` for config fields; the values ``FeatureKind``,
``SubjectInput``, ``SubjectFeatures``, ``StepGuidance``, ``Conditioning``, ``PromptEmbeds``;
``GuidanceConfig`` (the base of schedule configs); the contracts ``Backbone``,
``SubjectEncoder``, ``TokenSubjectEncoder``, ``Fusion``, ``Attachment``, ``GuidanceSchedule``,
``StopCriterion``, ``Metric`` (``ezigen.interfaces``); ``UNetPatch`` (reversible UNet changes, for
fusions); the errors ``EzigenError``, ``PluginError``.
They load on first use, so ``import ezigen`` stays cheap.
"""

from ezigen._version import __version__
from ezigen.markers import hookimpl

# public name -> module that defines it (loaded on first attribute access; none imports torch)
_LAZY = {
    "EZIGenPipeline": "ezigen.pipeline",  # imports diffusers (and torch) when first used
    "setting": "ezigen.config",
    "in_range": "ezigen.config",
    "FeatureKind": "ezigen.values",
    "BackboneKind": "ezigen.values",
    "SubjectInput": "ezigen.values",
    "SubjectFeatures": "ezigen.values",
    "StepGuidance": "ezigen.values",
    "Conditioning": "ezigen.conditioning",
    "PromptEmbeds": "ezigen.conditioning",
    "GuidanceConfig": "ezigen.builtins.guidance",
    "Backbone": "ezigen.interfaces",
    "SubjectEncoder": "ezigen.interfaces",
    "TokenSubjectEncoder": "ezigen.interfaces",
    "Fusion": "ezigen.interfaces",
    "Attachment": "ezigen.interfaces",
    "GuidanceSchedule": "ezigen.interfaces",
    "StopCriterion": "ezigen.interfaces",
    "Metric": "ezigen.interfaces",
    "UNetPatch": "ezigen.unet.patch",
    "EzigenError": "ezigen.errors",
    "PluginError": "ezigen.errors",
}

__all__ = ["__version__", "build_system", "hookimpl", "load_recipe", *sorted(_LAZY)]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ezigen' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_recipe(name_or_path: str, overrides=(), *, tiny: bool = False):
    """Load and validate a recipe by shipped name or path; ``overrides`` are ``"a.b=VALUE"`` strings."""
    from ezigen.recipe.loader import load_recipe as _load

    return _load(name_or_path, overrides, tiny=tiny)


def build_system(recipe, **kwargs):
    """Build a System from a Recipe (or a recipe name/path); see :func:`ezigen.build.build_system`."""
    from ezigen.build import build_system as _build

    return _build(recipe, **kwargs)

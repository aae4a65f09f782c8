"""Recipe -> System: resolve names, check pairings (before any weights load), build components."""

from __future__ import annotations

from typing import Any

from ezigen import defaults
from ezigen.errors import EzigenError, PairingError, PluginError, WeightsError
from ezigen.recipe.schema import ComponentSpec, Recipe


def check_pairing(recipe: Recipe) -> None:
    """The encoder's feature kind must be one the fusion reads; fails naming both, before weights load."""
    encoder, fusion = recipe.subject_encoder, recipe.fusion
    if encoder is None or fusion is None:
        return
    produces = encoder.cls.output_kind(encoder.config)
    accepts = fusion.cls.input_kinds(fusion.config)
    if produces not in accepts:
        readable = ", ".join(sorted(k.value for k in accepts))
        raise PairingError(
            f"subject_encoder {encoder.type!r} produces {produces.value} features, but fusion {fusion.type!r} "
            f"accepts only {readable} features; pick an encoder/fusion pair that fits "
            f"(e.g. unet + adapter-attention, clip + decoupled-cross-attention, clip + token-adapter-attention)"
        )


def resolve_weights(uri: str, components: Any = None) -> str:
    """A weights URI (local path, ``hf://owner/repo/file``, or a plugin's scheme) -> local file path."""
    from ezigen.plugins import components as default_components

    components = components or default_components()
    path = components.pm.hook.ezigen_resolve_weights(uri=uri)
    if path is None:
        raise WeightsError(f"fusion.weights: cannot find {uri!r} (not a local file, and no plugin resolves it)")
    return path


def build_system(recipe: Recipe | str, *, overrides: list[str] | tuple[str, ...] = (), tiny: bool = False,
                 components: Any = None, backbone: Any = None):
    """Build a :class:`~ezigen.system.System` from a recipe (object, name or path).

    ``backbone`` reuses an already built backbone (it must match the recipe's backbone section), or
    wraps an already loaded diffusers ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``:
    its modules are used as they are (no second UNet, VAE or text encoder in memory).
    """
    from ezigen.plugins import components as default_components
    from ezigen.recipe.loader import load_recipe
    from ezigen.system import System

    components = components or default_components()
    if isinstance(recipe, str):
        recipe = load_recipe(recipe, overrides, tiny=tiny, components=components)
    elif overrides or tiny:
        raise EzigenError("overrides and tiny apply when loading a recipe by name; use load_recipe(...) first")
    check_pairing(recipe)
    if backbone is not None and _is_diffusers_pipeline(backbone):
        backbone = backbone_from_pipe(recipe, backbone)
    backbone = backbone if backbone is not None else build_component(recipe.backbone)
    encoder = build_component(recipe.subject_encoder, backbone) if recipe.subject_encoder else None
    fusion = None
    if recipe.fusion is not None:
        fusion = build_component(recipe.fusion, backbone, encoder=encoder)
        weights = defaults.fusion_weights(recipe.fusion.config)
        if weights:
            fusion.load_weights(resolve_weights(weights, components))
    schedule = build_component(recipe.guidance)
    stop = build_component(recipe.refinement.stop) if recipe.refinement is not None else None
    return System(recipe=recipe, backbone=backbone, encoder=encoder, fusion=fusion, schedule=schedule, stop=stop)


def _is_diffusers_pipeline(value: Any) -> bool:
    return hasattr(value, "components") and hasattr(value, "unet") and not hasattr(value, "latent_shape")


def backbone_from_pipe(recipe: Recipe, pipe: Any) -> Any:
    """The recipe's backbone type over a loaded diffusers pipeline (``from_pipe``), sharing its modules."""
    cls = recipe.backbone.cls
    if not hasattr(cls, "from_pipe"):
        raise EzigenError(f"backbone {recipe.backbone.type!r} cannot wrap a loaded diffusers pipeline "
                          "(it has no from_pipe); pass a backbone built from the recipe instead")
    return cls.from_pipe(pipe, recipe.backbone.config)


def build_component(spec: ComponentSpec, *args: Any, **kwargs: Any) -> Any:
    """``spec.cls.from_config(spec.config, ...)``, then the built object checked against its kind's
    protocol (``ezigen.interfaces``): a plugin's missing member or failing constructor is one
    PluginError naming the plugin and the member, not a traceback at first use."""
    from ezigen.interfaces import CONTRACTS, TokenSubjectEncoder
    from ezigen.subject_encoding import call_plugin, component_label, is_builtin
    from ezigen.values import FeatureKind

    built = call_plugin(spec, "from_config()", spec.build, *args, **kwargs)
    if is_builtin(spec):
        return built
    contract = CONTRACTS[_SECTION_KINDS[spec.section]]
    protocol = contract.protocol
    if spec.section == "subject_encoder" and spec.cls.output_kind(spec.config) is FeatureKind.TOKENS:
        protocol = TokenSubjectEncoder
    missing = [name for name in _protocol_members(protocol) if not hasattr(built, name)]
    if missing:
        raise PluginError(f"{component_label(spec)}: the built {contract.human} lacks the required "
                          f"{', '.join(missing)} (see docs/plugins.md, ezigen.interfaces.{protocol.__name__})")
    return built


_SECTION_KINDS = {"backbone": "backbones", "subject_encoder": "subject_encoders", "fusion": "fusions",
                  "guidance": "guidance_schedules", "refinement.stop": "stop_criteria"}


def _protocol_members(protocol: type) -> list[str]:
    """The members ``isinstance(obj, protocol)`` checks (``__protocol_attrs__`` from Python 3.12 on;
    typing's helper before it: the standard library has no public way on 3.10/3.11)."""
    members = getattr(protocol, "__protocol_attrs__", None)
    if members is None:
        from typing import _get_protocol_attrs

        members = _get_protocol_attrs(protocol)
    return sorted(members)

"""Recipe -> System: resolve names, check pairings (before any weights load), build components."""

from __future__ import annotations

from typing import Any

from ezigen.errors import EzigenError, PairingError, WeightsError
from ezigen.recipe.schema import Recipe


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

    ``backbone`` reuses an already built backbone (it must match the recipe's backbone section).
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
    backbone = backbone if backbone is not None else recipe.backbone.build()
    encoder = recipe.subject_encoder.build(backbone) if recipe.subject_encoder else None
    fusion = None
    if recipe.fusion is not None:
        fusion = recipe.fusion.build(backbone, encoder=encoder)
        weights = getattr(recipe.fusion.config, "weights", None)
        if weights:
            fusion.load_weights(resolve_weights(weights, components))
    schedule = recipe.guidance.build()
    stop = recipe.refinement.stop.build() if recipe.refinement is not None else None
    return System(recipe=recipe, backbone=backbone, encoder=encoder, fusion=fusion, schedule=schedule, stop=stop)

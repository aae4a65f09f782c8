"""Recipes: strict YAML data naming components by registry name (DESIGN §5)."""

from ezigen.recipe.loader import apply_overrides, find_recipe, load_recipe, recipe_index
from ezigen.recipe.schema import ComponentSpec, Recipe, RefinementSpec, SamplingConfig, validate

__all__ = [
    "ComponentSpec", "Recipe", "RefinementSpec", "SamplingConfig",
    "apply_overrides", "find_recipe", "load_recipe", "recipe_index", "validate",
]

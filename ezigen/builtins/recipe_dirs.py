"""The shipped recipes: the top-level ``recipes/`` folder of the repository, installed as package
data under ``ezigen/recipes/`` (setup.py maps one onto the other, so there is one copy)."""

import os

from ezigen.markers import hookimpl

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the ezigen package folder


def shipped_recipes_dir() -> str:
    """``ezigen/recipes`` in an installed wheel; ``recipes/`` beside the package in a source checkout
    (an editable install or ``python -m`` from the repository root)."""
    installed = os.path.join(_PACKAGE, "recipes")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_PACKAGE), "recipes")


SHIPPED_RECIPES = shipped_recipes_dir()


@hookimpl
def ezigen_register_recipe_dirs(register):
    register(SHIPPED_RECIPES)

"""The shipped recipes (package data under ``ezigen/recipes``)."""

import os

from ezigen.markers import hookimpl

SHIPPED_RECIPES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "recipes")


@hookimpl
def ezigen_register_recipe_dirs(register):
    register(SHIPPED_RECIPES)

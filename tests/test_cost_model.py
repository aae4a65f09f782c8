"""The cost model (docs/performance.md) equals what the traces count, for every shipped recipe."""

import pytest

import ezigen
from ezigen.cost import unet_evals
from ezigen.plugins import components
from ezigen.recipe.loader import recipe_index

RECIPES = [n for n in recipe_index(components()) if n != "toy/pretrain"]


@pytest.mark.parametrize("name", RECIPES)
def test_cost_model_matches_the_trace(name, subject_path):
    overrides = ["sampling.steps=10"]
    recipe = ezigen.load_recipe(name, overrides, tiny=True)
    if recipe.refinement is not None:  # a known iteration count; the subject encoded fresh
        overrides += ["refinement.stop.type=fixed", "refinement.stop.iterations=2"]
        recipe = ezigen.load_recipe(name, overrides, tiny=True)
    system = ezigen.build_system(recipe)
    subject = subject_path if system.needs_subject else None
    trace = system.generate("a disc", subject=subject, subject_prompt="a disc", seed=0).trace
    iterations = int(trace.totals["iterations"])
    assert trace.totals["unet_evals"] == unet_evals(recipe, iterations)


def test_released_default_costs():
    """spec §4.3: 1 subject pass + 50 CFG steps + 20 CFG steps per iteration (3 to 9)."""
    recipe = ezigen.load_recipe("ezigen-sd21-base")
    assert unet_evals(recipe, 3) == 1 + 100 + 120
    assert unet_evals(recipe, 9) == 1 + 100 + 360
    assert unet_evals(ezigen.load_recipe("text-only-sd21-base")) == 100
    assert unet_evals(ezigen.load_recipe("ezigen-sdxl-base"), 7) == 1 + 40 + 7 * 28

"""ezigen: zero-shot subject-driven image generation on Stable Diffusion (EZIGen and baselines).

Importing ezigen is cheap: no torch, no I/O. The public API::

    import ezigen
    recipe = ezigen.load_recipe("ezigen-sd21-base", overrides=["sampling.steps=30"])
    system = ezigen.build_system(recipe)
    result = system.generate(prompt="a dog on the beach", subject="dog.jpg", subject_prompt="a dog", seed=3)
    result.image.save("out.png"); result.trace.to_json()

Plugins implement hooks with ``@ezigen.hookimpl`` (see ``ezigen.hookspecs``).
"""

from ezigen._version import __version__
from ezigen.markers import hookimpl

__all__ = ["__version__", "build_system", "hookimpl", "load_recipe"]


def load_recipe(name_or_path: str, overrides=(), *, tiny: bool = False):
    """Load and validate a recipe by shipped name or path; ``overrides`` are ``"a.b=VALUE"`` strings."""
    from ezigen.recipe.loader import load_recipe as _load

    return _load(name_or_path, overrides, tiny=tiny)


def build_system(recipe, **kwargs):
    """Build a System from a Recipe (or a recipe name/path); see :func:`ezigen.build.build_system`."""
    from ezigen.build import build_system as _build

    return _build(recipe, **kwargs)

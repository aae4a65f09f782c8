"""Packaging that pyproject.toml cannot say alone: the shipped recipes live in the top-level
``recipes/`` folder of the repository and are installed as package data under ``ezigen/recipes/``.

Everything else (metadata, dependencies, entry points) is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=find_namespace_packages(include=["ezigen", "ezigen.*"]) + ["ezigen.recipes"],
    # one copy in the repository (recipes/), placed inside the package when built
    package_dir={"ezigen.recipes": "recipes"},
)

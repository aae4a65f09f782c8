"""The built wheel carries the shipped recipes from the top-level ``recipes/`` folder (one copy in
the repository, mapped into the package by setup.py), and an installed ezigen finds them there."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the checkout itself is left untouched)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "ezigen", src / "ezigen", ignore=ignore)
    shutil.copytree(ROOT / "recipes", src / "recipes", ignore=ignore)
    out = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("ezigen-*.whl")
    return built


def test_recipes_live_only_at_the_top_level():
    assert (ROOT / "recipes" / "ezigen-sd21-base.yaml").is_file()
    assert not (ROOT / "ezigen" / "recipes").exists(), "one copy of the recipes: recipes/ at the top level"


def test_the_wheel_contains_every_shipped_recipe(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(str(p.relative_to(ROOT / "recipes")) for p in (ROOT / "recipes").rglob("*.yaml"))
    packaged = sorted(n[len("ezigen/recipes/"):] for n in names if n.startswith("ezigen/recipes/") and n.endswith(".yaml"))
    assert shipped and packaged == shipped
    assert not [n for n in names if n.startswith("recipes/")], "no top-level 'recipes' package in site-packages"


def test_an_installed_ezigen_finds_its_recipes_inside_the_package(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "from ezigen.builtins.recipe_dirs import SHIPPED_RECIPES; print(SHIPPED_RECIPES)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    assert Path(found) == site / "ezigen" / "recipes"
    assert (Path(found) / "toy" / "ezigen.yaml").is_file()

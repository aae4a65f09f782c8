"""Importing ezigen must stay cheap: no torch, no diffusers, no I/O."""

import subprocess
import sys


def test_import_ezigen_does_not_import_torch():
    code = "import sys, ezigen; heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_building_registries_and_validating_a_recipe_does_not_import_torch():
    code = (
        "import sys, ezigen; ezigen.load_recipe('ezigen-sd21-base');"
        "print([m for m in ('torch', 'diffusers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"

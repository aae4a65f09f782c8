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


def test_the_plugin_api_is_importable_from_ezigen_without_torch():
    import ezigen

    names = [n for n in ezigen.__all__ if n not in ("__version__", "EZIGenPipeline")]  # the pipeline is diffusers
    code = ("import sys, ezigen; [getattr(ezigen, n) for n in %r];"
            "print([m for m in ('torch', 'diffusers', 'transformers', 'PIL') if m in sys.modules])" % names)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    for name in ("hookimpl", "setting", "in_range", "FeatureKind", "SubjectInput", "SubjectFeatures", "StepGuidance",
                 "GuidanceConfig", "SubjectEncoder", "Fusion", "Metric", "GuidanceSchedule", "StopCriterion"):
        assert name in names and getattr(ezigen, name) is not None
    assert getattr(ezigen, "SubjectEncoder") is __import__("ezigen.interfaces").interfaces.SubjectEncoder


def test_an_unknown_attribute_is_a_plain_attribute_error():
    import pytest

    import ezigen

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ezigen.nope  # noqa: B018

"""The plugin's own tests: ezigen's conformance checks on exactly this plugin's components."""

import pytest

from ezigen.testing import check_component, conformance_cases

CASES = conformance_cases(plugin="myplugin")


def test_the_plugin_registers_its_three_components():
    assert sorted(CASES) == [("guidance_schedules", "myplugin-late"), ("metrics", "myplugin-brightness"),
                             ("subject_encoders", "myplugin-grid")]


@pytest.mark.parametrize("kind, name", CASES)
def test_conformance(kind, name):
    check_component(kind, name)

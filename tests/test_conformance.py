"""The conformance matrix: every registered component (plugins' included) passes its kind's checks."""

import pytest

from ezigen.testing import check_component, conformance_cases


@pytest.mark.parametrize("kind, name", conformance_cases())
def test_component_conforms(kind, name):
    check_component(kind, name)

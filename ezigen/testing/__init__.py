"""Testing helpers for ezigen and for plugin authors: conformance checks and tiny fixtures.

    from ezigen.testing import check_component, conformance_cases

    @pytest.mark.parametrize("kind,name", conformance_cases())
    def test_conformance(kind, name):
        check_component(kind, name)

Each check asserts the contract of its component kind (see :mod:`ezigen.testing.conformance`).
The pytest plugin (auto-loaded) adds the fixtures ``ezigen_backbone_sd21`` and ``ezigen_backbone_sdxl``.
"""

from ezigen.testing.conformance import check_component, conformance_cases

__all__ = ["check_component", "conformance_cases"]

"""pytest plugin (entry point ``pytest11``): tiny-backbone fixtures for ezigen and plugin tests. Cheap to import."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ezigen_backbone_sd21():
    """The tiny SD2.1-style backbone (built once per session, plain: fusions must detach)."""
    from ezigen.testing.conformance import tiny_backbone

    return tiny_backbone("tiny:sd21")


@pytest.fixture(scope="session")
def ezigen_backbone_sdxl():
    from ezigen.testing.conformance import tiny_backbone

    return tiny_backbone("tiny:sdxl")

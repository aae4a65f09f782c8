"""The test environment is the locked one: every package of requirements/lock.txt is installed at its
locked version (scripts/bootstrap.sh installs it as constraints; scripts/lock.sh writes it)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys

import pytest

from tests.conftest import REPO

LOCK = os.path.join(REPO, "requirements", "lock.txt")


def locked() -> dict[str, str]:
    pins = {}
    for line in open(LOCK, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_every_locked_package_is_installed_at_its_version():
    if os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(REPO, ".venv")):
        pytest.skip("not the bootstrapped .venv/: the lock describes that environment only")
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in importlib.metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in locked().items() if installed.get(name) != version}
    assert not wrong, f"(locked, installed) differ; rerun scripts/bootstrap.sh or scripts/lock.sh: {wrong}"


def test_the_lock_pins_torch_and_what_pyproject_names():
    pins = locked()
    assert pins["torch"] == "2.13.0+cpu"
    text = open(os.path.join(REPO, "pyproject.toml"), encoding="utf-8").read()
    block = text[text.index("dependencies = ["):text.index("]", text.index("dependencies = ["))]
    declared = {re.sub(r"[-_.]+", "-", m).lower() for m in re.findall(r'^\s*"([A-Za-z0-9_.-]+)', block, re.M)}
    assert declared and declared <= set(pins), declared - set(pins)


@pytest.mark.smoke
def test_private_diffusers_calls_check_the_tested_range(monkeypatch):
    import diffusers

    from ezigen import _compat
    from ezigen.errors import EzigenError

    monkeypatch.setattr(diffusers, "__version__", "0.99.0")
    with pytest.raises(EzigenError, match="diffusers 0.99.0 is outside the tested range.*_maybe_expand_lora_scales"):
        _compat.expand_layer_scales(None, {"up": 1.0})
    with pytest.raises(EzigenError, match="_convert_ip_adapter_image_proj_to_diffusers"):
        _compat.ip_adapter_image_proj_to_diffusers(None, {})

"""A broken plugin disables itself with one warning line; every other command (and --version) works."""

from __future__ import annotations

import sys

import pytest

from ezigen.plugins import build_plugin_manager, collect, components, use_components
from tests.conftest import run_cli

HOOKS = {
    "raises": "def ezigen_register_guidance_schedules(register):\n    raise RuntimeError('boom')\n",
    "wrong argument names": "def ezigen_register_guidance_schedules(reg):\n    pass\n",
    "command hook raises": "def ezigen_register_commands(cli):\n    raise RuntimeError('cmd boom')\n",
}
WHY = {
    "raises": "ezigen_register_guidance_schedules raised RuntimeError: boom",
    "wrong argument names": "does not match the hook contract (docs/plugins.md): Plugin 'brk' for hook "
                            "'ezigen_register_guidance_schedules' hookimpl definition: "
                            "ezigen_register_guidance_schedules(reg) Argument(s) {'reg'} are declared",
    "command hook raises": "ezigen_register_commands raised RuntimeError: cmd boom",
}


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch, request):
    """An installed distribution ``brk`` whose entry point is the module ``brkmod`` (the hook given)."""
    info = tmp_path / "brk-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brk\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ezigen]\nbrk = brkmod\n")
    (tmp_path / "brkmod.py").write_text("import ezigen\n\n@ezigen.hookimpl\n" + HOOKS[request.param])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "brkmod", raising=False)  # each case imports its own brkmod
    before = components()
    use_components(collect(build_plugin_manager()))
    yield request.param
    use_components(before)
    sys.modules.pop("brkmod", None)


@pytest.mark.parametrize("broken_plugin", list(HOOKS), indirect=True)
@pytest.mark.parametrize("args", [["--version"], ["recipes", "validate", "ezigen-sd21-base"]])
def test_a_broken_plugin_warns_once_and_the_command_works(broken_plugin, capsys, args):
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert err.count("warning: plugin 'brk', distribution brk 0.1 is disabled: ") == 1
    assert WHY[broken_plugin] in err and "Traceback" not in err
    assert ("ezigen, version" in out) if args == ["--version"] else ("ok: ezigen-sd21-base" in out)

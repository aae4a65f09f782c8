"""Plugin manager and registries: attribution, duplicates, did-you-mean, blocking, the plugin in plugins/."""

import json
import subprocess
import sys

import pytest

import ezigen
from ezigen.errors import DuplicateNameError, UnknownNameError
from ezigen.plugins import build_plugin_manager, collect
from ezigen.registry import Registry


class SecondConstant:
    """A plugin that clashes with a builtin name."""

    @ezigen.hookimpl
    def ezigen_register_guidance_schedules(self, register):
        from ezigen.builtins.guidance import ConstantSchedule

        register("constant", ConstantSchedule)


def test_entries_remember_their_plugin():
    comps = collect(build_plugin_manager(entry_points=False))
    assert comps.registry("guidance_schedules").entry("decoupled").plugin == "ezigen.builtins.guidance"
    assert comps.registry("backbones").entry("stable-diffusion").plugin == "ezigen.builtins.backbones"


def test_duplicate_names_both_plugins():
    pm = build_plugin_manager(entry_points=False, extra=[SecondConstant()])
    with pytest.raises(DuplicateNameError) as info:
        collect(pm)
    text = str(info.value)
    assert "'constant' is registered twice" in text and "ezigen.builtins.guidance" in text
    assert pm.get_name(next(p for p in pm.get_plugins() if isinstance(p, SecondConstant))) in text


def test_unknown_name_did_you_mean_and_list():
    registry = Registry("fusion")
    registry.register("adapter-attention", object, "p")
    registry.register("reference-attention", object, "p")
    with pytest.raises(UnknownNameError) as info:
        registry.get("adapter-atention", where="fusion.type")
    text = str(info.value)
    assert "did you mean 'adapter-attention'?" in text
    assert "Registered fusions: adapter-attention, reference-attention" in text
    assert text.startswith("fusion.type: ")


def test_entry_point_plugin_is_loaded_and_can_be_blocked():
    loaded = collect(build_plugin_manager())
    assert "linear-ramp" in loaded.registry("guidance_schedules")
    assert loaded.registry("guidance_schedules").entry("linear-ramp").plugin == "linear-ramp"
    blocked = collect(build_plugin_manager(disabled=["linear-ramp"]))
    assert "linear-ramp" not in blocked.registry("guidance_schedules")
    none = collect(build_plugin_manager(disabled=["all"]))
    assert "linear-ramp" not in none.registry("guidance_schedules")
    assert "decoupled" in none.registry("guidance_schedules")


def test_plugins_json_lists_builtins_and_the_plugin_with_what_they_registered():
    out = subprocess.run([sys.executable, "-m", "ezigen.cli.main", "plugins", "--json"], capture_output=True,
                         text=True, check=True).stdout
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["ezigen.builtins.guidance"]["registered"]["guidance_schedules"] == ["constant", "decoupled"]
    assert rows["ezigen.builtins.fusions"]["registered"]["fusions"]
    ramp = rows["linear-ramp"]
    assert ramp["version"] == "0.1.0" and ramp["distribution"] == "ezigen-linear-ramp" and not ramp["builtin"]
    assert ramp["registered"]["guidance_schedules"] == ["linear-ramp"]
    assert ramp["registered"]["recipe_dirs"]


def test_environment_blocklist_applies_to_the_cli():
    import os

    env = {**os.environ, **{"EZIGEN_DISABLE_PLUGINS": "linear-ramp"}}
    out = subprocess.run([sys.executable, "-m", "ezigen.cli.main", "plugins", "--json"], capture_output=True,
                         text=True, check=True, env=env).stdout
    assert "linear-ramp" not in {row["name"] for row in json.loads(out)}


def test_plugin_recipe_uses_the_plugin_schedule():
    recipe = ezigen.load_recipe("ramp/ezigen-sd21-linear-ramp")
    assert recipe.guidance.type == "linear-ramp" and recipe.guidance.plugin == "linear-ramp"
    assert recipe.requires == {"ezigen-linear-ramp": ">=0.1"}


def test_requires_fails_when_the_version_does_not_match(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("requires: {ezigen-linear-ramp: '>=9'}\nbackbone: {pretrained: tiny:sd21}\n")
    with pytest.raises(ezigen.errors.RecipeError, match=r"requires.ezigen-linear-ramp: needs >=9, installed 0.1.0"):
        ezigen.load_recipe(str(path))


def test_docs_list_every_hook_with_its_signature():
    import inspect
    import os

    from ezigen import hookspecs

    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "plugins.md"), encoding="utf-8").read()
    hooks = [name for name in dir(hookspecs) if name.startswith("ezigen_")]
    assert hooks
    for name in hooks:
        signature = f"{name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")
        assert signature in text, f"docs/plugins.md lacks `{signature}`"

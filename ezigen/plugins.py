"""The plugin manager: builtins and entry-point plugins, registries, listing, blocking.

Nothing happens at import time: :func:`build_plugin_manager` is an explicit call, and
:func:`components` builds (and caches) the registries from a plugin manager. Tests build a
fresh one whenever they need to.

Blocking: ``EZIGEN_DISABLE_PLUGINS=name,name`` (or the ``disabled`` argument) skips those
entry-point plugins; ``EZIGEN_DISABLE_PLUGINS=all`` skips every entry-point plugin.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from ezigen import hookspecs
from ezigen._version import __version__
from ezigen.errors import EzigenError
from ezigen.registry import Registry

ENTRY_POINT_GROUP = "ezigen"
DISABLE_ENV = "EZIGEN_DISABLE_PLUGINS"

BUILTIN_MODULES = (
    "ezigen.builtins.backbones",
    "ezigen.builtins.encoders",
    "ezigen.builtins.fusions",
    "ezigen.builtins.guidance",
    "ezigen.builtins.stopping",
    "ezigen.builtins.metrics",
    "ezigen.builtins.recipe_dirs",
    "ezigen.builtins.weights",
)

# registry kind -> (hook name, human name used in messages)
KINDS = {
    "backbones": ("ezigen_register_backbones", "backbone"),
    "subject_encoders": ("ezigen_register_subject_encoders", "subject encoder"),
    "fusions": ("ezigen_register_fusions", "fusion"),
    "guidance_schedules": ("ezigen_register_guidance_schedules", "guidance schedule"),
    "stop_criteria": ("ezigen_register_stop_criteria", "stop criterion"),
    "metrics": ("ezigen_register_metrics", "metric"),
}


def disabled_from_env() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def build_plugin_manager(
    *, entry_points: bool = True, disabled: Iterable[str] | None = None, extra: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """A new plugin manager with the builtins, entry-point plugins (unless blocked) and ``extra`` plugins."""
    pm = pluggy.PluginManager("ezigen")
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
    blocked = set(disabled) if disabled is not None else disabled_from_env()
    if entry_points and "all" not in blocked:
        _load_entry_points(pm, blocked)
    for plugin in extra:
        pm.register(plugin)
    return pm


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str]) -> None:
    """Load every ``ezigen`` entry point not in ``blocked``; a broken plugin is a clear error.

    pluggy's ``load_setuptools_entrypoints`` does the same but cannot say which plugin failed.
    """
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or ep.name in blocked or pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a plugin's import error must not look like ours
                raise EzigenError(
                    f"plugin {ep.name!r} ({dist.metadata['Name']} {dist.version}) failed to load: "
                    f"{type(exc).__name__}: {exc}; disable it with {DISABLE_ENV}={ep.name}"
                ) from exc
            pm.register(plugin, name=ep.name)
            _DISTRIBUTIONS[ep.name] = (dist.metadata["Name"], dist.version)


_DISTRIBUTIONS: dict[str, tuple[str, str]] = {}  # entry-point name -> (distribution, version)


def find_plugin(pm: pluggy.PluginManager, name: str) -> Any:
    """A plugin by its plugin name or its distribution name ("ezigen" = the builtins); None if absent."""
    if name == "ezigen":
        return pm.get_plugin(BUILTIN_MODULES[0])
    plugin = pm.get_plugin(name)
    if plugin is not None:
        return plugin
    for plugin_name, (dist_name, _version) in _DISTRIBUTIONS.items():
        if dist_name.lower().replace("_", "-") == name.lower().replace("_", "-"):
            return pm.get_plugin(plugin_name)
    return None


def plugin_distribution(pm: pluggy.PluginManager, plugin: Any) -> str | None:
    name = pm.get_name(plugin) or ""
    if name.startswith("ezigen.builtins."):
        return "ezigen"
    return _DISTRIBUTIONS.get(name, (None, None))[0]


def plugin_version(pm: pluggy.PluginManager, plugin: Any) -> str | None:
    """The distribution version of a plugin, the ezigen version for builtins, None when unknown."""
    name = pm.get_name(plugin) or ""
    if name.startswith("ezigen.builtins."):
        return __version__
    if name in _DISTRIBUTIONS:
        return _DISTRIBUTIONS[name][1]
    return getattr(plugin, "__version__", None)


@attrs.define
class Components:
    """Every registry, built from one plugin manager."""

    pm: pluggy.PluginManager
    registries: dict[str, Registry]
    recipe_dirs: list[tuple[str, str]]  # (folder, plugin)

    def registry(self, kind: str) -> Registry:
        """The registry of one kind: ``backbones``, ``subject_encoders``, ``fusions``, ..."""
        return self.registries[kind]

    def registered_by(self) -> dict[str, dict[str, list[str]]]:
        """plugin name -> kind -> names it registered."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind, registry in self.registries.items():
            for entry in registry.entries():
                out.setdefault(entry.plugin, {}).setdefault(kind, []).append(entry.name)
        for folder, plugin in self.recipe_dirs:
            out.setdefault(plugin, {}).setdefault("recipe_dirs", []).append(folder)
        return out


def collect(pm: pluggy.PluginManager) -> Components:
    """Call every registration hook, one plugin at a time, so each entry knows its plugin."""
    registries: dict[str, Registry] = {}
    for kind, (hook_name, human) in KINDS.items():
        registry = Registry(human)
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            def register(name: str, value: Any, _plugin: str = impl.plugin_name) -> None:
                registry.register(name, value, _plugin)

            impl.function(register=register)
        registries[kind] = registry
    recipe_dirs: list[tuple[str, str]] = []
    for impl in pm.hook.ezigen_register_recipe_dirs.get_hookimpls():
        impl.function(register=lambda folder, _p=impl.plugin_name: recipe_dirs.append((str(folder), _p)))
    return Components(pm=pm, registries=registries, recipe_dirs=recipe_dirs)


_DEFAULT: Components | None = None


def components(refresh: bool = False) -> Components:
    """The process-wide registries (built on first use from the default plugin manager)."""
    global _DEFAULT
    if _DEFAULT is None or refresh:
        _DEFAULT = collect(build_plugin_manager())
    return _DEFAULT


def use_components(value: Components | None) -> None:
    """Replace the process-wide registries (tests; embedding applications)."""
    global _DEFAULT
    _DEFAULT = value

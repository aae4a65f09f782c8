"""The plugin manager: builtins and entry-point plugins, registries, listing, blocking.

Nothing happens at import time: :func:`build_plugin_manager` is an explicit call, and
:func:`components` builds (and caches) the registries from a plugin manager. Tests build a
fresh one whenever they need to.

Blocking: ``EZIGEN_DISABLE_PLUGINS=name,name`` (or the ``disabled`` argument) skips those
entry-point plugins; ``EZIGEN_DISABLE_PLUGINS=all`` skips every entry-point plugin.
"""

from __future__ import annotations

import contextlib
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
    pm.ezigen_failed = {}  # entry-point name -> why it did not load (read by collect)
    if entry_points and "all" not in blocked:
        pm.ezigen_failed = _load_entry_points(pm, blocked)
    for plugin in extra:
        pm.register(plugin)
    return pm


def _load_entry_points(pm: pluggy.PluginManager, blocked: set[str]) -> dict[str, str]:
    """Load every ``ezigen`` entry point not in ``blocked``; return those that failed to import.

    A plugin that fails to import is returned (shown by ``ezigen plugins``, named in the error of
    a recipe that needs it) and skipped, so that it cannot break commands that do not use it.
    pluggy's ``load_setuptools_entrypoints`` would raise on the first one.
    """
    failed: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or ep.name in blocked or pm.get_plugin(ep.name) is not None:
                continue
            _DISTRIBUTIONS[ep.name] = (dist.metadata["Name"], dist.version)
            try:
                plugin = ep.load()
            except Exception as exc:  # a plugin's import error must not look like ours, nor stop other commands
                failed[ep.name] = f"failed to import: {type(exc).__name__}: {exc}"
                continue
            try:
                pm.register(plugin, name=ep.name)
            except pluggy.PluginValidationError as exc:  # e.g. a hook with argument names the spec lacks
                failed[ep.name] = f"does not match the hook contract (docs/plugins.md): {' '.join(str(exc).split())}"
                with contextlib.suppress(ValueError):
                    pm.unregister(name=ep.name)
    return failed


_DISTRIBUTIONS: dict[str, tuple[str, str]] = {}  # entry-point name -> (distribution, version)


def describe_plugin(name: str) -> str:
    """``plugin 'colorstats', distribution ezigen-colorstats 0.1.0`` (or ``ezigen's builtins``)."""
    if str(name).startswith("ezigen.builtins."):
        return "ezigen's builtins"
    dist = _DISTRIBUTIONS.get(name)
    return f"plugin {name!r}, distribution {dist[0]} {dist[1]}" if dist else f"plugin {name!r}"


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
    """Every registry, built from one plugin manager, and what could not be registered.

    ``broken``: (kind, name) -> (plugin, why), components a plugin registered that miss a required
    member (``ezigen.interfaces``); they are not in the registries, and a recipe that names one
    fails with that message. ``failed``: plugin -> why it contributed nothing (import or hook error).
    """

    pm: pluggy.PluginManager
    registries: dict[str, Registry]
    recipe_dirs: list[tuple[str, str]]  # (folder, plugin)
    broken: dict[tuple[str, str], tuple[str, str]] = attrs.field(factory=dict)
    failed: dict[str, str] = attrs.field(factory=dict)

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

    def broken_message(self, kind: str, name: str) -> str | None:
        """Why the component ``name`` of ``kind`` is unusable, or None when it is not broken."""
        if (kind, name) in self.broken:
            plugin, why = self.broken[(kind, name)]
            return f"{KINDS[kind][1]} {name!r} ({describe_plugin(plugin)}) is broken: {why}"
        return None

    def failure_hint(self) -> str | None:
        """A line naming the plugins that failed to load, for "unknown name" errors."""
        if not self.failed:
            return None
        names = ", ".join(f"{describe_plugin(p)}: {why}" for p, why in sorted(self.failed.items()))
        return f"note: these plugins failed and registered nothing: {names}"


def collect(pm: pluggy.PluginManager) -> Components:
    """Call every registration hook, one plugin at a time, so each entry knows its plugin.

    A class that lacks a required member of its kind goes to ``broken`` (named, not raised), and a
    hook that raises puts its plugin in ``failed``: one broken plugin never breaks the others.
    """
    from ezigen.interfaces import missing_members

    registries: dict[str, Registry] = {}
    broken: dict[tuple[str, str], tuple[str, str]] = {}
    failed: dict[str, str] = dict(getattr(pm, "ezigen_failed", {}))
    for kind, (hook_name, human) in KINDS.items():
        registry = Registry(human)
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            def register(name: str, value: Any, _plugin: str = impl.plugin_name, _kind: str = kind) -> None:
                missing = missing_members(_kind, value)
                if missing and not _plugin.startswith("ezigen.builtins."):
                    broken[(_kind, name)] = (_plugin, f"{getattr(value, '__name__', value)!s} lacks the required "
                                             f"{', '.join(missing)} (see docs/plugins.md, ezigen.interfaces)")
                    return
                registry.register(name, value, _plugin)

            _call_hook(impl, failed, register=register)
        registries[kind] = registry
    recipe_dirs: list[tuple[str, str]] = []
    for impl in pm.hook.ezigen_register_recipe_dirs.get_hookimpls():
        _call_hook(impl, failed, register=lambda folder, _p=impl.plugin_name: recipe_dirs.append((str(folder), _p)))
    return Components(pm=pm, registries=registries, recipe_dirs=recipe_dirs, broken=broken, failed=failed)


def _call_hook(impl: Any, failed: dict[str, str], **kwargs: Any) -> None:
    if impl.plugin_name.startswith("ezigen.builtins."):
        impl.function(**kwargs)  # a builtin's error is our bug: keep its traceback
        return
    try:
        impl.function(**kwargs)
    except EzigenError:
        raise  # e.g. a duplicate name: already a clear message naming both plugins
    except Exception as exc:
        failed[impl.plugin_name] = f"{impl.function.__name__} raised {type(exc).__name__}: {exc}"


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

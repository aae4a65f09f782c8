"""``ezigen plugins [--json]``: each plugin, its version, what it registered, and what is broken.

A plugin that failed to import or whose hook raised is listed with ``broken`` (why); a component
that lacks a required member is listed under its plugin's ``broken_components``."""

from __future__ import annotations

import json

import click


def plugin_report() -> list[dict]:
    from ezigen.plugins import _DISTRIBUTIONS, components, plugin_distribution, plugin_version

    comps = components()
    pm = comps.pm
    registered = comps.registered_by()
    broken_parts: dict[str, dict[str, str]] = {}
    for (kind, name), (plugin, why) in comps.broken.items():
        broken_parts.setdefault(plugin, {})[f"{kind}: {name}"] = why
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: (not item[0].startswith("ezigen."), item[0])):
        if plugin is None:  # blocked
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append({
            "name": name,
            "distribution": plugin_distribution(pm, plugin),
            "version": plugin_version(pm, plugin),
            "builtin": name.startswith("ezigen.builtins."),
            "hooks": hooks,
            "registered": registered.get(name, {}),
            "broken": comps.failed.get(name),
            "broken_components": broken_parts.get(name, {}),
        })
    for name, why in sorted(comps.failed.items()):
        if pm.get_plugin(name) is None:  # failed to import: not in the plugin manager
            dist, version = _DISTRIBUTIONS.get(name, (None, None))
            rows.append({"name": name, "distribution": dist, "version": version, "builtin": False, "hooks": [],
                         "registered": {}, "broken": why, "broken_components": {}})
    return rows


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> None:
    """List plugins (builtins and installed), their versions and what each registered."""
    rows = plugin_report()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        kind = "builtin" if row["builtin"] else "plugin"
        state = f"{kind}, BROKEN: {row['broken']}" if row["broken"] else kind
        click.echo(f"{row['name']} {row['version'] or '?'} ({state})")
        for what, names in sorted(row["registered"].items()):
            click.echo(f"    {what}: {', '.join(names)}")
        for what, why in sorted(row["broken_components"].items()):
            click.echo(f"    broken {what}: {why}")
        if not row["registered"] and not row["broken_components"] and not row["broken"]:
            click.echo(f"    hooks: {', '.join(row['hooks']) or '(none)'}")

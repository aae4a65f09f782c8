"""``ezigen plugins [--json]``: each plugin, its version and what it registered."""

from __future__ import annotations

import json

import click


def plugin_report() -> list[dict]:
    from ezigen.plugins import components, plugin_distribution, plugin_version

    comps = components()
    pm = comps.pm
    registered = comps.registered_by()
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
        })
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
        click.echo(f"{row['name']} {row['version'] or '?'} ({kind})")
        for what, names in sorted(row["registered"].items()):
            click.echo(f"    {what}: {', '.join(names)}")
        if not row["registered"]:
            click.echo(f"    hooks: {', '.join(row['hooks']) or '(none)'}")

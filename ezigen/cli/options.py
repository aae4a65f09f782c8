"""Options shared by several commands."""

from __future__ import annotations

import click

from ezigen.devices import resolve_device
from ezigen.output_dir import prepare_output_dir

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a recipe key, e.g. --set sampling.steps=20 (VALUE is read as YAML).",
)
tiny_option = click.option(
    "--tiny", is_flag=True, help="Replace every hub model by its tiny offline stand-in (64 px, seconds on CPU)."
)
device_option = click.option(
    "--device", default="auto", show_default=True, help="Device to run on: auto (cuda when available), cpu, cuda, cuda:N."
)


# the core's helpers, named here for the commands (the core never imports the CLI)
__all__ = ["device_option", "prepare_output_dir", "resolve_device", "set_option", "tiny_option"]

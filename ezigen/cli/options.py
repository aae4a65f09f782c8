"""Options shared by several commands."""

from __future__ import annotations

import os

import click

from ezigen.errors import OutputError

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


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def prepare_output_dir(path: str) -> str:
    """Create ``path`` (and parents) and prove it is writable, before any work is done."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"--out {path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".ezigen-write-test-{os.getpid()}")
        with open(probe, "w") as fh:
            fh.write("")
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"--out {path!r} is not writable: {exc.strerror or exc}") from None
    return path

"""``ezigen tiny save {sd21,sdxl,clip,dino} DIR``: write a tiny model as a from_pretrained folder."""

from __future__ import annotations

import click


@click.group("tiny")
def command() -> None:
    """Tiny offline models (random, fixed seed) for tests and demos."""


@command.command("save")
@click.argument("which", type=click.Choice(["sd21", "sdxl", "clip", "dino"]))
@click.argument("folder", type=click.Path(file_okay=False))
def save(which: str, folder: str) -> None:
    """Save tiny:WHICH to FOLDER (a diffusers pipeline folder for sd21/sdxl; transformers for clip/dino)."""
    import os

    from ezigen.builtins.backbones.tiny import save_tiny
    from ezigen.cli.options import prepare_output_dir

    prepare_output_dir(folder)
    save_tiny(f"tiny:{which}", folder)
    click.echo(os.path.abspath(folder))

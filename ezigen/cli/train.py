"""``ezigen train RECIPE --data DATA --out RUN [--resume] [--skip-bad] [--set ...] [--tiny]``."""

from __future__ import annotations

import json

import click

from ezigen.cli.options import device_option, set_option, tiny_option


@click.command("train")
@click.argument("recipe")
@click.option("--data", required=True, help="A dataset folder with manifest.jsonl (see docs/training.md).")
@click.option("--out", "run", required=True, help="The run folder (checkpoints, final weights, metrics).")
@click.option("--resume", is_flag=True, help="Continue from the latest complete checkpoint in --out.")
@click.option("--skip-bad", is_flag=True, help="Skip and count unreadable samples instead of stopping.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@set_option
@tiny_option
@device_option
def command(recipe, data, run, resume, skip_bad, no_progress, overrides, tiny, device) -> None:
    """Train the recipe's trainable part (adapters, IP-Adapter weights, or the whole UNet) on DATA.

    Runs on CPU, one GPU or many: `accelerate launch -m ezigen.cli.main train ...`.
    """
    from ezigen.recipe.loader import load_recipe
    from ezigen.training.loop import train

    loaded = load_recipe(recipe, overrides, tiny=tiny)
    from ezigen.locking import output_lock

    click.get_current_context().with_resource(output_lock(run))  # one run per --out, held until the end
    summary = train(loaded, data, run, resume=resume, skip_bad=skip_bad, device=device,
                    log=lambda m: click.echo(m, err=True), progress=not no_progress)
    click.echo(json.dumps(summary))

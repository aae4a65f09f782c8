"""``ezigen export RUN DIR``: a training run as a folder others load (recipe, weights, model card)."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("run")
@click.argument("out")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty OUT (only once the new folder is complete).")
def command(run: str, out: str, overwrite: bool) -> None:
    """Export the training run RUN (from `ezigen train --out RUN`) to OUT: recipe.yaml with
    fusion.weights: fusion.safetensors, the weights, and README.md (a model card). Load it with
    `ezigen generate OUT ...` or `EZIGenPipeline.from_pretrained(OUT)`."""
    from ezigen.export import export_run

    click.echo(export_run(run, out, overwrite=overwrite))

"""``ezigen toy data | assemble | table``: the toy world (docs/toy-world.md)."""

from __future__ import annotations

import json

import click

from ezigen.cli.options import prepare_output_dir, set_option
from ezigen.toy.methods import METHODS, select_methods


@click.group("toy")
def command() -> None:
    """The toy world: data, base assembly, and the table of measured claims."""


@command.command("data")
@click.option("--out", required=True, help="Folder for the world (train/manifest.jsonl, world.json).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--scenes", type=click.IntRange(1), default=24000, show_default=True)
def data(out: str, seed: int, scenes: int) -> None:
    """Write the toy world's training data in the manifest format."""
    from ezigen.toy.dataset import WorldSpec, write_world

    prepare_output_dir(out)
    click.echo(write_world(out, WorldSpec(seed=seed, scenes=scenes), log=lambda m: click.echo(m, err=True)))


@command.command("assemble")
@click.option("--run", required=True, help="A `ezigen train toy/pretrain` run (with unet/ and text_encoder/).")
@click.option("--out", required=True, help="The base folder to write (usable as backbone.pretrained).")
def assemble(run: str, out: str) -> None:
    """Assemble a trained toy base: the pretrained UNet and text encoder + the fixed parts."""
    from ezigen.toy.backbone import assemble_base

    prepare_output_dir(out)
    click.echo(assemble_base(run, out))


@command.command("table")
@click.option("--out", required=True, help="Folder for table.json, table.md, grid.png, the plots and images/ (kept: a rerun reuses them).")
@click.option("--samples", type=click.IntRange(2), default=60, show_default=True, help="Held-out samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the scenes and generations.")
@click.option("--world-seed", type=int, default=0, show_default=True,
              help="The `ezigen toy data --seed` the weights were trained on: it decides which subjects are held out.")
@click.option("--methods", default=None, metavar="NAME,NAME",
              help="Comma-separated methods (default: all; text-only is always run, every gain pairs with it): "
                   + ", ".join(METHODS) + ".")
@click.option("--curve", "curves", multiple=True, metavar="METHOD=RUN",
              help="Training curve of METHOD over the checkpoints of the `ezigen train` run RUN (repeatable).")
@click.option("--curve-samples", type=click.IntRange(2), default=30, show_default=True,
              help="Held-out samples per training-curve point.")
@click.option("--edit-samples", type=click.IntRange(0), default=None,
              help="Samples of the editing block (default: --samples, at most 30; 0: no editing block).")
@click.option("--editing-only", is_flag=True, help="Only the editing block (skip the generation methods).")
@set_option
def table(out: str, samples: int, seed: int, world_seed: int, methods: str | None, curves: tuple[str, ...],
          curve_samples: int, edit_samples: int | None, editing_only: bool, overrides: tuple[str, ...]) -> None:
    """Measure the toy world's methods on held-out subjects (fidelity, alignment, cost; paired against
    text-only), the paper's claims, training curves, and EZIGen's editing (docs/toy-world.md, docs/editing.md)."""
    import os

    from ezigen.toy.table import build_table

    if editing_only and edit_samples == 0:
        raise click.BadParameter("--editing-only with --edit-samples 0 measures nothing", param_hint="--edit-samples")
    names = [n.strip() for n in methods.split(",") if n.strip()] if methods is not None else None
    if names is not None:
        try:
            select_methods(names)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--methods") from None
    runs: dict[str, str] = {}
    for item in curves:
        method, sep, run = item.partition("=")
        if not sep or method not in METHODS or not METHODS[method].uses_subject:
            raise click.BadParameter(f"{item!r}: expected METHOD=RUN with METHOD one of "
                                     f"{', '.join(n for n, m in METHODS.items() if m.uses_subject)}",
                                     param_hint="--curve")
        if not os.path.isdir(run):
            raise click.BadParameter(f"{item!r}: the training run {run!r} is not a folder", param_hint="--curve")
        runs[method] = run
    from ezigen.locking import output_lock

    prepare_output_dir(out)  # an existing folder is kept: its images/ are reused (see --out)
    click.get_current_context().with_resource(output_lock(out))  # one table run per folder
    result = build_table(out, samples=samples, seed=seed, world_seed=world_seed, overrides=list(overrides),
                         log=lambda m: click.echo(m, err=True), edit_samples=edit_samples,
                         generation=not editing_only, methods=names, curves=runs, curve_samples=curve_samples)
    rows = result["rows"] + [dict(r, block="editing") for r in result.get("editing", {}).get("rows", [])]
    click.echo(json.dumps(rows, indent=1))


@command.command("encoder")
@click.argument("kind", type=click.Choice(["clip", "dino"]))
@click.option("--out", required=True, help="The encoder folder to write (checkpoints in OUT/checkpoints/); usable as "
                                           "subject_encoder.pretrained once finished.")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Training steps (default: 1500 for clip, 1200 for dino; the shipped encoders' counts).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the batches and augmentations.")
@click.option("--world-seed", type=int, default=0, show_default=True,
              help="The `ezigen toy data --seed` whose training subjects to train on.")
@click.option("--resume", is_flag=True, help="Continue from OUT's newest complete checkpoint (exactly).")
@click.option("--ship", is_flag=True, help="When finished, copy the encoder over ezigen/assets/toy/KIND (toy:KIND).")
def encoder(kind: str, out: str, steps: int | None, seed: int, world_seed: int, resume: bool, ship: bool) -> None:
    """Train a toy stand-in for CLIP (image-text InfoNCE) or DINOv2 (DINO self-distillation) on the toy
    world's training subjects (docs/toy-world.md, Toy encoders)."""
    from ezigen.locking import output_lock
    from ezigen.output_dir import writing_into
    from ezigen.toy.encoders.training import DEFAULT_STEPS, EncoderTrainingConfig, ship as ship_encoder, train_encoder

    prepare_output_dir(out)
    click.get_current_context().with_resource(output_lock(out))  # one trainer per folder
    config = EncoderTrainingConfig(kind=kind, steps=steps or DEFAULT_STEPS[kind], seed=seed, world_seed=world_seed)
    with writing_into(out):
        summary = train_encoder(out, config, resume=resume, log=lambda m: click.echo(m, err=True))
    if ship:
        click.echo(f"shipped {ship_encoder(out, kind)}", err=True)
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))

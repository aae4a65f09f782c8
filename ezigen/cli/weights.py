"""``ezigen weights convert --from FORMAT --backbone MODEL SRC DST`` and ``ezigen weights inspect FILE``."""

from __future__ import annotations

import json

import click


@click.group("weights")
def command() -> None:
    """Convert and inspect fusion weight files."""


@command.command("convert")
@click.option("--from", "source_format", required=True, type=click.Choice(["ezigen-official"]),
              help="Layout of SRC: ezigen-official = the released EZIGen checkpoint (Accelerate folder or file).")
@click.option("--backbone", "backbone", required=True, help="The backbone SRC was trained on (hub id, folder, tiny:sd21).")
@click.option("--overwrite", is_flag=True, help="Replace DST if it is an existing regular file.")
@click.argument("src")
@click.argument("dst")
def convert(source_format: str, backbone: str, overwrite: bool, src: str, dst: str) -> None:
    """Validate SRC against the backbone and write DST (.safetensors with ezigen metadata).

    DST must not exist (or, with --overwrite, be a regular file): a folder, link, FIFO or device
    is refused before any work. DST appears complete, by one rename, or not at all.
    """
    from ezigen.weights_convert import CONVERTERS

    report = CONVERTERS[source_format](src, backbone, dst, log=lambda m: click.echo(m, err=True),
                                       overwrite=overwrite)
    click.echo(json.dumps(report, indent=2))


@command.command("inspect")
@click.argument("path")
def inspect(path: str) -> None:
    """Print a weights file's metadata and tensor count."""
    from ezigen.weights_file import read_state_dict

    tensors, meta = read_state_dict(path)
    shown = {k: (json.loads(v) if k in ("ezigen.layers", "ezigen.config") else v) for k, v in meta.items()}
    click.echo(json.dumps({"tensors": len(tensors), "parameters": int(sum(t.numel() for t in tensors.values())),
                           "metadata": shown}, indent=2))

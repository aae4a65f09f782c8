"""``ezigen data dreambench --out DIR --from SRC``: a checked copy of DreamBench for ``ezigen eval --data``."""

from __future__ import annotations

import click


@click.command("dreambench")
@click.option("--out", required=True, metavar="DIR", help="Where the checked copy goes (what `ezigen eval --data` reads).")
@click.option("--from", "source", default=None, metavar="SRC",
              help="A local copy of the google/dreambooth repository's dataset/ folder (or of that folder's "
                   "files). Equal to --out: check it in place.")
def command(out, source) -> None:
    """Check a DreamBench folder (prompt file, every subject's images decode) and copy it to OUT.

    Offline: nothing is downloaded. Get the dataset/ folder of the google/dreambooth repository
    once (e.g. a git clone) and pass it with --from.
    """
    from ezigen.errors import DataError
    from ezigen.evaluation.dreambench_copy import copy_dreambench

    if source is None:
        raise DataError("ezigen data dreambench needs --from SRC: a local copy of the google/dreambooth "
                        "repository's dataset/ folder (this command never downloads; clone the repository "
                        "once where the network allows)")
    report = copy_dreambench(source, out)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"ezigen data dreambench: {report.summary()}", err=True)
    click.echo(report.out)

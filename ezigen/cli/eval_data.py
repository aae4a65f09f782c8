"""``ezigen data dreambench --out DIR --from SRC``: a checked copy of DreamBench for ``ezigen eval --data``."""

from __future__ import annotations

import click


@click.command("dreambench")
@click.option("--out", required=True, metavar="DIR", help="Where the checked copy goes (what `ezigen eval --data` reads).")
@click.option("--from", "source", default=None, metavar="SRC",
              help="A local copy of the google/dreambooth repository's dataset/ folder (or of that folder's "
                   "files). Equal to --out: check it in place. Without --from the dataset is downloaded.")
@click.option("--ref", default="main", show_default=True, metavar="REF",
              help="Without --from: the google/dreambooth branch, tag or commit whose archive is downloaded.")
@click.option("--url", default=None, metavar="URL",
              help="Without --from: download this zip instead (a mirror, or file:///path/to/archive.zip).")
def command(out, source, ref, url) -> None:
    """Check a DreamBench folder (prompt file, every subject's images decode) and copy it to OUT.

    With --from SRC nothing is downloaded. Without it, the google/dreambooth repository's archive
    (--ref, or --url) is downloaded and its dataset/ folder checked and copied the same way.
    """
    from ezigen.errors import DataError

    if source is not None and (url is not None or ref != "main"):
        raise DataError("ezigen data dreambench: --ref and --url choose what to download; with --from "
                         "nothing is downloaded, so give one or the other")
    if source is None:
        from ezigen.evaluation.dreambench_download import fetch_dreambench

        click.echo(f"ezigen data dreambench: downloading {url or f'google/dreambooth@{ref}'}", err=True)
        report = fetch_dreambench(out, ref=ref, url=url)
    else:
        from ezigen.evaluation.dreambench_copy import copy_dreambench

        report = copy_dreambench(source, out)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"ezigen data dreambench: {report.summary()}", err=True)
    click.echo(report.out)

"""Eval's results files replaced as one set, with a completion marker that readers require.

``results.csv``, ``results.json``, ``results.md``, ``fidelity_vs_text.png`` and ``report.html``
describe one run together. Written one by one over an earlier run's files, a kill half-way
would leave a new ``results.csv`` beside an old ``results.json``. So:

1. every file is written into a staging folder ``OUT/.tmp-results-PID/`` (under its final name);
2. publishing removes ``OUT/results.complete`` first, renames each staged file into OUT, removes
   the files of the set this run did not write (an earlier run's plot), and writes
   ``results.complete`` last: ``{"files": {name: sha256}}`` of exactly the published set;
3. :func:`read_results` reads ``results.json`` only when the marker is there and every file
   matches its checksum; otherwise it raises, saying the set is incomplete.

A kill during step 2 leaves files without a marker: incomplete, never mistaken for a result;
rerunning the same eval (its images are reused) publishes a complete set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

from ezigen.errors import OutputError
from ezigen.io import file_sha256

MARKER = "results.complete"



class ResultsSet:
    """Staged paths for one set of result files; :meth:`publish` puts them in place together."""

    def __init__(self, out: str, names: Sequence[str]):
        self.out = out
        self.names = tuple(names)
        for name in os.listdir(out):  # a killed run's staging folder (OUT is locked: no run is writing)
            if name.startswith(".tmp-results-"):
                shutil.rmtree(os.path.join(out, name), ignore_errors=True)
        self.staging = os.path.join(out, f".tmp-results-{os.getpid()}")
        os.makedirs(self.staging)
        self.paths = {name: os.path.join(self.staging, name) for name in self.names}

    def publish(self) -> dict[str, str]:
        """Move the staged files into OUT, drop stale members of the set, write the marker; {name: path}."""
        from ezigen.io import write_json_atomic

        staged = {name: os.path.join(self.staging, name) for name in self.names}
        written = [name for name in self.names if os.path.isfile(staged[name])]
        marker = os.path.join(self.out, MARKER)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker)  # from here until the new marker, the set reads as incomplete
        checksums = {}
        for name in self.names:
            final = os.path.join(self.out, name)
            if name in written:
                checksums[name] = file_sha256(staged[name])
                os.replace(staged[name], final)
            elif os.path.isfile(final):
                os.remove(final)  # an earlier run's file would not match these results
        write_json_atomic(marker, {"files": checksums})
        self.discard()
        return {name: os.path.join(self.out, name) for name in written}

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def read_results(out: str) -> dict[str, Any]:
    """``OUT/results.json`` of a complete set; :class:`OutputError` when the marker is missing or a file changed."""
    marker = os.path.join(out, MARKER)
    hint = "rerun the same `ezigen eval` command (its images are reused) to complete it"
    try:
        with open(marker, encoding="utf-8") as fh:
            files = json.load(fh)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(f"{out!r} holds no complete set of eval results ({MARKER} missing or unreadable; "
                          f"an interrupted run?); {hint}") from None
    for name, checksum in files.items():
        path = os.path.join(out, name)
        if not os.path.isfile(path) or file_sha256(path) != checksum:
            raise OutputError(f"{path!r} is missing or does not belong to the results set of {marker!r}; {hint}")
    if "results.json" not in files:
        raise OutputError(f"{marker!r} lists no results.json; {hint}")
    with open(os.path.join(out, "results.json"), encoding="utf-8") as fh:
        return json.load(fh)

"""Cost columns that do not move with resume or sharding: a subject's encoding is recorded once per
(recipe, subject) and spread equally over its images (``ezigen.evaluation.runner``).

Before this, the encoding was charged to whichever image encoded the subject first in its
process, so the same work gave different ``unet_evals`` per image fresh, resumed and sharded.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.test_evaluation_support import run_cli

RECIPE = "ezigen-sd21-base"
FAST = ("--tiny", "--set", "sampling.steps=4", "--set", "refinement=null", "--limit", "2")


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def args(bench_dir, out, *extra):
    return ["eval", RECIPE, "text-only-sd21-base", *FAST, "--data", bench_dir, "--out", str(out), *extra]


def csv_rows(out, drop=("seconds",)):
    with open(os.path.join(out, "results.csv"), encoding="utf-8", newline="") as fh:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(fh)]


def is_score(field):
    """A metric column, or its seed-std / CI (the cost and key columns are the rest)."""
    return field.split("-seed-std")[0].split("-ci-")[0] in ("dino", "clip-i", "clip-t", "dino-cond", "clip-i-cond")


def test_fresh_resumed_and_sharded_runs_give_the_same_cost_columns(bench_dir, tmp_path, capsys):
    fresh, resumed, sharded = tmp_path / "fresh", tmp_path / "resumed", tmp_path / "sharded"
    for out in (fresh, resumed):
        code, _, err = run_cli(args(bench_dir, out), capsys)
        assert code == 0, err
    # a kill after the second image of a subject: its image gone; the rerun encodes the subject again
    # for it, and before this change that image then carried the whole encoding
    subject = resumed / "images" / RECIPE / "red_disc"
    os.unlink(subject / "p00-s1" / "image.png")
    code, stdout, err = run_cli(args(bench_dir, resumed), capsys)
    assert code == 0 and "1 images generated" in stdout, err
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "ezigen.cli.main", *args(bench_dir, sharded, "--device", "cpu")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]

    one = csv_rows(fresh)
    for other in (csv_rows(resumed), csv_rows(sharded)):
        assert len(other) == len(one)
        for a, b in zip(one, other):
            # keys and cost columns exactly; scores to 1e-5: the scoring process of a sharded run is another
            # process, whose kernels may round the 6th digit differently after other work (seen: 0.959085/4)
            assert {k: v for k, v in a.items() if not is_score(k)} == {k: v for k, v in b.items() if not is_score(k)}
            for key in filter(is_score, a):
                assert (a[key] == b[key]) if a[key] == "" else float(a[key]) == pytest.approx(float(b[key]), abs=1e-5)
    encoding = json.loads((subject / "encoding.json").read_text())
    assert encoding["subject_encodings"] == 1 and encoding["unet_evals"] > 0
    images = [r for r in one if r["scope"] == "image" and r["recipe"] == RECIPE]
    per_subject = {r["subject"]: [] for r in images}
    for row in images:
        per_subject[row["subject"]].append(float(row["unet_evals"]))
    text_only = next(float(r["unet_evals"]) for r in one if r["scope"] == "recipe" and r["recipe"] != RECIPE)
    for values in per_subject.values():
        # every image of a subject pays the same share: 4 steps x CFG 2 plus the encoding / images
        assert values == [text_only + encoding["unet_evals"] / len(values)] * len(values)
    trace = json.loads((subject / "p00-s0" / "trace.json").read_text())
    assert trace["totals"]["subject_encodings"] == 0  # encoded before the first image, not inside it

"""``ezigen eval --batch-size``: the seeds of a prompt in one denoising batch give the one-by-one
images (within 1/255, the rounding of batched kernels) and the same cost columns."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.test_evaluation_support import run_cli

RECIPES = ("ablations/ezigen-sd21-fixed-3", "text-only-sd21-base")
SELECT = ("--tiny", "--set", "sampling.steps=4", "--subjects", "red_disc,dog_a", "--prompts-per-subject", "1",
          "--seeds", "0,1,2", "--metrics", "dino,clip-t")


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def rows(out):
    with open(os.path.join(out, "results.csv"), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def pixels(out, row):
    return np.asarray(Image.open(os.path.join(out, row["image"])), dtype=np.int16)


def test_batched_seeds_equal_one_by_one_images_and_costs(bench_dir, tmp_path, capsys):
    alone, batched = tmp_path / "alone", tmp_path / "batched"
    code, _, err = run_cli(["eval", *RECIPES, *SELECT, "--data", bench_dir, "--out", str(alone)], capsys)
    assert code == 0, err
    code, _, err = run_cli(["eval", *RECIPES, *SELECT, "--data", bench_dir, "--out", str(batched),
                            "--batch-size", "3"], capsys)
    assert code == 0, err
    assert err.count("+2 seeds") == 4 and "one image per call" not in err  # 2 recipes x 2 subjects x 1 prompt
    one, two = rows(alone), rows(batched)
    assert len(one) == len(two)
    for a, b in zip(one, two):
        assert (a["scope"], a["recipe"], a["subject"], a["seed"]) == (b["scope"], b["recipe"], b["subject"], b["seed"])
        assert (a["unet_evals"], a["iterations"]) == (b["unet_evals"], b["iterations"])  # cost as if alone
        if a["scope"] == "image" and a["recipe"] in RECIPES:
            assert np.abs(pixels(alone, a) - pixels(batched, b)).max() <= 1, a["image"]
            for column in ("dino", "clip-t"):
                assert float(a[column]) == pytest.approx(float(b[column]), abs=1e-2)
    trace = json.loads((batched / "images" / "ablations_ezigen-sd21-fixed-3" / "dog_a" / "p00-s1" / "trace.json")
                       .read_text())
    assert trace["batch"] == {"seeds": [0, 1, 2], "size": 3} and trace["seed"] == 1
    assert trace["totals"]["iterations"] == 3  # the fixed rule's 3 iterations, not divided by the batch


def test_a_batch_holds_only_the_missing_seeds_and_coupled_stop_rules_run_alone(bench_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["eval", "ezigen-sd21-base", "text-only-sd21-base", "--tiny", "--set", "sampling.steps=4", "--subjects",
            "red_disc", "--prompts-per-subject", "1", "--seeds", "0,1", "--metrics", "dino", "--data", bench_dir,
            "--out", str(out), "--batch-size", "2"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert "ezigen-sd21-base: one image per call (its stop rule 'clip-similarity'" in err
    assert "generated text-only-sd21-base/red_disc/p00-s0 +1 seeds" in err
    trace = json.loads((out / "images" / "ezigen-sd21-base" / "red_disc" / "p00-s1" / "trace.json").read_text())
    assert "batch" not in trace
    victim = out / "images" / "text-only-sd21-base" / "red_disc" / "p00-s1" / "image.png"
    kept = out / "images" / "text-only-sd21-base" / "red_disc" / "p00-s0" / "image.png"
    stamp = os.stat(kept).st_mtime_ns
    os.unlink(victim)
    code, stdout, err = run_cli(args, capsys)
    assert code == 0 and "1 images generated, 3 reused" in stdout, err
    assert os.stat(kept).st_mtime_ns == stamp and victim.is_file()


def test_batches_never_cross_a_prompt_subject_or_recipe(bench_dir):
    from ezigen.evaluation.batching import batches
    from ezigen.evaluation.dreambench import read_dreambench
    from ezigen.evaluation.plan import Selection, plan_jobs

    jobs = plan_jobs(read_dreambench(bench_dir), ["a", "b"],
                     Selection.from_options(subjects=["red_disc", "dog_a"], prompts_per_subject=2, seeds=[0, 1, 2]))
    chunks = list(batches(jobs, 2))
    assert [len(c) for c in chunks] == [2, 1] * 8
    assert [j for c in chunks for j in c] == jobs
    for chunk in chunks:
        assert len({(j.recipe, j.subject.name, j.prompt.index) for j in chunk}) == 1
    assert [len(c) for c in batches(jobs, 1)] == [1] * len(jobs)

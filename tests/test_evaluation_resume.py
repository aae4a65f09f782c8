"""Resuming, refusing to mix protocols, bad input, and sharding over 2 processes (synthetic DreamBench).

All runs use text-only-sd21-base on the tiny backbone with 3 denoising steps: generation is
cheap, so what is tested is the harness (which jobs run, what is reused, what is written).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ezigen.evaluation.aggregate import fields
from tests.test_evaluation_support import load_results, run_cli

RECIPE = "text-only-sd21-base"
FAST = ("--tiny", "--set", "sampling.steps=3")
UMASK = os.umask(0o022)
os.umask(UMASK)


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def eval_args(bench_dir, out, *extra):
    return ["eval", RECIPE, *FAST, "--data", bench_dir, "--out", str(out), *extra]


def files_under(out):
    return {os.path.relpath(os.path.join(root, name), out): os.stat(os.path.join(root, name)).st_mtime_ns
            for root, _dirs, names in os.walk(os.path.join(out, "images")) for name in names}


def test_a_killed_run_continues_where_it_stopped(bench_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code, _, err = run_cli(eval_args(bench_dir, out, "--limit", "2"), capsys)
    assert code == 0, err
    victim = out / "images" / RECIPE / "dog_a" / "p02-s1"
    original = np.asarray(Image.open(victim / "image.png"))
    # what a kill leaves: the trace and recipe of the job written, the image not, a temp file beside it
    os.unlink(victim / "image.png")
    (victim / ".tmp-abc.png").write_bytes(b"half an image")
    before = files_under(out)
    code, stdout, err = run_cli(eval_args(bench_dir, out, "--limit", "2"), capsys)
    assert code == 0, err
    assert "1 images generated, 7 reused" in stdout
    assert "removed 1 temporary file left by an interrupted run" in err
    assert not (victim / ".tmp-abc.png").exists()
    after = files_under(out)
    changed = {path for path in after if before.get(path) != after[path]}
    assert changed == {f"images/{RECIPE}/dog_a/p02-s1/{n}" for n in ("image.png", "trace.json", "recipe.yaml")}
    assert np.array_equal(np.asarray(Image.open(victim / "image.png")), original)  # seeds make it the same image
    for name in ("image.png", "trace.json", "recipe.yaml", "../../../../results.json", "../../../../report.html"):
        assert stat.S_IMODE(os.stat(victim / name).st_mode) == 0o666 & ~UMASK, name  # 0644 under umask 022
    assert load_results(out)["run"] == {"jobs": 8, "generated": 1, "reused": 7, "processes": 1}


def test_growing_a_run_reuses_what_is_there(bench_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_cli(eval_args(bench_dir, out, "--limit", "1"), capsys)[0] == 0
    code, stdout, err = run_cli(eval_args(bench_dir, out, "--subjects", "red_disc,dog_a", "--prompts-per-subject", "2",
                                          "--seeds", "0,5"), capsys)
    assert code == 0, err
    assert "7 images generated, 1 reused" in stdout
    data = load_results(out)
    assert {(r["subject"], r["prompt_index"], r["seed"]) for r in data["per_image"] if r["recipe"] == RECIPE} == {
        (s, p, seed) for s in ("red_disc", "dog_a") for p in (0, 1) for seed in (0, 5)}
    recipe_row = next(r for r in data["per_recipe"] if r["recipe"] == RECIPE)
    assert recipe_row["dino-seed-std"] is not None and recipe_row["images"] == 8
    real = [r for r in data["per_image"] if r["recipe"] == "real-images"]
    assert sorted({r["subject"] for r in real}) == ["dog_a", "red_disc"] and len(real) == 6


@pytest.mark.parametrize("change, message", [
    (("--set", "sampling.steps=4"), "was generated with a different recipe"),
    (("--unique-token", "sks"), "was generated from other inputs"),
])
def test_changed_settings_do_not_mix_with_earlier_images(bench_dir, tmp_path, capsys, change, message):
    out = tmp_path / "eval"
    assert run_cli(eval_args(bench_dir, out, "--limit", "1"), capsys)[0] == 0
    before = files_under(out)
    code, _, err = run_cli([*eval_args(bench_dir, out, "--limit", "1"), *change], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert files_under(out) == before


@pytest.mark.parametrize("args, fragment", [
    (["eval", "text-only-sd21-bas", "--data", "{bench}"], "did you mean 'text-only-sd21-base'?"),
    (["eval", RECIPE, "--data", "{tmp}/nowhere"], "no such folder"),
    (["eval", RECIPE, "--data", "{tmp}"], "prompts_and_classes.txt is missing"),
    (["eval", RECIPE, "--data", "{bench}", "--subjects", "red_disk"], "did you mean 'red_disc'?"),
    (["eval", RECIPE, "--data", "{bench}", "--metrics", "dino,clip-x"], "unknown metric 'clip-x'"),
    (["eval", RECIPE, "--data", "{bench}", "--seeds", "1,x"], "expected comma-separated integers"),
    (["eval", RECIPE, "--data", "{bench}", "--seeds", "1,2", "--images-per-prompt", "3"], "does not match"),
    (["eval", RECIPE, "--data", "{bench}", "--bench", "dreambench-plus"], "Invalid value for '--bench'"),
    (["eval", RECIPE, "--data", "{bench}", "--reference-index", "7"], "has only 3 images"),
    (["eval", RECIPE, RECIPE, "--data", "{bench}"], "would share the folder"),
])
def test_bad_input_is_one_message_and_status_2(bench_dir, tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    args = [a.format(bench=bench_dir, tmp=tmp_path) for a in args] + ["--tiny", "--out", str(out)]
    code, _, err = run_cli(args, capsys)
    assert code == 2, err
    assert fragment in err and "Traceback" not in err
    assert not (out / "results.json").exists()


def test_sharded_run_over_two_processes_equals_the_single_process_run(bench_dir, tmp_path, capsys):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    code, _, err = run_cli(eval_args(bench_dir, single, "--limit", "2"), capsys)
    assert code == 0, err
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "ezigen.cli.main", *eval_args(bench_dir, sharded, "--limit", "2", "--device", "cpu")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    # disjoint slices: each process generated its own two images
    for rank in (1, 2):
        assert f"[process {rank}/2] 8 images planned, 8 to generate; this process takes 4" in result.stderr
    assert result.stderr.count("generated text-only-sd21-base/") == 8
    one, two = load_results(single), load_results(sharded)
    assert two["run"] == {"jobs": 8, "generated": 8, "reused": 0, "processes": 2}
    assert len(one["per_image"]) == len(two["per_image"])
    columns = [c for c in fields(one["columns"]) if c not in ("seconds",)]
    for a, b in zip(one["per_image"], two["per_image"]):
        assert {k: a[k] for k in columns} == {k: b[k] for k in columns}
        if a["recipe"] == RECIPE:
            pixels = [np.asarray(Image.open(folder / row["image"])) for folder, row in ((single, a), (sharded, b))]
            assert np.array_equal(*pixels)
            trace = json.loads((sharded / os.path.dirname(b["image"]) / "trace.json").read_text())
            assert trace["eval"]["job"] == os.path.dirname(b["image"]).removeprefix("images/")
    for name in ("results.csv", "results.md", "fidelity_vs_text.png", "report.html"):
        assert (sharded / name).is_file()


def test_a_recipe_name_with_a_slash_is_its_label_and_only_its_folder_is_sanitised(bench_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code, stdout, err = run_cli(["eval", "toy/text-only", RECIPE, *FAST, "--data", bench_dir, "--out", str(out),
                                 "--limit", "1"], capsys)
    assert code == 0, err
    assert (out / "images" / "toy_text-only" / "red_disc" / "p00-s0" / "image.png").is_file()
    data = load_results(out)
    assert [r["recipe"] for r in data["per_recipe"]] == ["toy/text-only", RECIPE, "real-images"]
    assert {r["recipe"] for r in data["per_image"]} == {"toy/text-only", RECIPE, "real-images"}
    assert (data["paired"][0]["recipe"], data["paired"][0]["versus"]) == ("toy/text-only", RECIPE)
    csv_text = (out / "results.csv").read_text()
    report = (out / "report.html").read_text()
    for text in (stdout, (out / "results.md").read_text(), report):
        assert "| toy/text-only |" in text or "<td>toy/text-only</td>" in text
        assert "toy_text-only |" not in text and "<td>toy_text-only" not in text
    assert ",toy/text-only," in csv_text and "<th>prompt</th><th>toy/text-only</th>" in report

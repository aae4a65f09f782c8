"""One run per --out: a second `eval`, `train` or `generate` into a folder in use exits 2 at once, naming the first."""

import json
import os
import subprocess
import sys
import time

import pytest

from ezigen.errors import OutputError
from ezigen.locking import LOCK_FILE, output_lock
from tests.conftest import run_cli
from tests.training_data import write_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
HOLD = ("import sys, time\nfrom ezigen.locking import output_lock\n"
        "with output_lock(sys.argv[1], command='ezigen eval first-run --out X'):\n"
        "    print('locked', flush=True)\n    time.sleep(60)\n")


@pytest.fixture
def holder(tmp_path):
    """A separate process holding tmp_path/out's lock (as a first run would)."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                               env=ENV)
    assert process.stdout.readline().strip() == "locked"
    yield out, process
    process.kill()
    process.wait()


@pytest.mark.parametrize("args", [
    ["eval", "text-only-sd21-base", "--tiny", "--data", "no-such-bench", "--limit", "1"],
    ["train", "ezigen-sd21-base", "--tiny", "--data", "no-such-data"],
    ["generate", "text-only-sd21-base", "--tiny", "--prompt", "a dog"],
])
def test_a_second_run_into_a_folder_in_use_exits_2_naming_the_first(holder, capsys, args):
    out, process = holder
    started = time.perf_counter()
    code, stdout, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 2, err
    assert time.perf_counter() - started < 20  # at once: before any model is built
    assert "is in use by another ezigen run" in err and f"pid {process.pid}" in err
    assert "ezigen eval first-run --out X" in err and "Traceback" not in err
    assert process.poll() is None  # the first run goes on, its lock untouched
    assert os.listdir(out) == [LOCK_FILE]


def test_the_lock_is_released_at_the_end_and_a_failed_run_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "fresh"
    code, _, err = run_cli(["train", "ezigen-sd21-base", "--tiny", "--data", str(tmp_path / "missing"),
                            "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err
    assert not out.exists()  # created for the lock only, removed with it
    kept = tmp_path / "kept"
    kept.mkdir()
    with output_lock(str(kept)) as path:
        assert json.loads(open(path).read())["pid"] == os.getpid()
        with pytest.raises(OutputError, match="in use by another ezigen run"):
            with output_lock(str(kept)):
                pass
    assert kept.is_dir() and os.listdir(kept) == []
    with output_lock(str(kept)):  # free again
        pass


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        with output_lock(str(tmp_path / "file")):
            pass


def test_only_rank_0_of_a_launched_run_takes_the_lock(tmp_path, monkeypatch):
    with output_lock(str(tmp_path)):
        monkeypatch.setenv("RANK", "1")
        with output_lock(str(tmp_path)) as path:  # a sibling process of the same run
            assert path is None


def test_two_real_training_runs_into_one_folder(tmp_path, capsys):
    data = tmp_path / "data"
    write_dataset(str(data), count=4)
    out = tmp_path / "run"
    args = ["train", "ezigen-sd21-base", "--tiny", "--no-progress", "--data", str(data), "--out", str(out),
            "--set", "training.max_steps=6", "--set", "training.batch_size=1", "--set", "training.log_every=1"]
    first = subprocess.Popen([sys.executable, "-m", "ezigen.cli.main", *args, "--set", "training.lr=5e-4"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=ENV)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None and not (
            (out / LOCK_FILE).exists() and (out / LOCK_FILE).stat().st_size):
        time.sleep(0.02)
    code, _, err = run_cli([*args, "--set", "training.lr=1e-4"], capsys)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-2000:]
    assert code == 2 and f"pid {first.pid}" in err and "Traceback" not in err
    recipe = (out / "recipe.yaml").read_text()
    assert "lr: 0.0005" in recipe  # the survivor's recipe is the one its weights were trained with
    assert [m["step"] for m in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3, 4, 5, 6]
    assert not (out / LOCK_FILE).exists()

"""`train --resume` survives a damaged latest checkpoint: it verifies the checksums written at save
time, says what it skipped, falls back to the newest complete checkpoint and ends with the same
weights as a straight run."""

import json
import os
import shutil

import pytest
from safetensors.torch import load_file

import ezigen
from ezigen.errors import EzigenError
from ezigen.training import checkpoints
from ezigen.training.loop import train
from tests.test_evaluation_support import one_torch_thread
from tests.test_training import COMMON, assert_same_weights
from tests.training_data import write_dataset


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread (before the module's runs are trained): spinning OpenMP threads on a shared
    2-core machine made this module 10x slower."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_dataset(str(folder), count=12)
    return str(folder)


def run_train(data, out, max_steps, resume=False):
    lines = []
    loaded = ezigen.load_recipe("ezigen-sd21-base", [*COMMON, f"training.max_steps={max_steps}"], tiny=True)
    summary = train(loaded, data, str(out), resume=resume, device="cpu", log=lines.append, progress=False)
    return summary, lines


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory):
    """A straight 15-step run, and a 10-step run (checkpoints at 5 and 10) to damage and resume."""
    root = tmp_path_factory.mktemp("runs")
    straight, _ = run_train(dataset, root / "straight", 15)
    run_train(dataset, root / "partial", 10)
    return load_file(straight["output"]), root / "partial"


def _largest(folder):
    files = [os.path.join(r, n) for r, _d, names in os.walk(folder) for n in names]
    return max(files, key=os.path.getsize)


def damage(folder, how):
    accelerate = folder / "accelerate"
    if how == "truncate":
        path = _largest(accelerate)
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
    elif how == "delete":
        os.unlink(_largest(accelerate))
    elif how == "garbage":
        path = _largest(accelerate)
        with open(path, "r+b") as fh:
            fh.seek(os.path.getsize(path) // 2)
            fh.write(os.urandom(64))  # same size, other bytes: only the checksum can tell
    elif how == "garbage-state":
        (folder / "state.json").write_bytes(os.urandom(100))
    elif how == "delete-adapter":
        os.unlink(folder / "adapter.safetensors")


@pytest.mark.parametrize("how", ["truncate", "delete", "garbage", "garbage-state", "delete-adapter"])
def test_resume_after_damage_falls_back_and_equals_a_straight_run(dataset, runs, tmp_path, how):
    straight, partial = runs
    out = tmp_path / "run"
    shutil.copytree(partial, out)
    damage(out / "checkpoints" / "step-000010", how)
    summary, lines = run_train(dataset, out, 15, resume=True)
    assert summary["steps"] == 15
    text = "\n".join(lines)
    assert "checkpoint" in text and "step-000010 is damaged" in text
    assert "resumed from" in text and "step-000005 (step 5), the newest complete checkpoint" in text
    assert_same_weights(straight, load_file(summary["output"]))
    names = sorted(os.listdir(out / "checkpoints"))
    assert "damaged-step-000010" in names and "step-000015" in names  # kept for inspection, never loaded again
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 16))


def _fake_checkpoint(run, step, payload=b"weights"):
    tmp = checkpoints.begin(str(run), step)
    os.makedirs(os.path.join(tmp, "accelerate"))
    with open(os.path.join(tmp, "accelerate", "model.safetensors"), "wb") as fh:
        fh.write(payload)
    return checkpoints.commit(str(run), tmp, step, {"step": step, "micro_batch": step, "counters": {}}, keep=5)


def test_checksums_are_written_at_save_and_verified(tmp_path):
    folder = _fake_checkpoint(tmp_path, 3)
    state = json.loads(open(os.path.join(folder, "state.json")).read())
    assert set(state["files"]) == {"accelerate/model.safetensors"}
    assert checkpoints.verify(folder) == (state, None)
    with open(os.path.join(folder, "accelerate", "model.safetensors"), "r+b") as fh:
        fh.write(b"W")
    assert checkpoints.verify(folder) == (None, "accelerate/model.safetensors does not match its checksum")


def test_when_every_checkpoint_is_damaged_training_starts_again_and_says_so(tmp_path):
    for step in (1, 2):
        folder = _fake_checkpoint(tmp_path, step)
        os.unlink(os.path.join(folder, "accelerate", "model.safetensors"))
    lines = []
    state, damaged = checkpoints.resume(str(tmp_path), lambda folder: None, lines.append)
    assert state is None and len(damaged) == 2
    assert "no complete checkpoint is left: training starts again from step 0" in lines


def test_a_checkpoint_that_verifies_but_does_not_load_is_an_error_not_a_fallback(tmp_path):
    _fake_checkpoint(tmp_path, 1)
    _fake_checkpoint(tmp_path, 2)

    def mismatched(folder):
        raise RuntimeError("size mismatch for adapter.to_q.weight")

    with pytest.raises(EzigenError, match="step-000002 is complete .* does not load into this run: RuntimeError"):
        checkpoints.resume(str(tmp_path), mismatched, lambda _: None)


def test_a_resume_that_fails_leaves_the_shared_backbone_clean(dataset, runs, tmp_path, monkeypatch):
    _, partial = runs
    out = tmp_path / "run"
    shutil.copytree(partial, out)

    def refuse(run, load, log):
        raise EzigenError("does not load into this run")

    monkeypatch.setattr(checkpoints, "resume", refuse)
    with pytest.raises(EzigenError):
        run_train(dataset, out, 15, resume=True)
    monkeypatch.undo()
    summary, _ = run_train(dataset, out, 11, resume=True)  # the same process trains again: no adapter left attached
    assert summary["steps"] == 11

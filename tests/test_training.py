"""Training: the loss falls, resume is exact, kill -9 then --resume completes, 2 processes, bad data, NaN."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import ezigen
from ezigen.errors import DataError
from ezigen.training.config import DropoutComparison
from ezigen.training.loop import TrainingError, read_metrics, train
from tests.training_data import write_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ["training.batch_size=2", "training.lr=1e-3", "training.checkpoint_every=5", "training.log_every=1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_dataset(str(folder), count=12)
    return str(folder)


def run_train(recipe, data, out, *overrides, resume=False, skip_bad=False):
    loaded = ezigen.load_recipe(recipe, [*COMMON, *overrides], tiny=True)
    return train(loaded, data, str(out), resume=resume, skip_bad=skip_bad, device="cpu", log=lambda m: None,
                 progress=False)


def weights(path):
    return load_file(str(path))


def assert_same_weights(a, b, atol=1e-6):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=atol), key


def test_loss_falls_and_only_the_fusion_changes(dataset, tmp_path):
    from ezigen.plugins import components
    from tests.conftest import build

    components()  # registries built before hashing

    system = build("ablations/ezigen-sd21-single-pass")
    before = {k: v.clone() for k, v in system.backbone.unet.state_dict().items()}
    summary = run_train("ablations/ezigen-sd21-single-pass", dataset, tmp_path / "run", "training.max_steps=120",
                        "training.checkpoint_every=120")
    losses = [m["loss"] for m in read_metrics(str(tmp_path / "run"))]
    assert len(losses) == 120
    first, last = sum(losses[:25]) / 25, sum(losses[-25:]) / 25
    assert last < first - 0.1, (first, last)
    after = system.backbone.unet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the frozen UNet is untouched
    trained = weights(summary["output"])
    untrained = system.fusion.weights_state()
    assert any(not torch.equal(trained[k], untrained[k]) for k in trained)


@pytest.mark.smoke
def test_resume_gives_the_same_adapter_as_training_straight(dataset, tmp_path):
    straight = run_train("ezigen-sd21-base", dataset, tmp_path / "a", "training.max_steps=20")
    run_train("ezigen-sd21-base", dataset, tmp_path / "b", "training.max_steps=10")
    resumed = run_train("ezigen-sd21-base", dataset, tmp_path / "b", "training.max_steps=20", resume=True)
    assert resumed["steps"] == 20
    assert_same_weights(weights(straight["output"]), weights(resumed["output"]))
    steps = [m["step"] for m in read_metrics(str(tmp_path / "b"))]
    assert steps == list(range(1, 21))  # the log continues without gaps or repeats
    names = sorted(os.listdir(tmp_path / "b" / "checkpoints"))
    assert names == ["step-000010", "step-000015", "step-000020"]  # the last 3 kept
    contents = sorted(os.listdir(tmp_path / "b" / "checkpoints" / "step-000020"))
    assert contents == ["accelerate", "adapter.safetensors", "state.json"]


def test_two_workers_give_the_adapter_of_none_and_resume_exactly(dataset, tmp_path):
    inline = run_train("ezigen-sd21-base", dataset, tmp_path / "w0", "training.max_steps=10")
    workers = run_train("ezigen-sd21-base", dataset, tmp_path / "w2", "training.max_steps=10", "training.num_workers=2")
    assert_same_weights(weights(inline["output"]), weights(workers["output"]), atol=0)
    run_train("ezigen-sd21-base", dataset, tmp_path / "r2", "training.max_steps=5", "training.num_workers=2")
    resumed = run_train("ezigen-sd21-base", dataset, tmp_path / "r2", "training.max_steps=10", "training.num_workers=2",
                        "training.prefetch_factor=3", resume=True)
    assert resumed["steps"] == 10 and resumed["samples_seen"] == inline["samples_seen"]
    assert_same_weights(weights(inline["output"]), weights(resumed["output"]), atol=0)


def test_the_loader_starts_at_the_resumed_micro_batch_and_workers_change_nothing(dataset):
    from ezigen.data.manifest import read_manifest
    from ezigen.training.dataset import MicroBatchDataset, micro_batch_loader

    samples, _ = read_manifest(dataset)
    data = MicroBatchDataset(samples, seed=5, batch=3, world=1, rank=0, resolution=32)
    torch.manual_seed(0)
    inline = list(micro_batch_loader(data, 3, 7, num_workers=0, pin_memory=True, prefetch_factor=2))
    torch.manual_seed(1)  # the global stream differs: nothing loaded may depend on it
    workers = list(micro_batch_loader(data, 3, 7, num_workers=2, pin_memory=True, prefetch_factor=2))
    assert [b.index for b in inline] == [b.index for b in workers] == [3, 4, 5, 6]
    for a, b in zip(inline, workers):
        assert [i.sample for i in a.items] == [i.sample for i in b.items] and a.pixels.shape == (3, 3, 32, 32)
        assert torch.equal(a.pixels, b.pixels) and torch.equal(a.pixels, data[a.index].pixels)


def test_a_bad_sample_decoded_in_a_worker_stops_the_run_with_its_file(dataset, tmp_path):
    import shutil

    corrupt = tmp_path / "corrupt"
    shutil.copytree(dataset, corrupt)
    (corrupt / "images" / "target-003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=r"manifest line 4: target image .*target-003.png.*--skip-bad"):
        run_train("ezigen-sd21-base", str(corrupt), tmp_path / "stop", "training.max_steps=12", "training.num_workers=2")
    summary = run_train("ezigen-sd21-base", str(corrupt), tmp_path / "skip", "training.max_steps=12",
                        "training.num_workers=2", skip_bad=True)
    assert summary["steps"] == 12 and summary["skipped_samples"] >= 1


def test_a_run_folder_is_not_overwritten_without_resume(dataset, tmp_path):
    run_train("ezigen-sd21-base", dataset, tmp_path / "r", "training.max_steps=5")
    with pytest.raises(TrainingError, match="already holds a training run; use --resume"):
        run_train("ezigen-sd21-base", dataset, tmp_path / "r", "training.max_steps=5")


def cli_train(out, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return [sys.executable, "-m", "ezigen.cli.main", "train", "ezigen-sd21-base", "--tiny", "--no-progress",
            "--out", str(out), *[a for o in COMMON for a in ("--set", o)], *extra], env


def test_sigkill_at_any_moment_then_resume_completes(dataset, tmp_path):
    # the reference runs the same way (a process with one thread: float sums depend on the thread count)
    args, env = cli_train(tmp_path / "straight", "--data", dataset, "--set", "training.max_steps=20")
    assert subprocess.run(args, env=env, capture_output=True, cwd=REPO).returncode == 0
    out = tmp_path / "killed"
    args, env = cli_train(out, "--data", dataset, "--set", "training.max_steps=20", "--set", "training.checkpoint_every=3")
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "checkpoints" / "step-000006").exists():
        time.sleep(0.05)
    time.sleep(0.13)  # somewhere in the middle of further steps or a checkpoint write
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "adapter.safetensors").exists()
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == 20
    assert not [n for n in os.listdir(out / "checkpoints") if n.startswith(".tmp-")]
    # checkpoint_every differs (3 vs 5) but it only decides when state is written: the result is the same
    assert_same_weights(weights(tmp_path / "straight" / "adapter.safetensors"), weights(out / "adapter.safetensors"))


def test_two_cpu_processes(dataset, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # `accelerate launch --multi_gpu` starts the processes with torch's launcher; without a GPU they run on the
    # CPU with gloo (`--cpu` alone would expect MPI)
    args = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
            "-m", "ezigen.cli.main", "train", "ezigen-sd21-base",
            "--tiny", "--no-progress", "--data", dataset, "--out", str(out), "--set", "training.max_steps=4",
            "--set", "training.batch_size=2"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=REPO, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 2  # one per process
    assert all(s["processes"] == 2 and s["replicas_in_sync"] for s in summaries)
    assert summaries[0]["samples_seen"] == 4 * 2 * 2  # steps x batch x processes
    assert (out / "adapter.safetensors").exists()


def test_disjoint_data_slices_per_process():
    from ezigen.training.dataset import batch_indices

    for micro_batch in range(6):
        a = batch_indices(20, 7, micro_batch, 3, 2, 0)
        b = batch_indices(20, 7, micro_batch, 3, 2, 1)
        assert not set(a) & set(b)
    epoch = [i for c in range(3) for r in range(2) for i in batch_indices(20, 7, c, 3, 2, r)]
    assert len(set(epoch)) == 18  # an epoch visits distinct samples (the incomplete tail is dropped)


def test_subject_dropout_probabilities():
    from ezigen.training.step import dropped

    generator = torch.Generator().manual_seed(0)
    intended = dropped(20000, 0.2, DropoutComparison.INTENDED, generator).float().mean().item()
    released = dropped(20000, 0.2, DropoutComparison.RELEASED, generator).float().mean().item()
    assert abs(intended - 0.2) < 0.02 and abs(released - 0.8) < 0.02


def test_bad_samples_stop_with_file_and_line_or_are_skipped(dataset, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    lines = (data / "manifest.jsonl").read_text().splitlines()
    (data / "images" / "target-003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    lines[5] = '{"subjects": ["images/missing.png"], "subject_prompts": ["x"], "target": "images/target-005.png", "caption": "c"}'
    (data / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"manifest.jsonl:6: file 'images/missing.png' does not exist"):
        run_train("ezigen-sd21-base", str(data), tmp_path / "stop", "training.max_steps=3")
    lines[5] = "{not json"
    (data / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"manifest.jsonl:6: not valid JSON"):
        run_train("ezigen-sd21-base", str(data), tmp_path / "stop2", "training.max_steps=3")
    summary = run_train("ezigen-sd21-base", str(data), tmp_path / "skip", "training.max_steps=12", skip_bad=True)
    assert summary["steps"] == 12 and summary["skipped_samples"] >= 2  # the bad line + the corrupt image (seen)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(dataset, corrupt)
    (corrupt / "images" / "target-003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=r"manifest line 4: target image .*target-003.png.*--skip-bad"):
        run_train("ezigen-sd21-base", str(corrupt), tmp_path / "stop3", "training.max_steps=12")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(dataset, tmp_path, monkeypatch):
    import ezigen.training.step as step_module

    real = step_module.training_loss
    calls = {"n": 0}

    def sometimes_nan(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 8 else loss

    monkeypatch.setattr(step_module, "training_loss", sometimes_nan)
    with pytest.raises(TrainingError, match=r"the loss became \[nan\] at step 8.*step-000005"):
        run_train("ezigen-sd21-base", dataset, tmp_path / "nan", "training.max_steps=20")
    assert sorted(os.listdir(tmp_path / "nan" / "checkpoints")) == ["step-000005"]
    assert not (tmp_path / "nan" / "adapter.safetensors").exists()


def test_trained_adapter_is_used_by_generate_and_validation_images(dataset, tmp_path, subject_path):
    from tests.conftest import build

    summary = run_train("ablations/ezigen-sd21-single-pass", dataset, tmp_path / "v", "training.max_steps=6",
                        "training.validate_every=3", "sampling.steps=4")
    assert sorted(os.listdir(tmp_path / "v" / "validation")) == ["step-000003", "step-000006"]
    assert os.listdir(tmp_path / "v" / "validation" / "step-000003") == ["00.png"]
    trained = build("ablations/ezigen-sd21-single-pass", f"fusion.weights={summary['output']}", "sampling.steps=4")
    untrained = build("ablations/ezigen-sd21-single-pass", "sampling.steps=4")
    a = trained.generate("a disc", subject=subject_path, subject_prompt="a disc", seed=0).latents
    b = untrained.generate("a disc", subject=subject_path, subject_prompt="a disc", seed=0).latents
    assert not torch.equal(a, b)
    assert torch.equal(trained.fusion.learnable_weights, weights(summary["output"])["learnable_weights"])


def test_baseline_fusions_train_their_own_parameters(dataset, tmp_path):
    summary = run_train("baselines/clip-ipadapter-sd21-base", dataset, tmp_path / "ip", "training.max_steps=4")
    keys = set(weights(summary["output"]))
    assert any(k.startswith("image_proj.") for k in keys) and "ip_adapter.1.to_k_ip.weight" in keys
    summary = run_train("ablations/ezigen-clip-encoder-sd21-base", dataset, tmp_path / "tok", "training.max_steps=3")
    assert any(k.startswith("token_projections.") for k in weights(summary["output"]))
    with pytest.raises(TrainingError, match="no trainable fusion"):
        run_train("baselines/reference-sd21-base", dataset, tmp_path / "ref", "training.max_steps=2")


def test_padding_mask_changes_the_loss(dataset, tmp_path):
    plain = run_train("ezigen-sd21-base", dataset, tmp_path / "p", "training.max_steps=2")
    masked = run_train("ezigen-sd21-base", dataset, tmp_path / "m", "training.max_steps=2", "training.mask_padding=true")
    assert plain["loss"] != masked["loss"]

"""`ezigen weights convert` never damages its destination; non-finite weights are refused by name."""

import os
import socket
import stat

import pytest
import torch
from safetensors.torch import load_file, save_file

from ezigen.builtins.fusions.adapter_attention import AdapterAttentionConfig
from ezigen.builtins.fusions.adapter_attention.model import AdapterAttentionModel
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def adapter_checkpoint(ezigen_backbone_sd21, tmp_path_factory):
    """An adapter-only checkpoint (the released key names) that converts in well under a second."""
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), ezigen_backbone_sd21)
    state = {k: v.detach().clone() + 0.1 for k, v in fusion.weights_state().items()}
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    save_file(state, str(path))
    return str(path), state


def convert(capsys, src, dst, *extra):
    return run_cli(["weights", "convert", "--from", "ezigen-official", "--backbone", "tiny:sd21", *extra,
                    str(src), str(dst)], capsys)


def test_convert_writes_a_new_file_and_leaves_no_temporary(adapter_checkpoint, tmp_path, capsys):
    src, state = adapter_checkpoint
    dst = tmp_path / "new" / "ezigen.safetensors"
    code, out, err = convert(capsys, src, dst)
    assert code == 0, err
    written = load_file(str(dst))
    assert all(torch.equal(written[k], state[k]) for k in state)
    assert os.listdir(dst.parent) == ["ezigen.safetensors"]


def test_an_existing_file_is_replaced_only_with_overwrite(adapter_checkpoint, tmp_path, capsys):
    src, _ = adapter_checkpoint
    dst = tmp_path / "old.safetensors"
    dst.write_bytes(b"previous result")
    code, _, err = convert(capsys, src, dst)
    assert code == 2
    assert "already exists; pass --overwrite" in err and "Traceback" not in err
    assert dst.read_bytes() == b"previous result"
    code, _, err = convert(capsys, src, dst, "--overwrite")
    assert code == 0, err
    assert "learnable_weights" in load_file(str(dst))
    assert sorted(os.listdir(tmp_path)) == ["old.safetensors"]


def _special(tmp_path, kind):
    path = tmp_path / f"dst-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        target = tmp_path / "target.safetensors"
        target.write_bytes(b"kept")
        os.symlink(target, path)
    elif kind == "dangling-symlink":
        os.symlink(tmp_path / "nowhere", path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    return path


@pytest.mark.parametrize("kind", ["fifo", "symlink", "dangling-symlink", "folder", "socket"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_non_regular_destination_is_refused_and_left_as_it_was(adapter_checkpoint, tmp_path, capsys, kind,
                                                                   overwrite):
    src, _ = adapter_checkpoint
    dst = _special(tmp_path, kind)
    before = os.lstat(dst)
    code, out, err = convert(capsys, src, dst, *(["--overwrite"] if overwrite else []))
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err
    assert repr(str(dst)) in err and "refusing to write over it" in err
    after = os.lstat(dst)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    if kind == "symlink":
        assert (tmp_path / "target.safetensors").read_bytes() == b"kept"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_a_device_node_is_refused(adapter_checkpoint, capsys):
    src, _ = adapter_checkpoint
    before = os.lstat("/dev/null")
    code, _, err = convert(capsys, src, "/dev/null", "--overwrite")
    assert code == 2 and "is a character device" in err
    assert os.lstat("/dev/null").st_ino == before.st_ino and stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_destination_that_appears_during_the_work_is_not_clobbered(tmp_path, monkeypatch):
    from ezigen.destinations import write_destination
    from ezigen.errors import OutputError

    dst = tmp_path / "out.bin"
    with pytest.raises(OutputError, match="already exists|appeared while"):
        with write_destination(str(dst), overwrite=False) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"new")
            dst.write_bytes(b"someone else's")
    assert dst.read_bytes() == b"someone else's"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_on_load_naming_the_key(ezigen_backbone_sd21, adapter_checkpoint, tmp_path,
                                                                bad):
    from ezigen.errors import WeightsError

    _, state = adapter_checkpoint
    key = sorted(state)[3]
    damaged = {k: v.clone() for k, v in state.items()}
    damaged[key].view(-1)[0] = bad
    path = tmp_path / "adapter.safetensors"
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), ezigen_backbone_sd21)
    fusion.load_weights_state(damaged)
    fusion.save_weights(str(path))
    fresh = AdapterAttentionModel(AdapterAttentionConfig(), ezigen_backbone_sd21)
    untouched = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(WeightsError) as info:
        fresh.load_weights(str(path))
    assert key in str(info.value) and ("NaN" if bad != bad else "Inf") in str(info.value)
    assert all(torch.equal(untouched[k], v) for k, v in fresh.state_dict().items())  # nothing half-loaded


def test_generate_with_nan_weights_exits_2_instead_of_a_black_image(adapter_checkpoint, tmp_path, capsys,
                                                                     ezigen_backbone_sd21, subject_path):
    _, state = adapter_checkpoint
    fusion = AdapterAttentionModel(AdapterAttentionConfig(), ezigen_backbone_sd21)
    damaged = {k: v.clone() for k, v in state.items()}
    damaged["learnable_weights"][0] = float("nan")
    fusion.load_weights_state(damaged)
    fusion.save_weights(str(tmp_path / "nan.safetensors"))
    code, _, err = run_cli(["generate", "ablations/ezigen-sd21-single-pass", "--tiny", "--prompt", "a disc",
                            "--subject", subject_path, "--set", f"fusion.weights={tmp_path / 'nan.safetensors'}",
                            "--set", "sampling.steps=2", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "learnable_weights (1 NaN of" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "image.png").exists()


def test_non_finite_checkpoint_is_refused_by_convert_and_nothing_is_written(adapter_checkpoint, tmp_path, capsys):
    _, state = adapter_checkpoint
    damaged = {k: v.clone() for k, v in state.items()}
    damaged["learnable_weights"][2] = float("nan")
    src = tmp_path / "model.safetensors"
    save_file(damaged, str(src))
    code, _, err = convert(capsys, src, tmp_path / "out.safetensors")
    assert code == 2 and "learnable_weights (1 NaN of" in err and "Traceback" not in err
    assert not (tmp_path / "out.safetensors").exists()


def test_a_bin_checkpoint_with_non_tensor_values_or_integer_keys_is_one_message(adapter_checkpoint, tmp_path, capsys):
    _, state = adapter_checkpoint
    src = tmp_path / "pytorch_model.bin"
    torch.save({**state, 7: torch.zeros(1), "step": 100}, str(src))
    code, _, err = convert(capsys, src, tmp_path / "out.safetensors")
    assert code == 2 and "Traceback" not in err
    assert "keys that are not strings (1): 7" in err and "values that are not tensors (1): step (int)" in err


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount; skipped elsewhere): a real ENOSPC, not a simulated one."""
    import subprocess

    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_is_one_message_and_leaves_the_old_file(adapter_checkpoint, full_disk, capsys):
    src, _ = adapter_checkpoint
    dst = full_disk / "ezigen.safetensors"
    dst.write_bytes(b"previous result")
    code, _, err = convert(capsys, src, dst, "--overwrite")
    assert code == 2 and "Traceback" not in err
    assert repr(str(dst)) in err and "No space left on device" in err
    assert dst.read_bytes() == b"previous result"
    assert os.listdir(full_disk) == ["ezigen.safetensors"]


@pytest.mark.parametrize("dtype", [torch.bool, torch.int8])
def test_integer_or_bool_tensors_for_float_weights_are_refused_not_cast(ezigen_backbone_sd21, adapter_checkpoint,
                                                                         tmp_path, dtype):
    from ezigen.errors import WeightsError

    _, state = adapter_checkpoint
    state = {**state, "learnable_weights": torch.ones_like(state["learnable_weights"], dtype=dtype)}
    path = tmp_path / "cast.safetensors"
    save_file(state, str(path))
    with pytest.raises(WeightsError, match=rf"learnable_weights \({dtype} in the file, torch.float32 in the model\)"):
        AdapterAttentionModel(AdapterAttentionConfig(), ezigen_backbone_sd21).load_weights(str(path))

"""Errors of the environment (full disk, read-only file system) are one message and exit 2, not a traceback."""

import os
import subprocess

import pytest

from tests.conftest import run_cli


def small_tmpfs(folder, *options):
    """Mount a tmpfs of one page on ``folder`` (needs root and mount; the test is skipped elsewhere)."""
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["size=4k", *options]), "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("mounting a small tmpfs needs root")
    return folder


@pytest.fixture
def full_disk(tmp_path):
    yield small_tmpfs(tmp_path / "full")
    subprocess.run(["umount", str(tmp_path / "full")], check=False)


def test_generate_on_a_full_disk_exits_2_with_one_message(full_disk, capsys):
    out = full_disk / "out"
    code, _, err = run_cli(["generate", "text-only-sd21-base", "--tiny", "--prompt", "a dog", "--set",
                            "sampling.steps=2", "--out", str(out)], capsys)
    assert code == 2, err
    assert err == f"error: --out {str(out)!r} cannot be written: No space left on device\n"  # write() names no file
    assert not (out / "image.png").exists()


def test_eval_and_data_coco_on_a_full_disk_name_their_out(full_disk, bench_dir, tmp_path, capsys):
    from tests.test_reliability_data import instances

    out = full_disk / "eval"
    code, _, err = run_cli(["eval", "text-only-sd21-base", "--tiny", "--set", "sampling.steps=1", "--data", bench_dir,
                            "--out", str(out), "--limit", "1"], capsys)
    assert code == 2 and f"--out {str(out)!r} cannot be written: No space left on device" in err, err
    root = coco_folder(tmp_path, instances())
    out = full_disk / "coco"
    code, _, err = run_cli(["data", "coco", "--images", str(root / "img"), "--instances", str(root / "inst.json"),
                            "--captions", str(root / "caps.json"), "--out", str(out), "--resolution", "16",
                            "--min-area", "1"], capsys)
    assert code == 2 and f"--out {str(out)!r} cannot be written: No space left on device" in err, err
    assert not (out / "manifest.jsonl").exists()


def coco_folder(tmp_path, data):
    import json

    from PIL import Image

    root = tmp_path / "coco"
    (root / "img").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (64, 48), (30, 180, 30)).save(root / "img" / name)
    (root / "inst.json").write_text(json.dumps(data))
    (root / "caps.json").write_text(json.dumps({"annotations": [{"id": 1, "image_id": 1, "caption": "a dog"},
                                                                {"id": 2, "image_id": 2, "caption": "a dog"}]}))
    return root


def test_a_folder_where_the_manifest_goes_is_one_message_naming_it(tmp_path, capsys):
    from tests.test_reliability_data import instances

    root = coco_folder(tmp_path, instances())
    out = tmp_path / "out"
    (out / "manifest.jsonl").mkdir(parents=True)
    code, _, err = run_cli(["data", "coco", "--images", str(root / "img"), "--instances", str(root / "inst.json"),
                            "--captions", str(root / "caps.json"), "--out", str(out), "--resolution", "16",
                            "--min-area", "1"], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"--out {str(out)!r} cannot be written: Is a directory ({out / 'manifest.jsonl'})" in err, err


def test_permission_denied_while_writing_names_out(tmp_path, capsys, monkeypatch):
    """As root a chmod does not forbid anything, so the EACCES of a write is simulated."""
    import errno

    from ezigen import outputs

    def denied(path, text):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(outputs, "write_text_atomic", denied)
    out = tmp_path / "out"
    code, _, err = run_cli(["generate", "text-only-sd21-base", "--tiny", "--prompt", "a", "--set", "sampling.steps=1",
                            "--out", str(out)], capsys)
    assert err == f"error: --out {str(out)!r} cannot be written: Permission denied\n" and code == 2
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]


def test_a_published_folder_follows_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        code, _, err = run_cli(["generate", "text-only-sd21-base", "--tiny", "--prompt", "a", "--set",
                                "sampling.steps=1", "--out", str(tmp_path / "out")], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750  # not mkdtemp's 0700
    assert (tmp_path / "out" / "image.png").stat().st_mode & 0o777 == 0o640


@pytest.fixture
def read_only(tmp_path):
    yield small_tmpfs(tmp_path / "ro", "ro")
    subprocess.run(["umount", str(tmp_path / "ro")], check=False)


def test_convert_into_a_read_only_folder_names_the_destination(read_only, tmp_path, capsys):
    code, _, err = run_cli(["weights", "convert", "--from", "ezigen-official", "--backbone", "tiny:sd21",
                            str(tmp_path / "missing"), str(read_only / "x.safetensors")], capsys)
    assert code == 2 and "Traceback" not in err
    assert repr(str(read_only / "x.safetensors")) in err and "Read-only file system" in err


def test_ctrl_c_during_generate_exits_130_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    from ezigen import outputs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as a Ctrl-C in the write window

    monkeypatch.setattr(outputs, "save_image_atomic", interrupted)
    out = tmp_path / "out"
    code, _, err = run_cli(["generate", "text-only-sd21-base", "--tiny", "--prompt", "a", "--set", "sampling.steps=1",
                            "--out", str(out)], capsys)
    assert code == 130 and err.strip().endswith("interrupted") and "Traceback" not in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []

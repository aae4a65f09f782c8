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
    assert err == "error: No space left on device\n"  # write() errors carry no path; open() errors do
    assert not (out / "image.png").exists()


@pytest.fixture
def read_only(tmp_path):
    yield small_tmpfs(tmp_path / "ro", "ro")
    subprocess.run(["umount", str(tmp_path / "ro")], check=False)


def test_convert_into_a_read_only_folder_names_the_destination(read_only, tmp_path, capsys):
    code, _, err = run_cli(["weights", "convert", "--from", "ezigen-official", "--backbone", "tiny:sd21",
                            str(tmp_path / "missing"), str(read_only / "x.safetensors")], capsys)
    assert code == 2 and "Traceback" not in err
    assert repr(str(read_only / "x.safetensors")) in err and "Read-only file system" in err

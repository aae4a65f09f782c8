"""Atomic writes: complete or absent, the mode a plain open() gives, stray temp files cleared."""

from __future__ import annotations

import os
import stat

import pytest

from ezigen.io import atomic_path, default_file_mode, remove_stray_temp_files, write_json_atomic, write_text_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_umask(value):
        os.umask(value)

    yield set_umask
    os.umask(saved)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("value, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_files_get_the_mode_of_a_plain_open(tmp_path, umask, value, expected):
    umask(value)
    assert default_file_mode() == expected
    write_text_atomic(str(tmp_path / "a.txt"), "x")
    write_json_atomic(str(tmp_path / "b.json"), {"a": 1})
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.json") == mode(tmp_path / "plain.txt") == expected


def test_a_failed_write_leaves_neither_target_nor_temp_file(tmp_path):
    target = tmp_path / "x.png"
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []


def test_stray_temp_files_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    strays = [tmp_path / ".tmp-1.png", tmp_path / "a" / "b" / ".tmp-xyz.json"]
    keep = [tmp_path / "image.png", tmp_path / "a" / "tmp-not-ours.txt", tmp_path / "a" / "b" / ".hidden"]
    for path in strays + keep:
        path.write_text("x")
    assert remove_stray_temp_files(str(tmp_path)) == sorted(map(str, strays))
    assert all(p.exists() for p in keep) and not any(p.exists() for p in strays)

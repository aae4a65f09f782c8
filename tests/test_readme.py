"""The README's "Using it" commands run as written after the Quick start (offline: with --tiny, the
shipped subject images), except those that name the user's own data, which are listed here."""

from __future__ import annotations

import os
import re
import shlex

from tests.conftest import REPO, run_cli

NEEDS_YOUR_DATA = ("dog.jpg", "checkpoint-200000/", "train2014/", "--data data/", "../shared/data/dreambench",
                   "dreambooth/dataset",
                   "data dreambench --out")  # the download needs the network (tested offline with --url file://)


def using_it_commands() -> list[str]:
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Using it"):]
    block = re.search(r"^```bash\s*$\n(.*?)^```", section, re.M | re.S).group(1)
    joined = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip().startswith("ezigen ")]


def test_every_command_runs_or_names_the_users_data(tmp_path, capsys, monkeypatch):
    os.symlink(os.path.join(REPO, "ezigen"), tmp_path / "ezigen")  # the shipped assets, as from the repository root
    monkeypatch.chdir(tmp_path)
    commands = using_it_commands()
    assert len(commands) >= 8
    ran = 0
    for command in commands:
        if any(marker in command for marker in NEEDS_YOUR_DATA):
            continue
        code, out, err = run_cli(shlex.split(command)[1:], capsys)
        assert code == 0, f"{command}\n{err}"
        ran += 1
    assert ran >= 5
    assert (tmp_path / "out" / "disc" / "grid.png").exists()
    assert (tmp_path / "tiny-sd21" / "model_index.json").exists()

"""``ezigen data dreambench --from SRC --out DIR``: a checked copy that ``ezigen eval --data`` reads (offline)."""

from __future__ import annotations

import json
import os
import shutil

from ezigen.evaluation.dreambench import read_dreambench
from tests.test_evaluation_support import make_dreambench, run_cli


def source(tmp_path):
    src = make_dreambench(tmp_path / "dataset")
    with open(os.path.join(src, "references_and_licenses.txt"), "w") as fh:
        fh.write("red_disc/00.jpg: made by the test\n")
    os.makedirs(os.path.join(src, "not_listed"))  # folders the prompt file does not list are not copied
    open(os.path.join(src, "not_listed", "00.jpg"), "wb").write(b"x")
    return src


def test_copies_a_checked_folder_that_eval_reads(tmp_path, capsys):
    src = source(tmp_path)
    out = tmp_path / "data" / "dreambench"
    code, stdout, err = run_cli(["data", "dreambench", "--from", src, "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == str(out)
    assert "3 subjects (1 live, 2 objects), 10 images copied to" in err
    assert "note: 3 subjects and 10 images; the published DreamBench has 30 and 158" in err
    copied = read_dreambench(str(out))
    assert [s.name for s in copied.subjects] == ["red_disc", "blue_box", "dog_a"]
    assert not (out / "not_listed").exists() and (out / "references_and_licenses.txt").is_file()
    sums = json.loads((out / "checksums.json").read_text())["files"]
    assert len(sums) == 12 and "dog_a/02.jpg" in sums  # prompt file + licences + 10 images
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o777 & ~_umask())
    assert not [n for n in os.listdir(tmp_path / "data") if n.startswith(".tmp-")]
    # a rerun onto the same copy is a check; --from equal to --out checks in place
    code, _, err = run_cli(["data", "dreambench", "--from", src, "--out", str(out)], capsys)
    assert code == 0 and "images checked in" in err, err
    code, _, err = run_cli(["data", "dreambench", "--from", str(out), "--out", str(out)], capsys)
    assert code == 0 and "images checked in" in err, err


def _umask():
    value = os.umask(0o022)
    os.umask(value)
    return value


def test_bad_sources_and_outputs_are_one_message_and_status_2(tmp_path, capsys):
    src = source(tmp_path)
    cases = []
    cut = tmp_path / "cut"
    shutil.copytree(src, cut)
    (cut / "blue_box" / "01.jpg").write_bytes(b"\xff\xd8\xff garbage")
    cases.append((["--from", str(cut)], "blue_box/01.jpg"))
    gone = tmp_path / "gone"
    shutil.copytree(src, gone)
    shutil.rmtree(gone / "dog_a")
    cases.append((["--from", str(gone)], "lists subject 'dog_a'"))
    cases.append((["--from", str(tmp_path / "nowhere")], "no such folder"))
    cases.append((["--url", (tmp_path / "nowhere.zip").as_uri()], "cannot download DreamBench from file://"))
    cases.append((["--from", src, "--ref", "v1"], "with --from nothing is downloaded"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "prompts_and_classes.txt").write_text("something else")
    for args, fragment in cases:
        out = tmp_path / "out"
        code, _, err = run_cli(["data", "dreambench", *args, "--out", str(out)], capsys)
        assert code == 2 and fragment in err and "Traceback" not in err, (args, err)
        assert not out.exists()
    code, _, err = run_cli(["data", "dreambench", "--from", src, "--out", str(other)], capsys)
    assert code == 2 and "exists and differs from the source" in err
    assert (other / "prompts_and_classes.txt").read_text() == "something else"

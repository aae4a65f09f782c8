"""``ezigen data dreambench --out DIR`` without --from: download the archive, check, copy (tested
offline through ``--url file://...``, which takes the same path as the GitHub URL)."""

from __future__ import annotations

import json
import os
import zipfile

from ezigen.evaluation.dreambench_download import ARCHIVE_URL, archive_url
from tests.test_evaluation_support import make_dreambench, run_cli


def zip_folder(folder, archive, prefix):
    with zipfile.ZipFile(archive, "w") as zf:
        for current, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(current, name)
                zf.write(path, os.path.join(prefix, os.path.relpath(path, folder)))
    return archive


def test_a_downloaded_archive_gives_the_same_copy_as_from(tmp_path, capsys):
    src = make_dreambench(tmp_path / "dataset")
    archive = zip_folder(src, tmp_path / "dreambooth-main.zip", "dreambooth-main/dataset")
    with zipfile.ZipFile(archive, "a") as zf:  # the repository's other files are not copied
        zf.writestr("dreambooth-main/README.md", "the repository")
    url = archive.as_uri()
    code, stdout, err = run_cli(["data", "dreambench", "--url", url, "--out", str(tmp_path / "got")], capsys)
    assert code == 0, err
    assert stdout.strip() == str(tmp_path / "got") and f"downloading {url}" in err
    code, _, err = run_cli(["data", "dreambench", "--from", src, "--out", str(tmp_path / "copied")], capsys)
    assert code == 0, err
    got = json.loads((tmp_path / "got" / "checksums.json").read_text())
    copied = json.loads((tmp_path / "copied" / "checksums.json").read_text())
    assert got["files"] == copied["files"] and got["source"] == url
    assert not (tmp_path / "got" / "README.md").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")], "the download folder is removed"


def test_hostile_or_wrong_archives_are_one_message_and_nothing_written(tmp_path, capsys):
    src = make_dreambench(tmp_path / "dataset")
    escaping = zip_folder(src, tmp_path / "escaping.zip", "x/dataset")
    with zipfile.ZipFile(escaping, "a") as zf:
        zf.writestr("../../evil.txt", "outside")
    linked = zip_folder(src, tmp_path / "linked.zip", "x/dataset")
    with zipfile.ZipFile(linked, "a") as zf:
        info = zipfile.ZipInfo("x/dataset/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("x/README.md", "no dataset here")
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip")
    for archive, fragment in ((escaping, "points outside the folder"), (linked, "is a symbolic link"),
                              (empty, "no prompts_and_classes.txt in the archive"), (garbage, "not a zip archive")):
        out = tmp_path / "out"
        code, _, err = run_cli(["data", "dreambench", "--url", archive.as_uri(), "--out", str(out)], capsys)
        assert code == 2 and fragment in err and "Traceback" not in err, (archive, err)
        assert not out.exists() and not (tmp_path.parent / "evil.txt").exists()
        assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_the_default_url_is_the_repositorys_archive_at_the_ref():
    assert archive_url() == ARCHIVE_URL.format(ref="main") == "https://github.com/google/dreambooth/archive/main.zip"
    assert archive_url("0123abc") == "https://github.com/google/dreambooth/archive/0123abc.zip"
    assert archive_url("main", url="file:///x.zip") == "file:///x.zip"

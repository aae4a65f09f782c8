"""``ezigen data dreambench --out DIR --from SRC``: a checked copy of DreamBench for ``ezigen eval --data``.

DreamBench is the ``dataset/`` folder of the google/dreambooth repository (CC-BY 4.0): one folder
of 4-6 real images per subject, ``prompts_and_classes.txt`` (classes and both prompt lists) and
``references_and_licenses.txt`` (each image's source and licence). Nothing here touches the
network (DESIGN §7): get that folder once (a clone of the repository, or any copy of it) and
point ``--from`` at it, or let ``ezigen data dreambench --out DIR`` download it
(:mod:`ezigen.evaluation.dreambench_download`, which ends here too).

What is checked, every problem one :class:`~ezigen.errors.DataError`:

- ``prompts_and_classes.txt`` parses (the reader of ``ezigen.evaluation.dreambench``), and every
  listed subject has a folder with at least one image;
- every image decodes (a cut or renamed file is named);
- the counts are compared with the published ones (30 subjects, 158 images, 25 prompts per
  list): a difference is reported as a note, not an error (a subset is a valid benchmark folder).

What is written: DIR/prompts_and_classes.txt, DIR/<subject>/<images> for every listed subject,
the licence files present in SRC (``references_and_licenses.txt``, ``LICENSE*``, ``README*``),
and DIR/checksums.json (``{"files": {relative path: sha256}}``), all into a temporary folder
beside DIR that is renamed onto DIR when complete. An existing DIR is accepted only when it
already holds the same files (the command is then a check); ``--from`` equal to ``--out``
checks in place and writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import attrs

from ezigen.errors import DataError, OutputError
from ezigen.evaluation.dreambench import PROMPTS_FILE, DreamBench, read_dreambench

PUBLISHED = {"subjects": 30, "images": 158, "prompts": 25}
LICENCE_FILES = ("references_and_licenses.txt",)
LICENCE_PREFIXES = ("LICENSE", "README")
CHECKSUMS = "checksums.json"


@attrs.frozen
class CopyReport:
    out: str
    subjects: int
    live: int
    images: int
    notes: tuple[str, ...]
    copied: bool

    def summary(self) -> str:
        action = "copied to" if self.copied else "checked in"
        return (f"{self.subjects} subjects ({self.live} live, {self.subjects - self.live} objects), "
                f"{self.images} images {action} {self.out}")


def check_images(bench: DreamBench) -> int:
    """Decode every image of every subject; the number of images."""
    from ezigen.errors import SubjectImageError
    from ezigen.images import load_image

    count = 0
    for subject in bench.subjects:
        for path in subject.images:
            try:
                load_image(path, what="DreamBench image")
            except SubjectImageError as exc:
                raise DataError(str(exc)) from None
            count += 1
    return count


def notes_for(bench: DreamBench, images: int, source: str) -> list[str]:
    notes = []
    if len(bench.subjects) != PUBLISHED["subjects"] or images != PUBLISHED["images"]:
        notes.append(f"{len(bench.subjects)} subjects and {images} images; the published DreamBench has "
                     f"{PUBLISHED['subjects']} and {PUBLISHED['images']}")
    for name, prompts in (("object", bench.object_prompts), ("live", bench.live_prompts)):
        if len(prompts) != PUBLISHED["prompts"]:
            notes.append(f"{len(prompts)} {name} prompts; the published lists have {PUBLISHED['prompts']}")
    if not os.path.isfile(os.path.join(source, LICENCE_FILES[0])):
        notes.append(f"no {LICENCE_FILES[0]} in {source}: the images' sources and licences are not recorded")
    return notes


def files_to_copy(bench: DreamBench, source: str) -> list[str]:
    """Paths relative to ``source``: the prompt file, licence files, every listed subject's images."""
    extras = sorted(name for name in os.listdir(source) if os.path.isfile(os.path.join(source, name))
                    and (name in LICENCE_FILES or name.startswith(LICENCE_PREFIXES)))
    images = [os.path.relpath(path, bench.root) for subject in bench.subjects for path in subject.images]
    return [PROMPTS_FILE, *extras, *images]


def digest(path: str) -> str:
    from ezigen.io import file_sha256

    return file_sha256(path)


def copy_dreambench(source: str, out: str, source_label: str | None = None) -> CopyReport:
    """Check ``source`` and copy it to ``out`` (see the module docstring); ``checksums.json`` records
    ``source_label`` (a download's URL) or the source folder as ``"source"``."""
    bench = read_dreambench(source, "--from")
    images = check_images(bench)
    notes = tuple(notes_for(bench, images, source))
    live = sum(s.live for s in bench.subjects)
    if os.path.abspath(source) == os.path.abspath(out):
        return CopyReport(out, len(bench.subjects), live, images, notes, copied=False)
    relative = files_to_copy(bench, bench.root)
    sums = {path.replace(os.sep, "/"): digest(os.path.join(bench.root, path)) for path in relative}
    if os.path.exists(out):
        return _check_existing(out, sums, CopyReport(out, len(bench.subjects), live, images, notes, copied=False))
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tmp-dreambench-", dir=parent)
    except OSError as exc:
        raise OutputError(f"--out {out!r} cannot be written: {exc.strerror or exc}") from None
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; a shared benchmark copy is readable
        for path in relative:
            target = os.path.join(staging, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(bench.root, path), target)
        with open(os.path.join(staging, CHECKSUMS), "w", encoding="utf-8") as fh:
            json.dump({"source": source_label or os.path.abspath(source), "files": sums}, fh, indent=2)
            fh.write("\n")
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CopyReport(out, len(bench.subjects), live, images, notes, copied=True)


def _umask() -> int:
    from ezigen.io import default_file_mode

    return 0o666 & ~default_file_mode()


def _check_existing(out: str, sums: dict[str, str], report: CopyReport) -> CopyReport:
    """``out`` exists: fine when it holds exactly these files (by content), else an error."""
    differing = [path for path, value in sums.items()
                 if not os.path.isfile(os.path.join(out, path)) or digest(os.path.join(out, path)) != value]
    if differing:
        shown = ", ".join(differing[:3]) + (f" and {len(differing) - 3} more" if len(differing) > 3 else "")
        raise OutputError(f"--out {out!r} exists and differs from the source ({shown}); give a new folder "
                          "or delete it")
    return report

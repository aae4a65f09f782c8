"""Reading a DreamBench folder (google/dreambooth ``dataset/`` layout; BENCHMARKS §2.1).

Layout::

    DIR/prompts_and_classes.txt     classes ("subject_name,class" lines) and the two prompt lists
    DIR/<subject>/00.jpg ...        4-6 real images per subject

``prompts_and_classes.txt`` has a "Classes" section (a ``subject_name,class`` header, then one
``name,class`` line per subject), then "Object Prompts" and "Live Subject Prompts", each a
Python list of lines ``'a {0} {1} in the jungle'.format(unique_token, class_token),``.

Choices made here (recorded in every result file):

- **live subjects** are those of class ``dog`` or ``cat`` (the file does not say; the
  DreamBooth README: "9 live subjects, dogs and cats"); they get the live prompt list;
- **prompt kinds**, read from the templates: ``property`` when a word comes between "a" and
  the subject ("a red {0} {1}"), ``accessorization`` for a live prompt absent from the object
  list ("wearing a santa hat"), else ``recontextualization`` (20 + 0 + 5 for objects,
  10 + 10 + 5 for live subjects);
- **reference images**: every image file in the subject's folder, in sorted order; which one
  conditions generation is chosen by the caller (default index 0, the first in sorted order);
- **prompts**: ``text(token)`` fills the template with the unique token (none by default, as
  zero-shot methods use no token) and the class; CLIP-T always scores the prompt without a token.

Folders not listed in the classes section are ignored.
"""

from __future__ import annotations

import enum
import os
import re

import attrs

from ezigen.errors import DataError

PROMPTS_FILE = "prompts_and_classes.txt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LIVE_CLASSES = frozenset({"dog", "cat"})
OBJECT_HEADER = "object prompts"
LIVE_HEADER = "live subject prompts"
_TEMPLATE_LINE = re.compile(  # 'a {0} {1} in the jungle'.format(unique_token, class_token),
    r"""^\s*(['"])(?P<template>.*)\1\s*\.format\(\s*unique_token\s*,\s*class_token\s*\)\s*,?\s*$""")
_SUBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PromptKind(enum.Enum):
    RECONTEXTUALIZATION = "recontextualization"
    ACCESSORIZATION = "accessorization"
    PROPERTY = "property"


@attrs.frozen
class PromptTemplate:
    """One DreamBench prompt: its position in its list, the template (``{0}`` token, ``{1}`` class), its kind."""

    index: int
    template: str
    kind: PromptKind

    def text(self, class_name: str, unique_token: str = "") -> str:
        """The prompt; an empty ``unique_token`` drops the token: 'a {0} {1} in the snow' -> 'a dog in the snow'."""
        return " ".join(self.template.format(unique_token, class_name).split())


@attrs.frozen
class Subject:
    """One subject: folder name, class text, live or object, and its real images (sorted paths)."""

    name: str
    class_name: str
    live: bool
    images: tuple[str, ...]

    @property
    def subject_prompt(self) -> str:
        """The class text a subject encoder is conditioned on (EZIGen: ``--subject_prompt "a dog"``)."""
        return f"a {self.class_name}"


@attrs.frozen
class DreamBench:
    root: str
    subjects: tuple[Subject, ...]
    object_prompts: tuple[PromptTemplate, ...]
    live_prompts: tuple[PromptTemplate, ...]

    def prompts_for(self, subject: Subject) -> tuple[PromptTemplate, ...]:
        return self.live_prompts if subject.live else self.object_prompts

    def subject(self, name: str) -> Subject:
        from ezigen.errors import UnknownNameError
        from ezigen.registry import did_you_mean

        for subject in self.subjects:
            if subject.name == name:
                return subject
        names = [s.name for s in self.subjects]
        guess = did_you_mean(name, names)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise UnknownNameError(f"--subjects: no subject {name!r} in {self.root}{hint} Subjects: {', '.join(names)}")


def read_dreambench(root: str, option: str = "--data") -> DreamBench:
    """Read and check a DreamBench folder; any problem is one :class:`DataError` naming the file
    (and ``option``, the command-line option that gave ``root``)."""
    if not os.path.isdir(root):
        raise DataError(f"{option} {root!r}: no such folder (expected a DreamBench folder with {PROMPTS_FILE})")
    path = os.path.join(root, PROMPTS_FILE)
    if not os.path.isfile(path):
        raise DataError(f"{option} {root!r} is not a DreamBench folder: {PROMPTS_FILE} is missing")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    classes = parse_classes(lines, path)
    object_templates = parse_prompt_list(lines, OBJECT_HEADER, path)
    live_templates = parse_prompt_list(lines, LIVE_HEADER, path)
    object_prompts = tuple(PromptTemplate(i, t, prompt_kind(t, object_templates, False))
                           for i, t in enumerate(object_templates))
    live_prompts = tuple(PromptTemplate(i, t, prompt_kind(t, object_templates, True))
                         for i, t in enumerate(live_templates))
    subjects = tuple(_subject(root, name, class_name) for name, class_name in classes)
    return DreamBench(os.path.abspath(root), subjects, object_prompts, live_prompts)


def parse_classes(lines: list[str], path: str) -> list[tuple[str, str]]:
    """The ``subject_name,class`` table: [(subject, class)], in file order."""
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().replace(" ", "") == "subject_name,class")
    except StopIteration:
        raise DataError(f"{path}: no 'subject_name,class' table") from None
    classes: list[tuple[str, str]] = []
    for number, line in enumerate(lines[start + 1:], start + 2):
        text = line.strip()
        if not text:
            if classes:
                break
            continue
        if "," not in text:
            break  # the next section's heading
        name, class_name = (part.strip() for part in text.split(",", 1))
        if not _SUBJECT_NAME.match(name) or not class_name:
            raise DataError(f"{path}:{number}: expected 'subject_name,class', got {text!r}")
        if any(name == seen for seen, _ in classes):
            raise DataError(f"{path}:{number}: subject {name!r} is listed twice")
        classes.append((name, class_name))
    if not classes:
        raise DataError(f"{path}: the 'subject_name,class' table is empty")
    return classes


def parse_prompt_list(lines: list[str], header: str, path: str) -> list[str]:
    """The templates of the list under ``header`` ("object prompts" / "live subject prompts")."""
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == header)
    except StopIteration:
        raise DataError(f"{path}: no {header.title()!r} section") from None
    templates: list[str] = []
    opened = False
    for number, line in enumerate(lines[start + 1:], start + 2):
        text = line.strip()
        if not opened:
            opened = text.endswith("[")
            continue
        if text.startswith("]"):
            break
        match = _TEMPLATE_LINE.match(line)
        if match is None:
            example = "'a {0} {1} in the jungle'.format(unique_token, class_token),"
            raise DataError(f"{path}:{number}: expected a line like {example!r}, got {text!r}")
        template = match.group("template")
        if "{0}" not in template or "{1}" not in template:
            raise DataError(f"{path}:{number}: the prompt {template!r} needs both {{0}} (token) and {{1}} (class)")
        templates.append(template)
    if not templates:
        raise DataError(f"{path}: the {header.title()!r} list is empty")
    return templates


def prompt_kind(template: str, object_templates: list[str], live: bool) -> PromptKind:
    """property: a word between "a" and the subject; accessorization: a live-only prompt; else recontextualization."""
    if not template.startswith("a {0} {1}"):
        return PromptKind.PROPERTY
    if live and template not in object_templates:
        return PromptKind.ACCESSORIZATION
    return PromptKind.RECONTEXTUALIZATION


def _subject(root: str, name: str, class_name: str) -> Subject:
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
        raise DataError(f"{os.path.join(root, PROMPTS_FILE)} lists subject {name!r}, but {folder!r} is not a folder")
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))
    if not files:
        raise DataError(f"{folder!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
    images = tuple(os.path.abspath(os.path.join(folder, f)) for f in files)
    return Subject(name, class_name, class_name in LIVE_CLASSES, images)

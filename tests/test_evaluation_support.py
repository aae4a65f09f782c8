"""Helpers for the evaluation tests (no tests here): a synthetic DreamBench folder, CLI runs.

The synthetic folder has the real layout and the real ``prompts_and_classes.txt`` format, with
short prompt lists so the tests stay fast: 3 subjects (two objects, one live dog), 3 or 4 real
images each (coloured shapes on white, non-square), object prompts 3 recontextualization + 1
property, live prompts 2 recontextualization + 1 accessorization + 1 property.
"""

from __future__ import annotations

import contextlib
import os

SUBJECTS = (("red_disc", "toy", (220, 30, 30), 3), ("blue_box", "box", (30, 60, 200), 4),
            ("dog_a", "dog", (150, 100, 40), 3))  # (name, class, colour, number of real images)
OBJECT_TEMPLATES = ("a {0} {1} in the jungle", "a {0} {1} in the snow", "a {0} {1} on the beach", "a red {0} {1}")
LIVE_TEMPLATES = ("a {0} {1} in the jungle", "a {0} {1} in the snow", "a {0} {1} wearing a santa hat",
                  "a cube shaped {0} {1}")


def prompts_file_text(subjects=SUBJECTS, object_templates=OBJECT_TEMPLATES, live_templates=LIVE_TEMPLATES) -> str:
    """``prompts_and_classes.txt`` in the google/dreambooth format."""
    lines = ["Classes", "", "subject_name,class"]
    lines += [f"{name},{cls}" for name, cls, *_ in subjects]
    lines += ["", "Prompts", ""]
    for header, templates in (("Object Prompts", object_templates), ("Live Subject Prompts", live_templates)):
        lines += [header, "", "prompt_list = ["]
        body = [f"'{t}'.format(unique_token, class_token)" for t in templates]
        lines += [line + ("," if i < len(body) - 1 else "") for i, line in enumerate(body)]
        lines += ["]", ""]
    return "\n".join(lines) + "\n"


def make_dreambench(root) -> str:
    """Write the synthetic DreamBench folder under ``root``; return its path."""
    from PIL import Image, ImageDraw

    root = str(root)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "prompts_and_classes.txt"), "w", encoding="utf-8") as fh:
        fh.write(prompts_file_text())
    for s, (name, _cls, colour, count) in enumerate(SUBJECTS):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(count):
            image = Image.new("RGB", (72 + 8 * i, 56), "white")
            draw = ImageDraw.Draw(image)
            box = (10 + 3 * i, 8 + 2 * s, 50 + 4 * i, 48)
            (draw.ellipse if s != 1 else draw.rectangle)(box, fill=colour)
            draw.line((box[0], box[1], box[2], box[3]), fill=(20, 20, 20), width=2 + i)
            image.save(os.path.join(folder, f"{i:02d}.jpg"), quality=95)
    return root


def run_cli(args, capsys):
    """(exit status, stdout, stderr) of one in-process ``ezigen`` call."""
    from ezigen.cli.main import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_results(out) -> dict:
    """results.json, read as readers must: only from a complete set (``results.complete`` and its checksums)."""
    from ezigen.evaluation.results_set import read_results

    return read_results(str(out))


@contextlib.contextmanager
def one_torch_thread():
    """torch on one intra-op thread for the block: on a 2-core machine shared with other jobs,
    two spinning OpenMP threads per process slow tiny models down by 10-100x."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

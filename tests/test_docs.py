"""Documentation that is generated or checked against the code."""

import os

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_recipe_reference_is_current():
    from ezigen.docgen import render

    with open(os.path.join(ROOT, "docs", "recipes.md"), encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == render(), "docs/recipes.md is stale: run `python -m ezigen.docgen > docs/recipes.md`"


def test_readme_quick_start_has_exactly_two_commands():
    import re

    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = re.search(r"^## Quick start\s*$", text, re.M)
    block = re.search(r"^```bash\s*$\n(.*?)^```", text[section.end():], re.M | re.S)
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(commands) == 2
    assert "ezigen generate" in commands[0] and "pytest" in commands[1]
    assert "scripts/bootstrap.sh" in commands[0] and "scripts/bootstrap.sh" in commands[1]


def doc_block(path, name, language):
    """The ``language`` code block after ``<!-- example: NAME -->`` in ``path`` (relative to the repository)."""
    import re

    text = open(os.path.join(ROOT, path), encoding="utf-8").read()
    found = re.search(rf"<!-- example: {re.escape(name)} -->\n```{language}\n(.*?)^```", text, re.M | re.S)
    assert found, f"{path} has no {language} block marked {name}"
    return found.group(1)


def test_editing_toy_example_runs_and_keeps_the_background(tmp_path, capsys, monkeypatch):
    """docs/editing.md's toy example as written: the snippet makes SCENE, MASK and CROP, the command edits
    them; outside the mask dilated by 2 px the edit is the source within 2/255 (mean |difference|)."""
    import shlex

    import numpy as np
    from PIL import Image

    from ezigen.toy.editing import dilate
    from tests.conftest import run_cli

    monkeypatch.chdir(tmp_path)
    exec(compile(doc_block("docs/editing.md", "toy-edit-files", "python"), "docs/editing.md:toy-edit-files", "exec"),
         {"__name__": "docs_example"})
    printed = capsys.readouterr().out.strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crop.png", "mask.png", "scene.png"]
    command = shlex.split(doc_block("docs/editing.md", "toy-edit-command", "bash").replace("\\\n", " "))
    assert command[:3] == ["ezigen", "edit", "toy/ezigen-edit"]
    texts = command[command.index("--subject-prompt"):command.index("--prompt") + 2]
    assert printed == shlex.join(texts), "the command's texts are not the ones the snippet prints"
    code, stdout, stderr = run_cli(command[1:], capsys)
    assert code == 0, stderr
    assert stdout.strip() == os.path.join("out", "toy-edit", "image.png")
    edited = np.asarray(Image.open("out/toy-edit/image.png").convert("RGB"), dtype=np.float64)
    source = np.asarray(Image.open("scene.png").convert("RGB"), dtype=np.float64)
    mask = Image.open("mask.png").convert("L")
    outside = ~(np.asarray(dilate(mask, 2)) > 0)
    assert edited.shape == source.shape == (32, 32, 3) and 0 < outside.sum() < outside.size
    assert np.abs(edited - source)[outside].mean() <= 2.0
    inside = np.asarray(mask) > 0
    assert np.abs(edited - source)[inside].mean() > 10.0  # the masked region did change

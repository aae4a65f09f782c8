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

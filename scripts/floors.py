"""Print ``name==floor`` for every direct dependency in pyproject.toml (and its ``test`` extra), as
pip constraints: the lowest versions the declared bounds allow. scripts/floors.sh installs them.

torch is left out: it is installed first and alone at the pinned version (bootstrap's rule). A
dependency without a ``>=`` bound is an error, since its floor would be whatever pip picks.
"""

from __future__ import annotations

import os
import sys
import tomllib

try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv has no packaging yet (installing it would set its version), but pip has one
    from pip._vendor.packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def floors(pyproject: str, extras: tuple[str, ...] = ("test",)) -> list[str]:
    with open(pyproject, "rb") as fh:
        project = tomllib.load(fh)["project"]
    declared = list(project["dependencies"])
    for extra in extras:
        declared += project.get("optional-dependencies", {}).get(extra, [])
    lines = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.name == "torch":
            continue
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"{text!r} in {pyproject} has no single '>=' floor")
        marker = f"; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{requirement.name}=={lows[0]}{marker}")
    return lines


if __name__ == "__main__":
    print("\n".join(floors(os.path.join(ROOT, "pyproject.toml"), tuple(sys.argv[1:]) or ("test",))))

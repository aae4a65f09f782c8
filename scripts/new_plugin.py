"""Make a new plugin package from ``plugins/template``: ``python scripts/new_plugin.py NAME DIR``.

Copies the template to DIR and renames ``myplugin`` to NAME everywhere: the package
``ezigen_NAME``, the distribution ``ezigen-NAME``, the entry point ``NAME`` and the component
names ``NAME-grid``, ``NAME-late``, ``NAME-brightness``. NAME: lowercase letters, digits, ``-``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins", "template")
SKIP = {"__pycache__", "build", ".pytest_cache"}


def new_plugin(name: str, out: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise SystemExit(f"error: plugin name {name!r}: expected lowercase letters, digits and '-', e.g. colour-tokens")
    if os.path.exists(out) and os.listdir(out):
        raise SystemExit(f"error: {out} exists and is not empty; give a new folder")
    package = name.replace("-", "_")
    for root, dirs, files in os.walk(TEMPLATE):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")]
        relative = os.path.relpath(root, TEMPLATE).replace("ezigen_myplugin", f"ezigen_{package}")
        relative = relative.replace("myplugin", name)
        target = os.path.normpath(os.path.join(out, relative))
        os.makedirs(target, exist_ok=True)
        for file in files:
            source = os.path.join(root, file)
            destination = os.path.join(target, file.replace("myplugin", package))
            if file.endswith((".py", ".toml", ".md", ".yaml", ".typed")):
                with open(source, encoding="utf-8") as fh:
                    text = fh.read()
                text = text.replace("ezigen_myplugin", f"ezigen_{package}").replace("myplugin", name)
                with open(destination, "w", encoding="utf-8") as fh:
                    fh.write(text)
            else:
                shutil.copy2(source, destination)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(new_plugin(sys.argv[1], sys.argv[2]))

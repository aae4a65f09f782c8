#!/bin/sh
# Set up .venv/ at the repository root, once: CPU torch first and alone (pinned), then ezigen with
# its test extras and the plugin packages in plugins/. Re-running is a no-op unless a pyproject changed.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
stamp=".venv/.ezigen-bootstrap"
want=$(cat pyproject.toml plugins/*/pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip="./.venv/bin/python -m pip --disable-pip-version-check -q"
# torch alone first: any later resolution then keeps this CPU wheel instead of pulling a CUDA build
$pip install "$TORCH_PIN"
$pip install -e ".[test]"
for plugin in plugins/*/; do
  # plugins/template is a folder to copy (scripts/new_plugin.py), not a plugin to install
  [ "$plugin" = "plugins/template/" ] && continue
  [ -f "$plugin/pyproject.toml" ] && $pip install -e "$plugin"
done
echo "$want" > "$stamp"

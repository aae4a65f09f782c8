#!/bin/sh
# Set up .venv/ at the repository root, once: CPU torch first and alone (pinned), then ezigen with
# its test extras and the plugin packages in plugins/. Re-running is a no-op unless a pyproject changed.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
stamp=".venv/.ezigen-bootstrap"
want=$(cat pyproject.toml setup.py plugins/*/pyproject.toml requirements/lock.txt 2>/dev/null | cksum | cut -d' ' -f1)
# the exact versions of requirements/lock.txt (scripts/lock.sh writes it); EZIGEN_NO_LOCK=1 resolves afresh
lock="-c requirements/lock.txt"
[ "${EZIGEN_NO_LOCK:-}" = "1" ] && lock=""
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip="./.venv/bin/python -m pip --disable-pip-version-check -q"
# torch alone first: any later resolution then keeps this CPU wheel instead of pulling a CUDA build
$pip install "$TORCH_PIN"
$pip install $lock -e ".[test]"
for plugin in plugins/*/; do
  # plugins/template is a folder to copy (scripts/new_plugin.py), not a plugin to install
  [ "$plugin" = "plugins/template/" ] && continue
  [ -f "$plugin/pyproject.toml" ] && $pip install $lock -e "$plugin"
done
echo "$want" > "$stamp"

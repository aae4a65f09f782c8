#!/bin/sh
# Check that pyproject.toml's floors are true: a separate venv (.venv-floors/, or $FLOORS_VENV) gets
# torch==2.13.0 first and alone, then ezigen[test] with every other direct dependency held at the
# LOWEST version pyproject.toml allows (the `>=` bound of each, read from pyproject.toml by
# scripts/floors.py, never copied by hand), and runs the smoke subset (`pytest -m smoke`: generate,
# train and eval on tiny models). Needs PyPI. Usage: `sh scripts/floors.sh [extra pytest args]`.
# A failure means a floor is false: raise it in pyproject.toml to the lowest version that passes.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${FLOORS_VENV:-.venv-floors}
TORCH_PIN="torch==2.13.0"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
pip="$VENV/bin/python -m pip --disable-pip-version-check -q"
# torch alone first, as bootstrap does: the floors must not pull another torch build
$pip install "$TORCH_PIN"
"$VENV/bin/python" scripts/floors.py > "$VENV/floors.txt"
echo "floors (from pyproject.toml):"; sed 's/^/  /' "$VENV/floors.txt"
# constraints, not requirements: each direct dependency exactly at its floor; transitive ones resolve freely
$pip install -c "$VENV/floors.txt" -e ".[test]"
"$VENV/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check > "$VENV/freeze.txt"
HF_HUB_OFFLINE=1 "$VENV/bin/python" -m pytest -q -m smoke tests "$@"

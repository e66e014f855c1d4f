#!/usr/bin/env bash
# The one gate: format, lint, types, import contracts, tests. Run through `make test` (newest
# versions, ./.venv) and `make test-lowest` (lowest declared versions, VENV=.venv-lowest).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VENV:-.venv}/bin
step() { printf '\n== %s\n' "$*"; }
step "versions ($("$bin/python" -V 2>&1) in ${VENV:-.venv})"
"$bin/python" scripts/dependency_bounds.py versions
step "format (ruff format --check)"; "$bin/ruff" format --check simulator sweep_controller tests bench
step "lint (ruff check)";            "$bin/ruff" check simulator sweep_controller tests bench
step "types (mypy)";                 "$bin/mypy"
step "import contracts (lint-imports)"; "$bin/lint-imports"
# Tests run on every core with pytest-xdist (PYTEST_WORKERS=0: one process); arguments go on to
# pytest. Session servers start per worker on free ports; see tests/conftest.py.
workers=${PYTEST_WORKERS:-auto}
step "tests (pytest -n $workers)";    "$bin/python" -m pytest -n "$workers" "$@"

#!/usr/bin/env bash
# The README's test command: installs what the tests need (Debian/Ubuntu packages, then Python
# packages into .venv) and runs lint, type checks and every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

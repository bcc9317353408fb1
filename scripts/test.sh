#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite, slow tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${SIDE_VENV:-.venv}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
"$VENV/bin/python" -m ruff check .
"$VENV/bin/python" -m ruff format --check .
"$VENV/bin/python" -m pytest -q "$@"

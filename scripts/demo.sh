#!/usr/bin/env bash
# The README's first command: sets everything up (scripts/setup.sh: a virtual environment with PyTorch, ROS 2
# from the PyPI wheels and side_ros) and runs the demo: the real depth node on the shipped weights, fed the
# sample bag (data/sample/) over ROS 2 topics on this machine, with its outputs in demo_out/.
# Extra arguments go to side-demo (e.g. --device cuda, -o other_folder); see `python -m side_ros.demo --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
VENV="${SIDE_VENV:-.venv}"
"$VENV/bin/python" -m side_ros.demo "$@"
echo "scripts/demo.sh took $(( $(date +%s) - start )) s (setup included)"

#!/usr/bin/env bash
# Sets up side_ros in a virtual environment (.venv, or $SIDE_VENV): PyTorch 2.13.0 (CPU build here; pinned so
# pip never pulls a newer CUDA build by accident), ROS 2 Kilted from the PyPI wheels, and the package itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SIDE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[ros,bags,train,test]"
# The real ROS 2 command-line tools (ros2 launch/param/lifecycle/topic, launch_testing, sensor_msgs_py) are not on
# PyPI; ../shared/ros2cli has them where it exists (CI). Without it, the tests that need them skip and say why.
ROS2CLI="${SIDE_ROS2CLI:-../shared/ros2cli}"
if [ -f "$ROS2CLI/install.sh" ]; then
  bash "$ROS2CLI/install.sh" "$VENV/bin/python"
fi
"$VENV/bin/python" -c "import torch, rclpy, side_ros; print('side_ros', side_ros.__version__, '| torch', torch.__version__, '| CUDA', torch.cuda.is_available())"

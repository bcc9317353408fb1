"""Shared test settings: one torch thread (CI has 2 cores shared with DDS processes), deterministic seeds."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(autouse=True)
def _seed():
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """Tiny real random-weight checkpoints (low, high, coarse), written once per test session."""
    from side_ros.testing import tiny_checkpoints

    return tiny_checkpoints(tmp_path_factory.getbasetemp() / "side_tiny_weights")


@pytest.fixture(scope="session")
def nets(weights):
    """Command-line options that point a side_ros command at the tiny checkpoints."""
    return ["--low", weights["low"], "--high", weights["high"], "--coarse", weights["coarse"], "--device", "cpu"]

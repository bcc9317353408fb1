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
def load_script():
    """Import one of scripts/*.py by its name (they are files, not a package), to test its functions."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """Tiny real random-weight checkpoints (low, high, coarse), written once per test session."""
    from side_ros.testing import tiny_checkpoints

    return tiny_checkpoints(tmp_path_factory.getbasetemp() / "side_tiny_weights")


@pytest.fixture(scope="session")
def nets(weights):
    """Command-line options that point a side_ros command at the tiny checkpoints."""
    return ["--low", weights["low"], "--high", weights["high"], "--coarse", weights["coarse"], "--device", "cpu"]


@pytest.fixture(scope="session")
def colcon_install(tmp_path_factory):
    """`colcon build` of this checkout in a temporary workspace, once per test session: the install prefix of
    side_ros (install/side_ros), as a ROS user gets it. Skips where colcon is not installed."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    colcon = shutil.which("colcon") or str(Path(sys.executable).parent / "colcon")
    if not Path(colcon).exists():
        pytest.skip("colcon is not installed (it is in the test extra: pip install -e '.[test]')")
    repo = Path(__file__).resolve().parent.parent
    ws = tmp_path_factory.mktemp("colcon_ws")
    src = ws / "src" / "side_ros"
    src.mkdir(parents=True)
    for name in ("package.xml", "setup.py", "setup.cfg", "resource", "side_ros", "launch", "config", "models"):
        path = repo / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, src / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    build = subprocess.run([colcon, "build"], cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    return ws / "install" / "side_ros"

"""side-demo end to end (real node process, real DDS on localhost, the shipped sample bag) with tiny random
weights: every output file, every frame accounted for, and clear errors when the node cannot work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from side_ros import geometry
from side_ros.bags.io import BagReader
from side_ros.demo import DEFAULT_BAG

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

DOMAIN = 62
ROOT = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
    }


def demo(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "side_ros.demo", "--domain-id", str(DOMAIN), *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
        cwd=ROOT,
    )


def test_demo_end_to_end(weights, tmp_path):
    out = tmp_path / "demo_out"
    proc = demo(
        "-o",
        out,
        "--rate",
        "4",
        "--device",
        "cpu",
        "--low",
        weights["low"],
        "--high",
        weights["high"],
        "--coarse",
        weights["coarse"],
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    with BagReader(ROOT / DEFAULT_BAG) as r:
        n_frames = r.topics["/camera/image_raw"].count
        sizes = [(m.width, m.height) for m in (r.deserialize(x) for x in r.messages(["/camera/image_raw"]))]
    assert n_frames >= 4
    assert (
        f"frames:   {n_frames} replayed, {n_frames} answered with depth ({n_frames} with depth, scene, point "
        "cloud and colour map), 0 missing" in text
    )
    assert "Routing accuracy:" in text and "device:   cpu" in text and "latency: mean" in text
    summary = json.loads((out / "summary.json").read_text())
    frames = summary["frames"]
    assert len(frames) == n_frames
    for f, (w, h) in zip(frames, sizes, strict=True):
        assert f["missing"] is None and f["cloud_missing"] is None
        assert f["chosen_range"] in ("low", "high") and f["true_range"] in ("low", "high")
        assert (f["width"], f["height"]) == (w, h)
        assert 0 < f["latency_ms"] < 120_000
        assert f["metrics"]["rmse"] > 0
    chosen = [f["chosen_range"] for f in frames]
    true = [f["true_range"] for f in frames]
    assert summary["routing_accuracy"] == pytest.approx(np.mean([c == t for c, t in zip(chosen, true, strict=True)]))
    assert set(summary["metrics_by_range"]) == set(true)
    # Point clouds: one PLY per frame, every finite point of the node's organized cloud.
    plys = sorted((out / "ply").glob("*.ply"))
    assert len(plys) == n_frames
    pts, cols = geometry.read_ply(plys[0])
    assert len(pts) == frames[0]["cloud_points"] > 0 and cols is not None and np.isfinite(pts).all()
    # The mosaic: one row per frame, three tiles wide.
    mosaic = Image.open(out / "mosaic.png")
    assert mosaic.width == 3 * 320 + 2 * 4 and mosaic.height > n_frames * 100
    # The output bag: the sample's messages plus what the node published, one of each per frame.
    with BagReader(out / "bag") as r:
        counts = {t: s.count for t, s in r.topics.items()}
    for topic in ("/side/depth", "/side/points", "/side/depth/colormap", "/side/scene", "/camera/image_raw"):
        assert counts[topic] == n_frames, counts
    assert counts["/diagnostics"] >= 1 and counts["/ground_truth/depth"] == n_frames
    assert (out / "summary.txt").read_text().strip().endswith("from starting the node)")
    assert "configured" in (out / "node.log").read_text()


def test_demo_errors_are_clear(weights, tmp_path):
    proc = demo(
        "-o", tmp_path / "o", "--low", tmp_path / "missing.pt", "--high", weights["high"], "--coarse", weights["coarse"]
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        f"error: --low: weight file not found: {tmp_path / 'missing.pt'}"
    ]
    # A weight file the node cannot load: the node stays up and says why on /diagnostics; the demo reports it.
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    proc = demo(
        "-o",
        tmp_path / "o",
        "--low",
        junk,
        "--high",
        weights["high"],
        "--coarse",
        weights["coarse"],
        "--startup-timeout",
        "120",
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: the depth node cannot process frames"), proc.stderr
    assert "low" in errors[0]


def test_demo_leaves_sigma_to_the_node_unless_given(tmp_path):
    from side_ros.ros.demo_session import node_command

    cmd = node_command("/cam/image", "/cam/info", {}, "cpu", 12.5)
    assert "sigma:=12.5" in cmd and "router:=coarse_depth" in cmd
    # without --sigma the node uses the coarse checkpoint's calibrated value (its own default)
    assert not any(a.startswith("sigma:=") for a in node_command("/cam/image", "/cam/info", {}, "cpu"))


def test_the_recording_context_leaves_the_environment_as_it_was(monkeypatch):
    from side_ros.ros.demo_session import localhost_context

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
    before = dict(os.environ)
    with localhost_context(36) as context:
        assert context.ok() and context.get_domain_id() == 36
    assert not context.ok() and dict(os.environ) == before

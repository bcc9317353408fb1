"""The depth node as its own process, started the way `ros2 run side_ros depth_node` starts it, over real DDS.

`python -m side_ros.ros.depth_node --ros-args --params-file config/depth.yaml -r ... -p ...`; the test process is
the camera (Image + CameraInfo publisher) and the consumer, and talks to the node's parameter services the way
`ros2 param set` does. The coarse network's file is missing at start, as when the shipped weights are absent.
Also: `colcon build` installs lib/side_ros/depth_node, which starts and stops cleanly.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")


from side_ros.payloads import cloud_array, diagnostic_values  # noqa: E402
from side_ros.ros import testing  # noqa: E402
from side_ros.ros.testing import (  # noqa: E402
    camera_info_msg,
    depth_array,
    image_msg,
    wait_for,
)
from side_ros.testing import tiny_checkpoints  # noqa: E402

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parent.parent
DOMAIN = 72
W, H = 640, 480
FX, FY, CX, CY = 500.0, 500.0, 320.0, 240.0


class NodeProcess(testing.NodeProcess):
    """The node process, its log file, and a probe + parameter client in this process."""

    def __init__(self, tmp: Path):
        self.checkpoints = tiny_checkpoints(tmp / "weights")
        args = [
            "--ros-args",
            "--params-file",
            str(REPO / "config" / "depth.yaml"),
            "-r",
            "image:=/cam/image",
            "-r",
            "camera_info:=/cam/camera_info",
            "-p",
            f"weights.low:={self.checkpoints['low']}",
            "-p",
            f"weights.high:={self.checkpoints['high']}",
            "-p",
            f"weights.coarse:={tmp / 'missing' / 'coarse.pt'}",
            # 640x480 rgb8 is 0.9 MB: between processes it needs a reliable subscription (README)
            "-p",
            "qos_overrides./cam/image.subscription.reliability:=reliable",
            # reliable camera_info too: a best-effort reader drops what arrives before it has matched the writer
            "-p",
            "qos_overrides./cam/camera_info.subscription.reliability:=reliable",
            "-p",
            "device:=cpu",
            "-p",
            "diagnostics_period:=0.25",
            "-p",
            "warn_throttle_period:=30.0",
        ]
        super().__init__(args, tmp / "node.log", DOMAIN, cwd=REPO)
        self.stamp = 0

    def send(self, rgb=None, msg=None):
        self.stamp += 1
        msg = msg or image_msg(rgb if rgb is not None else pattern(H, W), stamp=(self.stamp, 0), frame_id="optical")
        msg.header.stamp.sec = self.stamp
        info = camera_info_msg(W, H, FX, FY, CX, CY, frame_id="optical", stamp=(self.stamp, 0))
        self.probe.info_pub.publish(info)  # with every frame, as camera drivers do
        self.probe.image_pub.publish(msg)
        return self.stamp

    def outputs(self, stamp: int, keys=("depth",), timeout=30.0, must=True):
        found = {}

        def arrived():
            for key in keys:
                for m in self.probe.messages(key):
                    if key != "scene" and m.header.stamp.sec == stamp:
                        found[key] = m
                    elif key == "scene" and f'"sec":{stamp},' in m.data:
                        found[key] = m
            return len(found) == len(keys)

        ok = wait_for(arrived, timeout)
        if not ok and not must:
            return None
        assert ok, f"no {set(keys) - set(found)} for frame {stamp}; log:\n{self.log_text()}"
        return found

    def first_complete(self, rgb, keys, tries=5):
        """Frames like a camera stream: the first camera_info can be sent before DDS discovery has matched the
        node's best-effort subscription (and is then lost), so keep sending until one frame comes back whole."""
        for _ in range(tries - 1):
            out = self.outputs(self.send(rgb), keys=keys, timeout=6.0, must=False)
            if out is not None:
                return out
        return self.outputs(self.send(rgb), keys=keys)

    def diagnostics_after(self, predicate, timeout=15.0):
        start = len(self.probe.messages("diagnostics"))
        out = {}

        def ok():
            for msg in self.probe.messages("diagnostics")[start:]:
                v = diagnostic_values(msg)
                if v and predicate(v):
                    out.update(v)
                    return True
            return False

        assert wait_for(ok, timeout), f"last diagnostics: {self.probe.last_diagnostics()}"
        return out


def pattern(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (3 * x + y) % 256], axis=2).astype(np.uint8)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("process"))
    try:
        assert wait_for(n.probe.matched, 60), f"node never subscribed; log:\n{n.log_text()}"
        assert wait_for(lambda: all(s.get_publisher_count() > 0 for s in n.probe.subs), 30)
        assert n.params.wait_for_services(timeout_sec=30)
        yield n
    finally:
        n.close()


def test_missing_weight_file_keeps_the_node_up_and_drops_frames(node):
    diag = node.diagnostics_after(lambda v: v["state"] == "active")
    assert diag["_level"] == "2" and "coarse" in diag["_message"] and "not found" in diag["_message"]
    assert "not loaded" in diag["weights.coarse"] and diag["weights.low"].startswith("loaded")
    assert "weights.coarse: weight file not found" in node.log_text()
    node.send()
    diag = node.diagnostics_after(lambda v: int(v.get("dropped.model_not_loaded", 0)) >= 1)
    assert diag["frames_published"] == "0"
    assert node.probe.messages("depth") == []


def test_valid_weight_path_loads_and_frames_flow_at_640x480(node):
    result = node.set(weights__coarse=str(node.checkpoints["coarse"]))[0]
    assert result.successful, result.reason
    assert node.diagnostics_after(lambda v: v["_level"] == "0")["weights.coarse"].startswith("loaded")
    rgb = pattern(H, W)
    out = node.first_complete(rgb, keys=("depth", "points", "colormap", "scene"))
    d = out["depth"]
    assert (d.width, d.height, d.encoding, d.header.frame_id) == (W, H, "32FC1", "optical")
    depth = depth_array(d)
    cloud = cloud_array(out["points"])
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_array_equal(cloud["z"], depth)
    np.testing.assert_allclose(cloud["x"], (u - CX) * depth / FX, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud["y"], (v - CY) * depth / FY, rtol=1e-5, atol=1e-6)
    assert out["colormap"].encoding == "bgr8"
    assert '"router":"coarse_depth"' in out["scene"].data


def test_live_routing_changes_and_refusals_through_the_parameter_service(node):
    scene = node.outputs(node.send(), keys=("scene",))["scene"].data
    score = json.loads(scene)["score"]
    assert node.set(sigma=score / 2)[0].successful
    assert json.loads(node.outputs(node.send(), keys=("scene",))["scene"].data)["range"] == "high"
    assert node.set(sigma=score * 2)[0].successful
    assert json.loads(node.outputs(node.send(), keys=("scene",))["scene"].data)["range"] == "low"
    refused = (
        node.set(sigma=-2.0) + node.set(top_k=0) + node.set(router="oracle") + node.set(weights__low="/no/such/low.pt")
    )
    assert [r.successful for r in refused] == [False] * 4
    assert "not found" in refused[3].reason and "router" in refused[2].reason
    assert node.outputs(node.send(), keys=("depth",))  # still publishing


def test_bad_input_is_counted_and_warned_about_once(node):
    def counts(v):
        return int(v.get("dropped.unsupported_encoding", 0)), int(v.get("dropped.skipped_newer_frame", 0))

    bad0, skipped0 = counts(node.diagnostics_after(lambda v: v["frames_in_flight"] == "0"))
    for _ in range(5):
        msg = image_msg(pattern(8, 8))
        msg.encoding = "yuv444_weird"
        node.send(msg=msg)
        time.sleep(0.1)
    # each bad frame is dropped as unsupported, or skipped if the next one replaced it first
    diag = node.diagnostics_after(lambda v: sum(counts(v)) == bad0 + skipped0 + 5 and v["frames_in_flight"] == "0")
    assert counts(diag)[0] > bad0 and diag["_level"] == "1" and "unsupported_encoding" in diag["_message"]
    assert node.log_text().count("[unsupported_encoding]") == 1  # throttled: one warning for all of them
    assert node.outputs(node.send(), keys=("depth",))


def test_sigint_stops_the_node_cleanly(node):
    diag = node.diagnostics_after(lambda v: v["frames_in_flight"] == "0")
    assert int(diag["frames_received"]) == int(diag["frames_published"]) + int(diag["frames_dropped"])
    node.proc.send_signal(signal.SIGINT)
    assert node.proc.wait(timeout=20) == 0, node.log_text()


def test_colcon_build_installs_the_depth_node(tmp_path, colcon_install):
    prefix = colcon_install
    exe = prefix / "lib" / "side_ros" / "depth_node"
    assert exe.is_file() and os.access(exe, os.X_OK), "setup.py needs the depth_node console script"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "side_ros").is_file()
    share = prefix / "share" / "side_ros"
    for rel in (
        "launch/depth.launch.py",
        "launch/kitti.launch.py",
        "config/depth.yaml",
        "config/kitti.yaml",
        "config/side.rviz",
        "package.xml",
    ):
        assert (share / rel).is_file(), rel
    site = next((prefix / "lib").glob("python3*/site-packages"))
    env = testing.node_env(DOMAIN + 1, AMENT_PREFIX_PATH=str(prefix), PYTHONPATH=str(site))
    proc = subprocess.Popen(
        [str(exe), "--ros-args", "-p", "device:=cpu"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "active:" in line:
                break
        log = "".join(lines)
        assert "active:" in log, log
        # relative weight paths resolved against the installed share directory
        assert str(share / "models") in log or "loaded from " + str(share / "models") in log, log
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
    assert rc == 0

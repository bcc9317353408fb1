"""The package as a ROS user meets it: a colcon install driven by the real ROS 2 tools (../shared/ros2cli's kit:
`ros2 launch | node | topic | param | lifecycle` and sensor_msgs_py), over real DDS.

- depth.launch.py with remaps and a params file: `ros2 node info`, `ros2 param get|set|describe` (accepted and
  refused with the node's reason), `ros2 lifecycle get|set`, `ros2 topic echo --once /side/scene`, upstream
  `read_points` on /side/points against the pinhole model, and Ctrl-C of `ros2 launch` leaving no process;
- kitti.launch.py with a namespace and its params file (sim time, KITTI topics, the reliable image QoS override);
- rviz:=true without rviz2 stops before anything starts; with an rviz2 (a stand-in executable that records what it
  was given) RViz gets a configuration whose topics are the node's own after `namespace:=` and `image:=`.

One colcon build per session (conftest.colcon_install); each launch gets a ROS_DOMAIN_ID of its own (20-29).
Skipped with the reason where the kit is not installed (scripts/setup.sh installs it when ../shared/ros2cli exists).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip("rclpy")

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROS2 = BIN / "ros2"
W, H = 160, 120
FX, FY, CX, CY = 100.0, 110.0, 79.5, 59.5


def _kit_missing() -> str | None:
    try:
        import launch_ros  # noqa: F401
        import ros2cli  # noqa: F401
        import sensor_msgs_py  # noqa: F401
    except ImportError as exc:
        return (
            f"the ROS 2 command-line tools are not installed in {sys.prefix} ({exc}); scripts/setup.sh "
            "installs them when ../shared/ros2cli is present"
        )
    if not ROS2.exists():
        return f"no ros2 executable next to {sys.executable}"
    return None


pytestmark = [pytest.mark.ros, pytest.mark.skipif(_kit_missing() is not None, reason=str(_kit_missing()))]


class Ros2:
    """The `ros2` command against a colcon install, on one ROS domain of this machine only."""

    def __init__(self, prefix: Path, domain: int, tmp: Path, extra_prefixes: tuple[Path, ...] = ()):
        self.prefix = prefix
        site = next((prefix / "lib").glob("python3*/site-packages"))
        self.env = dict(os.environ)
        self.env.update(
            {
                "ROS_DOMAIN_ID": str(domain),
                "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                "ROS_LOG_DIR": str(tmp),
                "AMENT_PREFIX_PATH": os.pathsep.join(str(p) for p in (*extra_prefixes, prefix)),
                "PYTHONPATH": str(site),
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "OMP_NUM_THREADS": "1",
                "PYTHONUNBUFFERED": "1",
                "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
                "RCUTILS_COLORIZED_OUTPUT": "0",
            }
        )

    def run(self, *args: str, timeout: float = 45, tries: int = 5, idempotent: bool = True) -> str:
        """stdout + stderr of `ros2 <args>` (no daemon: nothing is left running). Each call is a new DDS
        participant, which may not have discovered the node within the CLI's 0.5 s of discovery on a loaded
        machine: "Node not found" is retried with a longer --spin-time. ros2param and ros2lifecycle wait for a
        service reply with no timeout, and a reply lost to DDS (ros2/system_tests#420) hangs the CLI for good:
        an idempotent call that hangs is killed after `timeout` and repeated."""
        text = ""
        for attempt in range(tries):
            spin = ["--spin-time", str(1.0 + attempt)] if attempt else []
            command = [str(ROS2), *args, "--no-daemon", *spin]
            try:
                out = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                if not idempotent:
                    raise
                text = f"`ros2 {' '.join(args)}` hung for {timeout} s, {attempt + 1} times"
                continue
            text = out.stdout + out.stderr
            if "Node not found" not in text:
                break
        return text

    def until(self, args: tuple[str, ...], expected: str, tries: int = 10) -> str:
        """Run until the output contains `expected` (DDS discovery of a new node takes a moment)."""
        text = ""
        for _ in range(tries):
            text = self.run(*args)
            if expected in text:
                return text
            time.sleep(1.0)
        raise AssertionError(f"`ros2 {' '.join(args)}` never printed {expected!r}; last output:\n{text}")

    def params(self, node: str) -> dict:
        """`ros2 param dump` of the node, parsed."""
        return yaml.safe_load(self.until(("param", "dump", node), "ros__parameters"))[node]["ros__parameters"]

    def node_info(self, node: str) -> dict[str, dict[str, str]]:
        """`ros2 node info` as {section: {name: type}}."""
        text = self.until(("node", "info", node), "Publishers:")
        sections: dict[str, dict[str, str]] = {}
        current = None
        for line in text.splitlines():
            if line.startswith("  ") and not line.startswith("    ") and line.strip().endswith(":"):
                current = sections.setdefault(line.strip()[:-1], {})
            elif line.startswith("    ") and current is not None and ": " in line:
                name, kind = line.strip().split(": ", 1)
                current[name] = kind
        return sections


class Launch:
    """`ros2 launch side_ros <file> <args>` in its own process group, as a terminal runs it."""

    def __init__(self, ros2: Ros2, log_path: Path, launch_file: str, *args: str):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [str(ROS2), "launch", "side_ros", launch_file, *args],
            env=ros2.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def node_pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"process started with pid \[(\d+)\]", self.text())]

    def wait_for(self, needle: str, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None, f"ros2 launch exited ({self.proc.returncode}):\n{self.text()}"
            assert time.monotonic() < end, f"no {needle!r} in the launch output:\n{self.text()}"
            time.sleep(0.2)

    def ctrl_c(self, timeout: float = 60) -> int:
        """SIGINT to the whole foreground process group, as Ctrl-C in a terminal sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ctrl_c(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def processes_of(prefix: Path) -> list[str]:
    """Command lines of live processes started from this install (the depth node, its launch)."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(prefix) in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{p.pid}: {cmd}")
    return found


def params_file(tmp: Path, base: Path, weights: dict[str, Path], **values: object) -> Path:
    """`base` (a shipped params file) with the tiny test weights, CPU, and `values` (dotted names) set."""
    data = yaml.safe_load(base.read_text())
    params = data["/**"]["ros__parameters"]
    params["weights"].update({k: str(v) for k, v in weights.items()})
    params["device"] = "cpu"
    for name, value in values.items():
        node = params
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = tmp / f"params_{base.stem}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def pattern(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (3 * x + y) % 256], axis=2).astype(np.uint8)


class Camera:
    """An in-process camera (Image + CameraInfo publisher) and consumer of the node's outputs (side_ros.ros.testing
    Probe), on its own rclpy context."""

    def __init__(self, domain: int, namespace: str, image: str, info: str):
        from rclpy.executors import SingleThreadedExecutor

        from side_ros.ros.testing import Probe

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.probe = Probe(namespace=namespace, image_topic=image, info_topic=info, context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.probe)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()
        self.stamp = 0

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # the context is shut down at the end
            pass

    def send(self) -> int:
        from side_ros.ros.testing import camera_info_msg, image_msg

        self.stamp += 1
        self.probe.info_pub.publish(camera_info_msg(W, H, FX, FY, CX, CY, frame_id="optical", stamp=(self.stamp, 0)))
        self.probe.image_pub.publish(image_msg(pattern(H, W), stamp=(self.stamp, 0), frame_id="optical"))
        return self.stamp

    def frame(self, keys: tuple[str, ...] = ("depth",), tries: int = 6, timeout: float = 10.0) -> dict:
        """Send frames until one comes back with all `keys` (the first ones may go before discovery matched)."""
        from side_ros.ros.testing import wait_for

        for _ in range(tries):
            stamp = self.send()
            found = {}

            def arrived(stamp: int = stamp, found: dict = found) -> bool:
                for key in keys:
                    for m in self.probe.messages(key):
                        if (
                            key == "scene"
                            and f'"sec":{stamp},' in m.data
                            or key != "scene"
                            and m.header.stamp.sec == stamp
                        ):
                            found[key] = m
                return len(found) == len(keys)

            if wait_for(arrived, timeout):
                return found
        raise AssertionError(f"no frame came back with {keys}")

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5)
        self.probe.destroy_node()
        rclpy.shutdown(context=self.ctx)


# ------------------------------------------------------------------------------------------ depth.launch.py
@pytest.fixture(scope="module")
def depth_launch(colcon_install, weights, tmp_path_factory):
    """`ros2 launch side_ros depth.launch.py image:=/cam/image_raw camera_info:=/cam/camera_info params_file:=...`
    and a camera publishing on the remapped topics."""
    tmp = tmp_path_factory.mktemp("depth_launch")
    ros2 = Ros2(colcon_install, 21, tmp)
    params = params_file(
        tmp,
        REPO / "config" / "depth.yaml",
        weights,
        sigma=7.5,
        **{
            "colormap.max_depth": 50,  # an integer for a float parameter, as people write it
            # small frames, but reliable all the same: nothing the test publishes may be lost (README troubleshooting)
            "qos_overrides./cam/image_raw.subscription.reliability": "reliable",
            "qos_overrides./cam/camera_info.subscription.reliability": "reliable",
        },
    )
    launch = Launch(
        ros2,
        tmp / "launch.log",
        "depth.launch.py",
        "image:=/cam/image_raw",
        "camera_info:=/cam/camera_info",
        f"params_file:={params}",
    )
    camera = None
    try:
        launch.wait_for("active: /cam/image_raw -> /side/depth")
        camera = Camera(21, "/side", "/cam/image_raw", "/cam/camera_info")
        yield ros2, launch, camera
    finally:
        if camera is not None:
            camera.close()
        launch.close()


def test_depth_launch_brings_the_node_up_with_remaps_and_params_file(depth_launch, weights):
    ros2, launch, _ = depth_launch
    info = ros2.node_info("/side/side_depth")
    assert info["Subscribers"]["/cam/image_raw"] == "sensor_msgs/msg/Image"
    assert info["Subscribers"]["/cam/camera_info"] == "sensor_msgs/msg/CameraInfo"
    for topic, kind in (
        ("/side/depth", "sensor_msgs/msg/Image"),
        ("/side/points", "sensor_msgs/msg/PointCloud2"),
        ("/side/depth/colormap", "sensor_msgs/msg/Image"),
        ("/side/scene", "std_msgs/msg/String"),
    ):
        assert info["Publishers"][topic] == kind
    assert "/side/side_depth/change_state" in info["Service Servers"]
    params = ros2.params("/side/side_depth")  # the params file's values
    assert (params["sigma"], params["device"], params["weights"]["low"]) == (7.5, "cpu", str(weights["low"]))
    assert params["colormap"]["max_depth"] == 50.0 and isinstance(params["colormap"]["max_depth"], float)
    assert len(launch.node_pids()) == 1


def test_topic_echo_once_prints_the_scene(depth_launch):
    ros2, _, camera = depth_launch
    # --full-length: echo cuts strings at 128 characters by default, the JSON is longer
    echo = subprocess.Popen(
        [str(ROS2), "topic", "echo", "--once", "--full-length", "/side/scene", "std_msgs/msg/String", "--no-daemon"],
        env=ros2.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        from side_ros.ros.testing import wait_for

        # the echo is subscribed once /side/scene has a second subscriber besides the camera's probe
        assert wait_for(lambda: camera.probe.count_subscribers("/side/scene") >= 2 or echo.poll() is not None, 60)
        for _ in range(10):
            camera.frame(("scene",))
            try:
                out, _ = echo.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            raise AssertionError("ros2 topic echo --once never printed a message")
    finally:
        if echo.poll() is None:
            echo.kill()
            echo.wait()
    assert echo.returncode == 0, out
    scene = json.loads(yaml.safe_load(out.split("---")[0])["data"])
    assert scene["router"] == "coarse_depth" and scene["range"] in ("low", "high")
    assert scene["frame_id"] == "optical"


def test_read_points_matches_the_pinhole_model_of_depth_camera_info(depth_launch):
    """/side/points read with upstream read_points is the pinhole model of /side/depth and /side/depth/camera_info,
    which is what depth_image_proc's point_cloud_xyz computes from that pair."""
    from sensor_msgs_py import point_cloud2

    from side_ros.ros.testing import depth_array

    _, _, camera = depth_launch
    out = camera.frame(("depth", "points", "depth_info", "confidence"))
    depth, info, cloud = depth_array(out["depth"]), out["depth_info"], out["points"]
    # the pair: same stamp and frame, the depth image's size, the camera's calibration
    assert info.header == out["depth"].header and (info.width, info.height) == (W, H)
    assert info.header.stamp.sec == camera.stamp and info.header.frame_id == "optical"
    assert list(info.k) == [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]
    assert (cloud.height, cloud.width) == (H, W) and cloud.header == out["depth"].header
    points = point_cloud2.read_points(cloud, field_names=("x", "y", "z"), skip_nans=False)
    x, y, z = (np.asarray(points[f], np.float64).reshape(H, W) for f in ("x", "y", "z"))
    v, u = np.mgrid[0:H, 0:W]
    fx, cx, fy, cy = info.p[0], info.p[2], info.p[5], info.p[6]  # image_geometry's PinholeCameraModel: from P
    assert np.isfinite(depth).all()
    np.testing.assert_allclose(z, depth, atol=1e-6, rtol=0)
    np.testing.assert_allclose(x, (u - cx) * depth / fx, atol=1e-6, rtol=0)
    np.testing.assert_allclose(y, (v - cy) * depth / fy, atol=1e-6, rtol=0)
    confidence = depth_array(out["confidence"])
    assert out["confidence"].header == out["depth"].header and confidence.shape == (H, W)
    assert ((confidence >= 0) & (confidence <= 1)).all()


def test_param_set_is_accepted_or_refused_with_the_nodes_reason(depth_launch, weights):
    ros2, _, camera = depth_launch
    node = "/side/side_depth"
    assert "Set parameter successful" in ros2.run("param", "set", node, "sigma", "5")  # an integer, as typed
    assert ros2.params(node)["sigma"] == 5.0
    assert "Set parameter successful" in ros2.run("param", "set", node, "sigma", "9.5")
    refused = ros2.run("param", "set", node, "router", "oracle")
    assert "Setting parameter failed: router must be one of" in refused, refused
    refused = ros2.run("param", "set", node, "weights.low", "/no/such/low.pt")
    assert "Setting parameter failed" in refused and "not found" in refused, refused
    params = ros2.params(node)
    assert (params["router"], params["sigma"], params["weights"]["low"]) == ("coarse_depth", 9.5, str(weights["low"]))
    described = ros2.run("param", "describe", node, "sigma")
    assert "Type: double" in described and "Max value: 1000.0" in described, described
    assert "(unit: m)" in described, described
    assert camera.frame(("depth",))  # still publishing after the refusals


def test_lifecycle_get_and_set(depth_launch):
    from side_ros.ros.testing import wait_for

    ros2, _, camera = depth_launch
    node = "/side/side_depth"
    assert ros2.run("lifecycle", "get", node).strip() == "active [3]"
    assert "Transitioning successful" in ros2.run("lifecycle", "set", node, "deactivate", idempotent=False)
    assert ros2.run("lifecycle", "get", node).strip() == "inactive [2]"
    # inactive: the node stops listening to the camera
    assert wait_for(lambda: camera.probe.image_pub.get_subscription_count() == 0, 30)
    assert "Transitioning successful" in ros2.run("lifecycle", "set", node, "activate", idempotent=False)
    assert camera.frame(("depth",))  # active again


def test_ctrl_c_of_ros2_launch_leaves_no_process(depth_launch, colcon_install):
    _, launch, _ = depth_launch
    pids = launch.node_pids()
    assert pids and processes_of(colcon_install)
    assert launch.ctrl_c() == 0, launch.text()
    # the terminal's SIGINT and the one launch forwards both reach the node: it still exits cleanly
    assert f"process has finished cleanly [pid {pids[0]}]" in launch.text(), launch.text()
    assert "Traceback" not in launch.text(), launch.text()
    assert processes_of(colcon_install) == []


# ------------------------------------------------------------------------------------------ kitti.launch.py
def test_kitti_launch_with_namespace_and_params_file(colcon_install, weights, tmp_path):
    ros2 = Ros2(colcon_install, 22, tmp_path)
    params = params_file(tmp_path, REPO / "config" / "kitti.yaml", weights, top_k=9)
    launch = Launch(
        ros2, tmp_path / "launch.log", "kitti.launch.py", "namespace:=kitti_depth", f"params_file:={params}"
    )
    try:
        launch.wait_for("active: /kitti/camera_color_left/image_raw -> /kitti_depth/depth")
        info = ros2.node_info("/kitti_depth/side_depth")
        assert info["Subscribers"]["/kitti/camera_color_left/image_raw"] == "sensor_msgs/msg/Image"
        assert info["Subscribers"]["/kitti/camera_color_left/camera_info"] == "sensor_msgs/msg/CameraInfo"
        assert {"/kitti_depth/depth", "/kitti_depth/points", "/kitti_depth/scene"} <= set(info["Publishers"])
        assert "/clock" in info["Subscribers"]  # use_sim_time defaults to true for bag replay
        params = ros2.params("/kitti_depth/side_depth")
        assert params["use_sim_time"] is True and params["top_k"] == 9  # sim time default; params file
        assert params["points"]["max_depth"] == 80.0 and params["colormap"]["min_depth"] == 1.0  # kitti.yaml
        # kitti.yaml's QoS override makes the 1.4 MB image subscription reliable
        qos = ros2.until(("topic", "info", "--verbose", "/kitti/camera_color_left/image_raw"), "side_depth\n")
        endpoints = [block for block in qos.split("Node name: ")[1:] if block.startswith("side_depth\n")]
        assert len(endpoints) == 1 and "Endpoint type: SUBSCRIPTION" in endpoints[0], qos
        assert "Reliability: RELIABLE" in endpoints[0], qos
        launch.ctrl_c()
        assert processes_of(colcon_install) == []
    finally:
        launch.close()


# ------------------------------------------------------------------------------------------ RViz
@pytest.mark.parametrize("launch_file", ["depth.launch.py", "kitti.launch.py"])
def test_rviz_is_off_by_default_and_without_rviz2_stops_before_starting_anything(colcon_install, launch_file, tmp_path):
    ros2 = Ros2(colcon_install, 23, tmp_path)
    shown = subprocess.run(
        [str(ROS2), "launch", "side_ros", launch_file, "--show-args"],
        env=ros2.env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert re.search(r"'rviz':\n.*\n\s+\(default: 'false'\)", shown), shown  # what works on a headless machine
    out = subprocess.run(
        [str(ROS2), "launch", "side_ros", launch_file, "rviz:=true"],
        env=ros2.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    errors = [line for line in text.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "rviz2" in errors[0] and "rviz:=false" in errors[0], text
    assert "process started" not in text, text
    assert processes_of(colcon_install) == []


FAKE_RVIZ = """#!/bin/sh
# Stand-in for rviz2 (a C++ GUI, not installable here): records its arguments and the configuration it was given.
printf '%s\\n' "$@" > "$SIDE_FAKE_RVIZ_DIR/args"
while [ $# -gt 0 ]; do
  if [ "$1" = "-d" ]; then cp "$2" "$SIDE_FAKE_RVIZ_DIR/config.rviz"; fi
  shift
done
"""


def test_rviz_config_follows_namespace_and_image(colcon_install, weights, tmp_path):
    fake = tmp_path / "fake_rviz2"
    (fake / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (fake / "share" / "ament_index" / "resource_index" / "packages" / "rviz2").write_text("")
    exe = fake / "lib" / "rviz2" / "rviz2"
    exe.parent.mkdir(parents=True)
    exe.write_text(FAKE_RVIZ)
    exe.chmod(0o755)
    ros2 = Ros2(colcon_install, 24, tmp_path, extra_prefixes=(fake,))
    ros2.env["SIDE_FAKE_RVIZ_DIR"] = str(tmp_path)
    params = params_file(tmp_path, REPO / "config" / "depth.yaml", weights)
    launch = Launch(
        ros2,
        tmp_path / "launch.log",
        "depth.launch.py",
        "rviz:=true",
        "namespace:=robot1/front",
        "image:=camera/image_raw",
        "rviz_frame:=base_link",
        f"params_file:={params}",
    )
    try:
        launch.wait_for("active: /robot1/front/camera/image_raw -> /robot1/front/depth")
        launch.wait_for("process has finished cleanly")  # the stand-in exits at once
        args = (tmp_path / "args").read_text().splitlines()
        generated = Path(args[args.index("-d") + 1])
        assert args[args.index("-f") + 1] == "base_link"
        assert generated.parent != colcon_install / "share" / "side_ros" / "config"
        config = yaml.safe_load((tmp_path / "config.rviz").read_text())
        topics = {d["Name"]: d["Topic"]["Value"] for d in config["Visualization Manager"]["Displays"] if "Topic" in d}
        info = ros2.node_info("/robot1/front/side_depth")
        assert topics["Camera"] == "/robot1/front/camera/image_raw" and topics["Camera"] in info["Subscribers"]
        assert topics["Depth"] == "/robot1/front/depth"
        for name in ("Depth", "Depth colormap", "Points"):
            assert topics[name] in info["Publishers"], (name, topics, info["Publishers"])
        launch.ctrl_c()
        assert not generated.exists()  # the generated file goes with the launch
        assert processes_of(colcon_install) == []
    finally:
        launch.close()

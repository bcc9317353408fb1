"""Helpers for testing the depth node over real DDS: tiny checkpoints, message builders and a probe node.

Used by the package's own tests and the latency benchmark; handy for integration tests of robots that embed the
node. Nothing here is mocked: the probe is an rclpy node that publishes and subscribes through the middleware.
"""

from __future__ import annotations

import array
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String

from side_ros import payloads

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _data(raw: bytes) -> array.array:
    out = array.array("B")
    out.frombytes(raw)
    return out


def image_msg(
    rgb: np.ndarray,
    encoding: str = "rgb8",
    *,
    stamp: tuple[int, int] = (0, 0),
    frame_id: str = "cam",
    step: int | None = None,
) -> Image:
    """An Image of `rgb` (H, W, 3 uint8) in `encoding`, with optional row padding (step > packed row)."""
    if encoding == "rgb8":
        px = rgb
    elif encoding == "bgr8":
        px = rgb[..., ::-1]
    elif encoding in ("rgba8", "bgra8"):
        order = [0, 1, 2] if encoding == "rgba8" else [2, 1, 0]
        px = np.concatenate([rgb[..., order], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    elif encoding == "mono8":
        px = rgb[..., 0]
    elif encoding == "mono16":
        px = rgb[..., 0].astype("<u2") * 257
    else:
        raise ValueError(f"no test builder for {encoding!r}")
    px = np.ascontiguousarray(px)
    h, w = rgb.shape[:2]
    row = px.nbytes // h
    step = row if step is None else step
    buf = np.zeros((h, step), np.uint8)
    buf[:, :row] = px.reshape(h, -1).view(np.uint8)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=step)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.data = _data(buf.tobytes())
    return msg


def compressed_msg(
    rgb: np.ndarray, fmt: str = "jpeg", *, stamp: tuple[int, int] = (0, 0), frame_id: str = "cam"
) -> CompressedImage:
    """A CompressedImage as image_transport's compressed plugin writes it (bgr8 encoded as JPEG or PNG)."""
    import cv2

    ok, enc = cv2.imencode("." + fmt, np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError(f"OpenCV cannot encode {fmt}")
    msg = CompressedImage(format=f"rgb8; {fmt} compressed bgr8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.data = _data(enc.tobytes())
    return msg


def camera_info_msg(
    width: int,
    height: int,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    *,
    frame_id: str = "cam",
    stamp: tuple[int, int] = (0, 0),
) -> CameraInfo:
    """A rectified pinhole CameraInfo (K and P agree, no distortion)."""
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def depth_array(msg: Image) -> np.ndarray:
    """32FC1 Image -> (H, W) float32 (honouring step and byte order)."""
    if msg.encoding != "32FC1":
        raise ValueError(f"expected 32FC1, got {msg.encoding}")
    raw = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 4]
    return np.ascontiguousarray(raw).view(">f4" if msg.is_bigendian else "<f4").astype(np.float32)


def node_arguments(
    checkpoints: dict[str, Path],
    *,
    image: str = "/cam/image",
    camera_info: str = "/cam/camera_info",
    params: dict[str, Any] | None = None,
) -> list[str]:
    """`--ros-args` for the depth node as `ros2 run` would get them: remappings and -p overrides."""
    args = ["--ros-args", "-r", f"image:={image}", "-r", f"camera_info:={camera_info}"]
    values = {f"weights.{k}": str(v) for k, v in checkpoints.items()}
    values.update(params or {})
    for name, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-p", f"{name}:={text}"]
    return args


class Probe(Node):
    """Publishes camera messages and records everything the depth node sends back (thread-safe lists)."""

    def __init__(
        self,
        *,
        namespace: str = "/side",
        image_topic: str = "/cam/image",
        info_topic: str = "/cam/camera_info",
        **kwargs: Any,
    ):
        super().__init__("side_probe", **kwargs)
        self.lock = threading.Lock()
        ns = namespace.rstrip("/")
        topics = {
            "depth": (Image, f"{ns}/depth"),
            "points": (PointCloud2, f"{ns}/points"),
            "colormap": (Image, f"{ns}/depth/colormap"),
            "scene": (String, f"{ns}/scene"),
            "confidence": (Image, f"{ns}/depth/confidence"),
            "depth_info": (CameraInfo, f"{ns}/depth/camera_info"),
            "diagnostics": (DiagnosticArray, "/diagnostics"),
        }
        self.received: dict[str, list[tuple[float, Any]]] = {k: [] for k in topics}
        self.subs = [
            self.create_subscription(t, name, self._recorder(key), RELIABLE) for key, (t, name) in topics.items()
        ]
        self.image_pub = self.create_publisher(Image, image_topic, RELIABLE)
        self.compressed_pub = self.create_publisher(CompressedImage, image_topic + "/compressed", RELIABLE)
        self.info_pub = self.create_publisher(CameraInfo, info_topic, RELIABLE)

    def _recorder(self, key: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            with self.lock:
                self.received[key].append((time.perf_counter(), msg))

        return record

    def messages(self, key: str) -> list[Any]:
        with self.lock:
            return [m for _, m in self.received[key]]

    def clear(self) -> None:
        with self.lock:
            for v in self.received.values():
                v.clear()

    def last_diagnostics(self) -> dict[str, str]:
        """Values of the newest /diagnostics message from the depth node."""
        for msg in reversed(self.messages("diagnostics")):
            values = payloads.diagnostic_values(msg)
            if values:
                return values
        return {}

    def matched(self, compressed: bool = False) -> bool:
        """Whether the depth node's subscriptions see our publishers (so nothing published is lost)."""
        image = self.compressed_pub if compressed else self.image_pub
        return image.get_subscription_count() > 0 and self.info_pub.get_subscription_count() > 0


def wait_for(predicate: Callable[[], bool], timeout: float, period: float = 0.02) -> bool:
    """Poll until predicate() is true or timeout seconds pass (executors spin in their own threads)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(period)
    return predicate()


def node_env(domain: int, **extra: str) -> dict[str, str]:
    """Environment of a node process under test: this machine only, its own domain, unbuffered logs, one OpenMP
    thread (tests run side by side), and this package importable with `-m`."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env.update(
        {
            "ROS_DOMAIN_ID": str(domain),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
            "PYTHONPATH": os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p),
        }
    )
    env.update(extra)
    return env


def spin_until_shutdown(executor: SingleThreadedExecutor) -> None:
    """Spin in a test's background thread; the executor's context going away at the end is not an error."""
    try:
        executor.spin()
    except Exception:  # the context is shut down at the end
        pass


class NodeProcess:
    """The depth node as its own process (`python -m side_ros.ros.depth_node ARGS`, own process group, log to a
    file), with a Probe and a parameter client in this process on a context of their own."""

    def __init__(
        self,
        args: list[str],
        log_path: Path,
        domain: int,
        *,
        module: list[str] | None = None,
        cwd: Path | None = None,
        probe: dict[str, Any] | None = None,
    ):
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = [sys.executable, *(module or ["-m", "side_ros.ros.depth_node"]), *args]
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=node_env(domain), cwd=cwd, start_new_session=True
        )
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.probe = Probe(context=self.ctx, **(probe or {}))
        self.params = AsyncParameterClient(self.probe, "/side/side_depth")
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.probe)
        threading.Thread(target=spin_until_shutdown, args=(self.executor,), daemon=True).start()

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def set(self, **values: Any) -> list[Any]:
        """Set parameters as `ros2 param set` does (`a__b=1` sets `a.b`); the SetParametersResult of each."""
        assert self.params.wait_for_services(timeout_sec=30), "no parameter services"
        future = self.params.set_parameters([Parameter(k.replace("__", "."), value=v) for k, v in values.items()])
        assert wait_for(future.done, 30), "parameter service did not answer"
        return future.result().results

    def depth_for(self, stamp: int, timeout: float = 30.0) -> bool:
        """Whether a depth image with this stamp (seconds) arrives within `timeout`."""
        return wait_for(lambda: any(m.header.stamp.sec == stamp for m in self.probe.messages("depth")), timeout)

    def close(self, timeout: float = 20.0) -> None:
        """SIGINT as a terminal sends it (kill after `timeout`), then the probe's side."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.executor.shutdown(timeout_sec=5)
        self.probe.destroy_node()
        rclpy.shutdown(context=self.ctx)
        self.log.close()

"""The demo's ROS half: the depth node as a child process, the bag's camera replayed to it in lockstep over
rclpy, and everything the node publishes recorded; side_ros/demo.py analyses the recording and writes the files.

DDS stays on this machine: the node's environment gets the demo's ROS_DOMAIN_ID and
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, and this process records in an rclpy context of that domain, limited to
localhost; the caller's os.environ is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor

from side_ros import payloads
from side_ros.bags.io import default_typestore
from side_ros.bags.lidar import cdr_header_stamp
from side_ros.console import CliError
from side_ros.demo import NAMESPACE, OUTPUT_TOPICS, DemoPlan, DemoRun, FrameRecord
from side_ros.ros.replay import BagReplayer, TopicRecorder

INFO_LEAD_S = 0.05  # images go out at least this long after their camera_info (another subscription)
DISCOVERY_RANGE = "ROS_AUTOMATIC_DISCOVERY_RANGE"


class NodeProcess:
    """The depth node as a child process with its log in a file; stopped with SIGINT like `ros2 run`'s Ctrl-C."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str]):
        self.log_path = log_path
        self._log = open(log_path, "w")  # closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._log.close()
        return self.proc.returncode


def node_command(
    image_topic: str, info_topic: str, weights: dict[str, Path], device: str, sigma: float | None = None
) -> list[str]:
    """The node's command line: the sample's camera topics, the weights, sigma, reliable subscriptions (no frame
    lost between processes; the node's default is sensor-data best effort)."""
    args = [
        sys.executable,
        "-m",
        "side_ros.ros.depth_node",
        "--ros-args",
        "-r",
        f"image:={image_topic}",
        "-r",
        f"camera_info:={info_topic}",
        "-p",
        "router:=coarse_depth",
        "-p",
        f"device:={device}",
        "-p",
        "diagnostics_period:=0.5",
        # the sample's frames are unrelated scenes, not one stream: route each on its own (the paper's way)
        "-p",
        "routing.route_every:=1",
        "-p",
        "routing.min_dwell:=0",
        "-p",
        "routing.hysteresis_sigma:=0.0",
        "-p",
        "routing.hysteresis_votes:=0.0",
    ]
    if sigma is not None:
        args += ["-p", f"sigma:={float(sigma)}"]
    for which, path in weights.items():
        args += ["-p", f"weights.{which}:={path}"]
    for topic in (image_topic, info_topic):
        args += [
            "-p",
            f"qos_overrides.{topic}.subscription.reliability:=reliable",
            "-p",
            f"qos_overrides.{topic}.subscription.depth:=10",
        ]
    return args


@contextlib.contextmanager
def localhost_context(domain_id: int) -> Iterator[rclpy.Context]:
    """An initialized rclpy context of `domain_id` that discovers on this machine only.

    The domain id goes through rclpy's API; the discovery range has none (rcl reads ROS_AUTOMATIC_DISCOVERY_RANGE
    once, when a context is initialized), so it is LOCALHOST for that moment and the caller's value comes back.
    """
    context = rclpy.Context()
    before = os.environ.get(DISCOVERY_RANGE)
    os.environ[DISCOVERY_RANGE] = "LOCALHOST"
    try:
        rclpy.init(context=context, domain_id=domain_id)
    finally:
        if before is None:
            del os.environ[DISCOVERY_RANGE]
        else:
            os.environ[DISCOVERY_RANGE] = before
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@dataclass
class _Lockstep:
    """What the replay gate and the recorder share: the frame in flight, the node's answers and diagnostics."""

    frames: list[FrameRecord]
    image_topic: str
    info_topic: str
    node: NodeProcess
    frame_timeout: float
    cond: threading.Condition = field(default_factory=threading.Condition)
    diags: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    current: FrameRecord | None = None
    settled: bool = True
    info_at: float = 0.0

    def __post_init__(self) -> None:
        self.by_stamp = {f.stamp: f for f in self.frames}
        self.ts = default_typestore()

    def on_message(self, item: Any) -> None:
        """Recorder thread: file each output under its frame (by the header stamp; the scene's is in its JSON)."""
        with self.cond:
            if item.topic == "/diagnostics":
                values = payloads.diagnostic_values(
                    self.ts.deserialize_cdr(item.raw, "diagnostic_msgs/msg/DiagnosticArray")
                )
                if values:
                    self.diags.append((item.perf, values))
            else:
                if item.topic == f"{NAMESPACE}/scene":
                    data = json.loads(self.ts.deserialize_cdr(item.raw, "std_msgs/msg/String").data)
                    stamp = int(data["stamp"]["sec"]) * 1_000_000_000 + int(data["stamp"]["nanosec"])
                else:
                    stamp = cdr_header_stamp(item.raw)
                f = self.by_stamp.get(stamp)
                if f is not None and item.topic not in f.outputs:
                    f.outputs[item.topic] = item
                    if item.topic == f"{NAMESPACE}/depth":
                        f.depth_at = item.perf
            self.cond.notify_all()

    def gate(self, msg: Any) -> None:
        """Before the next message: wait until the node answered the last image (depth, then its cloud and colour
        map), so the next camera_info cannot overtake the frame still being processed; images go out at least
        INFO_LEAD_S after their camera_info, which travels on another subscription."""
        prev = self.current
        if prev is not None and not self.settled:
            end = time.monotonic() + self.frame_timeout
            with self.cond:
                self.cond.wait_for(
                    lambda: prev.depth_at is not None or not self.node.alive or time.monotonic() > end,
                    timeout=self.frame_timeout,
                )
                if prev.depth_at is not None:
                    self.cond.wait_for(lambda: len(prev.outputs) >= 4 or not self.node.alive, timeout=2.0)
            self.settled = True
        if msg.topic == self.image_topic:
            wait = self.info_at + INFO_LEAD_S - time.perf_counter()
            if wait > 0:
                time.sleep(wait)

    def on_publish(self, msg: Any, perf: float) -> None:
        if msg.topic == self.info_topic:
            self.info_at = perf
        elif msg.topic == self.image_topic:
            f = self.by_stamp.get(cdr_header_stamp(msg.raw))
            if f is not None:
                f.published = perf
                self.current, self.settled = f, False

    def last_diagnostics(self) -> dict[str, str]:
        with self.cond:
            return self.diags[-1][1] if self.diags else {}

    def wait_ready(self, player: BagReplayer, timeout: float) -> None:
        """Until the node subscribes to the camera and says on /diagnostics that it can process frames."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.node.alive:
                raise CliError(
                    f"the depth node exited (code {self.node.proc.returncode}) before it was ready:\n"
                    + self.node.tail()
                )
            values = self.last_diagnostics()
            if values.get("state") in ("unconfigured", "finalized") or values.get("_level") == "2":
                raise CliError(f"the depth node cannot process frames: {values.get('_message')}")
            if player.subscription_count(self.image_topic) > 0 and player.subscription_count(self.info_topic) > 0:
                break
            time.sleep(0.05)
        else:
            raise CliError(
                f"the depth node did not subscribe to {self.image_topic} within {timeout:.0f} s:\n" + self.node.tail()
            )
        t0 = time.perf_counter()
        with self.cond:
            ok = self.cond.wait_for(lambda: any(t > t0 for t, _ in self.diags) or not self.node.alive, timeout=10.0)
        values = self.last_diagnostics()
        if not ok or not values:
            raise CliError(
                "no /diagnostics from the depth node within 10 s (is DDS on localhost working?):\n" + self.node.tail()
            )
        if values.get("_level") == "2":
            raise CliError(f"the depth node cannot process frames: {values.get('_message')}")

    def wait_finished(self) -> None:
        """After the replay: the last frame's answer, the cloud and colour map that follow each depth, and one
        more /diagnostics (device, final frame accounting)."""
        last = self.current
        end = time.monotonic() + self.frame_timeout
        with self.cond:
            self.cond.wait_for(
                lambda: last is None or last.depth_at is not None or not self.node.alive or time.monotonic() > end,
                timeout=self.frame_timeout,
            )
            t_last = time.perf_counter()
            self.cond.wait_for(
                lambda: all(len(f.outputs) >= 4 for f in self.frames if f.depth_at is not None) or not self.node.alive,
                timeout=3.0,
            )
            self.cond.wait_for(lambda: any(t > t_last for t, _ in self.diags) or not self.node.alive, timeout=3.0)


def record(
    plan: DemoPlan, *, device: str, sigma: float | None, rate: float, startup_timeout: float, frame_timeout: float
) -> DemoRun:
    """Start the node, replay the plan's camera to it in lockstep, and record everything it publishes."""
    env = {**os.environ, "ROS_DOMAIN_ID": str(plan.domain_id), DISCOVERY_RANGE: "LOCALHOST"}
    src_root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cam = plan.camera
    print(
        f"side-demo: starting the depth node (ROS_DOMAIN_ID={plan.domain_id}, localhost only"
        + (f", sigma {sigma:.3f} m" if sigma is not None else "")
        + ") ...",
        flush=True,
    )
    node_proc = NodeProcess(node_command(cam.image, cam.info, plan.weights, device, sigma), plan.out / "node.log", env)
    lockstep = _Lockstep(plan.frames, cam.image, cam.info, node_proc, frame_timeout)
    t_begin = time.perf_counter()
    try:
        with localhost_context(plan.domain_id) as context:
            executor = SingleThreadedExecutor(context=context)
            try:
                node = rclpy.create_node("side_demo", context=context)
                recorder = TopicRecorder(node, OUTPUT_TOPICS, on_message=lockstep.on_message)
                executor.add_node(node)
                threading.Thread(target=executor.spin, daemon=True).start()
                player = BagReplayer(
                    node,
                    plan.bag,
                    rate=rate,
                    topics=[cam.info, cam.image],
                    qos="reliable",
                    gate=lockstep.gate,
                    on_publish=lockstep.on_publish,
                )
                lockstep.wait_ready(player, startup_timeout)
                print(
                    f"side-demo: node ready after {time.perf_counter() - t_begin:.1f} s; replaying "
                    f"{len(plan.frames)} frames of {plan.bag}",
                    flush=True,
                )
                player.run()
                lockstep.wait_finished()
                received = {t: recorder.messages(t) for t in OUTPUT_TOPICS}
                node.destroy_node()
            finally:
                executor.shutdown(timeout_sec=2.0)
    finally:
        died = not node_proc.alive
        code = node_proc.stop()
    return DemoRun(
        plan=plan,
        received=received,
        diagnostics=lockstep.last_diagnostics(),
        node_exit=code,
        node_died=died,
        wall_s=time.perf_counter() - t_begin,
    )

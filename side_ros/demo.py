"""`side-demo`: the package's main job in one command, on a fresh machine.

It starts the real depth node (`side_ros.ros.depth_node`, a separate process) on the shipped weights, replays the
sample bag's camera over real ROS 2 topics (DDS on this machine only: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and
a ROS_DOMAIN_ID of its own), records everything the node publishes, and writes what a person wants to look at:

  <out>/mosaic.png       per frame: input | predicted depth | ground truth (same colour scale) | chosen vs true range
  <out>/ply/*.ply        the node's point cloud of each frame (XYZ + colour, camera optical frame)
  <out>/bag/             MCAP bag: the sample's messages plus everything the node published (ros2 bag play it)
  <out>/summary.txt      the printed summary (also summary.json: every number, per frame)
  <out>/node.log         the node's own log

Frames are replayed in lockstep: the next image is published when the node has answered the previous one (or
after --frame-timeout), so a slow CPU cannot drop frames; the recorded spacing of the bag is kept otherwise.
Every frame is reported answered or missing, with the reason (from the node's /diagnostics when it dropped one).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from side_ros.cli.common import CliError, check_output_dir, entry, weight_path
from side_ros.routing.options import DEFAULT_SIGMA

DEFAULT_BAG = "data/sample/side_sample"
DEFAULT_DOMAIN_ID = 46
NAMESPACE = "/side"
OUTPUT_TOPICS = {f"{NAMESPACE}/depth": "sensor_msgs/msg/Image", f"{NAMESPACE}/points": "sensor_msgs/msg/PointCloud2",
                 f"{NAMESPACE}/depth/colormap": "sensor_msgs/msg/Image", f"{NAMESPACE}/scene": "std_msgs/msg/String",
                 "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}
TILE_WIDTH = 320
INFO_LEAD_S = 0.05


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="side-demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bag", default=DEFAULT_BAG, help="bag to replay (default: the shipped sample)")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--low", help="low-range weights (default: the shipped models/low.pt)")
    p.add_argument("--high", help="high-range weights (default: models/high.pt)")
    p.add_argument("--coarse", help="coarse depth weights for the coarse_depth router (default: models/coarse.pt)")
    p.add_argument("--device", default="auto", help="node device: auto, cpu, cuda or cuda:N")
    p.add_argument("--sigma", type=float, default=None,
                   help="coarse-depth threshold in m (default: the coarse checkpoint's recommended_sigma, "
                   f"else {DEFAULT_SIGMA:g})")
    p.add_argument("--domain-id", type=int, default=DEFAULT_DOMAIN_ID, help="ROS_DOMAIN_ID used (0..101)")
    p.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds for the node to come up")
    p.add_argument("--frame-timeout", type=float, default=120.0, help="seconds to wait for the node's answer")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ the node
class NodeProcess:
    """The depth node as a child process with its log in a file; stopped with SIGINT like `ros2 run`'s Ctrl-C."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str]):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

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


def node_command(image_topic: str, info_topic: str, weights: dict[str, Path], device: str,
                 sigma: float | None = None) -> list[str]:
    """The node's command line: the sample's camera topics, the weights, sigma, reliable subscriptions (no frame
    lost between processes; the node's default is sensor-data best effort)."""
    args = [sys.executable, "-m", "side_ros.ros.depth_node", "--ros-args",
            "-r", f"image:={image_topic}", "-r", f"camera_info:={info_topic}",
            "-p", "router:=coarse_depth", "-p", f"device:={device}", "-p", "diagnostics_period:=0.5"]
    if sigma is not None:
        args += ["-p", f"sigma:={float(sigma)}"]
    for which, path in weights.items():
        args += ["-p", f"weights.{which}:={path}"]
    for topic in (image_topic, info_topic):
        args += ["-p", f"qos_overrides.{topic}.subscription.reliability:=reliable",
                 "-p", f"qos_overrides.{topic}.subscription.depth:=10"]
    return args


# ------------------------------------------------------------------------------------------------ results
@dataclass
class FrameRecord:
    """One camera frame of the replay and what came back for it."""

    index: int
    stamp: int
    log_time: int
    width: int = 0
    height: int = 0
    published: float | None = None  # perf_counter at publish
    depth_at: float | None = None  # perf_counter at /side/depth receipt
    outputs: dict[str, Any] = field(default_factory=dict)  # topic -> Received
    true_range: str | None = None
    kind: str | None = None
    chosen: str | None = None
    router: str | None = None
    score: float | None = None
    metrics: dict[str, float] | None = None
    cloud_points: int = 0
    missing: str | None = None
    cloud_missing: str | None = None

    @property
    def latency_ms(self) -> float | None:
        if self.published is None or self.depth_at is None:
            return None
        return 1000.0 * (self.depth_at - self.published)


def _diag_values(ts: Any, raw: bytes) -> dict[str, str]:
    """The node's KeyValues (+ _level, _message) from a DiagnosticArray's CDR bytes."""
    msg = ts.deserialize_cdr(raw, "diagnostic_msgs/msg/DiagnosticArray")
    for status in msg.status:
        if "depth estimation" in status.name:
            out = {kv.key: kv.value for kv in status.values}
            out["_level"] = str(int(status.level))
            out["_message"] = status.message
            return out
    return {}


def _dropped(values: dict[str, str], prefix: str = "dropped.") -> Counter:
    return Counter({k[len(prefix):]: int(float(v)) for k, v in values.items() if k.startswith(prefix)})


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Everything of the demo except the final files; returns the collected results."""
    from side_ros.bags.io import BagReader
    from side_ros.bags.lidar import cdr_header_stamp
    from side_ros.bags.topics import find_camera_topics
    from side_ros.resources import resolve

    bag = resolve(args.bag)
    if not bag.exists():
        raise CliError(f"sample bag not found: {bag}")
    with BagReader(bag) as reader:
        cam = find_camera_topics(reader, require_info=False)
        if cam.compressed:
            raise CliError("the demo replays raw images; this bag's camera is a CompressedImage topic")
        if cam.info is None:
            raise CliError(f"bag {bag} has no camera_info (the point clouds need it)")
        frames = [FrameRecord(i, cdr_header_stamp(m.raw), m.log_time)
                  for i, m in enumerate(reader.messages([cam.image]))]
    if not frames:
        raise CliError(f"bag {bag} has no message on {cam.image}")
    weights = {w: weight_path(getattr(args, w), w) for w in ("low", "high", "coarse")}
    if not 0 <= args.domain_id <= 101:
        raise CliError(f"--domain-id must be in 0..101, got {args.domain_id}")
    out = check_output_dir(args.output)
    if (out / "bag").exists() and not (out / "bag" / "metadata.yaml").is_file():
        raise CliError(f"{out / 'bag'} exists and is not a bag from an earlier demo; choose another --output")
    try:
        import rclpy  # noqa: F401
    except ImportError as exc:
        raise CliError("the demo needs ROS 2's rclpy: run scripts/setup.sh (pip install -e '.[ros,bags]') or "
                       "source a ROS 2 installation") from exc

    os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env = dict(os.environ)
    src_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from side_ros.bags.io import default_typestore
    from side_ros.ros.replay import BagReplayer, TopicRecorder

    ts = default_typestore()
    by_stamp = {f.stamp: f for f in frames}
    cond = threading.Condition()
    diags: list[tuple[float, dict[str, str]]] = []

    def on_message(item: Any) -> None:
        with cond:
            if item.topic == "/diagnostics":
                values = _diag_values(ts, item.raw)
                if values:
                    diags.append((item.perf, values))
            else:
                if item.topic == f"{NAMESPACE}/scene":
                    data = json.loads(ts.deserialize_cdr(item.raw, "std_msgs/msg/String").data)
                    stamp = int(data["stamp"]["sec"]) * 1_000_000_000 + int(data["stamp"]["nanosec"])
                else:
                    stamp = cdr_header_stamp(item.raw)
                f = by_stamp.get(stamp)
                if f is not None and item.topic not in f.outputs:
                    f.outputs[item.topic] = item
                    if item.topic == f"{NAMESPACE}/depth":
                        f.depth_at = item.perf
            cond.notify_all()

    sigma = args.sigma  # None: the node follows the coarse checkpoint's calibration itself
    print(f"side-demo: starting the depth node (ROS_DOMAIN_ID={args.domain_id}, localhost only"
          + (f", sigma {sigma:.3f} m" if sigma is not None else "") + ") ...", flush=True)
    node_proc = NodeProcess(node_command(cam.image, cam.info, weights, args.device, sigma), out / "node.log", env)
    rclpy.init()
    executor = SingleThreadedExecutor()
    t_begin = time.perf_counter()
    try:
        node = rclpy.create_node("side_demo")
        recorder = TopicRecorder(node, OUTPUT_TOPICS, on_message=on_message)
        executor.add_node(node)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()

        current: dict[str, Any] = {"frame": None, "settled": True, "info_at": 0.0}

        def gate(msg: Any) -> None:
            """Before the next message: wait until the node answered the last image (depth, then its cloud and
            colour map), so the next camera_info cannot overtake the frame still being processed; images go out
            at least INFO_LEAD_S after their camera_info, which travels on another subscription."""
            prev = current["frame"]
            if prev is not None and not current["settled"]:
                end = time.monotonic() + args.frame_timeout
                with cond:
                    cond.wait_for(lambda: prev.depth_at is not None or not node_proc.alive
                                  or time.monotonic() > end, timeout=args.frame_timeout)
                    if prev.depth_at is not None:
                        cond.wait_for(lambda: len(prev.outputs) >= 4 or not node_proc.alive, timeout=2.0)
                current["settled"] = True
            if msg.topic == cam.image:
                wait = current["info_at"] + INFO_LEAD_S - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)

        def on_publish(msg: Any, perf: float) -> None:
            if msg.topic == cam.info:
                current["info_at"] = perf
            elif msg.topic == cam.image:
                f = by_stamp.get(cdr_header_stamp(msg.raw))
                if f is not None:
                    f.published = perf
                    current["frame"], current["settled"] = f, False

        player = BagReplayer(node, bag, rate=args.rate, topics=[cam.info, cam.image], qos="reliable", gate=gate,
                             on_publish=on_publish)
        _wait_ready(player, cam, node_proc, cond, diags, args.startup_timeout)
        print(f"side-demo: node ready after {time.perf_counter() - t_begin:.1f} s; replaying {len(frames)} frames "
              f"of {bag}", flush=True)
        player.run()
        # The last frame: wait for its answer, then a moment for the cloud / colour map that follow the depth.
        last = current["frame"]
        end = time.monotonic() + args.frame_timeout
        with cond:
            cond.wait_for(lambda: last is None or last.depth_at is not None or not node_proc.alive
                          or time.monotonic() > end, timeout=args.frame_timeout)
            t_last = time.perf_counter()
            cond.wait_for(lambda: all(len(f.outputs) >= 4 for f in frames if f.depth_at is not None)
                          or not node_proc.alive, timeout=3.0)
            # One more /diagnostics after everything (device, final frame accounting).
            cond.wait_for(lambda: any(t > t_last for t, _ in diags) or not node_proc.alive, timeout=3.0)
        received = {t: recorder.messages(t) for t in OUTPUT_TOPICS}
        node.destroy_node()
    finally:
        executor.shutdown(timeout_sec=2.0)
        rclpy.try_shutdown()
        died = not node_proc.alive
        code = node_proc.stop()
    wall = time.perf_counter() - t_begin
    final_diag = diags[-1][1] if diags else {}
    return {"bag": bag, "out": out, "camera": cam, "frames": frames, "received": received, "diagnostics": final_diag,
            "node_exit": code, "node_log_tail": node_proc.tail(), "node_died": died,
            "weights": weights, "wall_s": wall, "domain_id": args.domain_id}


def _wait_ready(player: Any, cam: Any, node_proc: NodeProcess, cond: threading.Condition,
                diags: list[tuple[float, dict[str, str]]], timeout: float) -> None:
    """Until the node subscribes to the camera and says on /diagnostics that it can process frames."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not node_proc.alive:
            raise CliError(f"the depth node exited (code {node_proc.proc.returncode}) before it was ready:\n"
                           + node_proc.tail())
        with cond:
            values = diags[-1][1] if diags else {}
        if values.get("state") in ("unconfigured", "finalized") or values.get("_level") == "2":
            raise CliError(f"the depth node cannot process frames: {values.get('_message')}")
        if player.subscription_count(cam.image) > 0 and player.subscription_count(cam.info) > 0:
            break
        time.sleep(0.05)
    else:
        raise CliError(f"the depth node did not subscribe to {cam.image} within {timeout:.0f} s:\n"
                       + node_proc.tail())
    t0 = time.perf_counter()
    with cond:
        ok = cond.wait_for(lambda: any(t > t0 for t, _ in diags) or not node_proc.alive, timeout=10.0)
        values = diags[-1][1] if diags else {}
    if not ok or not values:
        raise CliError("no /diagnostics from the depth node within 10 s (is DDS on localhost working?):\n"
                       + node_proc.tail())
    if values.get("_level") == "2":
        raise CliError(f"the depth node cannot process frames: {values.get('_message')}")


# ------------------------------------------------------------------------------------------------ analysis
def analyse(res: dict[str, Any]) -> dict[str, Any]:
    """Decode the node's answers, compare with the ground truth, write PLYs; returns the summary data."""
    from side_ros import geometry
    from side_ros import metrics as M
    from side_ros.bags import messages as bm
    from side_ros.bags.io import default_typestore
    from side_ros.bags.sample import read_ground_truth

    ts = default_typestore()
    frames: list[FrameRecord] = res["frames"]
    gt = read_ground_truth(res["bag"])
    diag = res["diagnostics"]
    node_dropped = _dropped(diag)
    cloud_dropped = _dropped(diag, "clouds_dropped.")
    acc = M.DepthMetricAccumulator(protocol="kitti_benchmark")
    ply_dir = res["out"] / "ply"
    if ply_dir.is_dir():
        for old in ply_dir.glob("frame_*.ply"):
            old.unlink()
    ply_dir.mkdir(parents=True, exist_ok=True)
    depth_topic, scene_topic, points_topic = (f"{NAMESPACE}/depth", f"{NAMESPACE}/scene", f"{NAMESPACE}/points")
    images: dict[int, dict[str, np.ndarray | None]] = {}
    for f in frames:
        g = gt.get(f.stamp)
        f.true_range, f.kind = (g.range, g.kind) if g else (None, None)
        pred = None
        if depth_topic in f.outputs:
            pred = bm.image_depth(ts.deserialize_cdr(f.outputs[depth_topic].raw, "sensor_msgs/msg/Image"))
            f.height, f.width = pred.shape
        if scene_topic in f.outputs:
            data = json.loads(ts.deserialize_cdr(f.outputs[scene_topic].raw, "std_msgs/msg/String").data)
            f.chosen, f.router, f.score = data.get("range"), data.get("router"), data.get("score")
        if pred is None:
            if f.published is None:
                f.missing = "not published (the replay stopped early)"
            elif res["node_died"]:
                f.missing = f"node exited with code {res['node_exit']}"
            elif node_dropped:
                f.missing = "dropped by the node: " + ", ".join(f"{k} ({v})" for k, v in node_dropped.items())
            else:
                f.missing = "no answer within the frame timeout"
        if points_topic in f.outputs:
            xyz, rgb = bm.cloud_xyz(ts.deserialize_cdr(f.outputs[points_topic].raw, "sensor_msgs/msg/PointCloud2"))
            name = f"frame_{f.index:02d}_{f.kind or 'frame'}.ply"
            f.cloud_points = geometry.write_ply(ply_dir / name, xyz, rgb)
        elif pred is not None:
            f.cloud_missing = ("dropped by the node: " + ", ".join(cloud_dropped)) if cloud_dropped \
                else "no point cloud received"
        if pred is not None and g is not None and g.depth is not None and g.depth.shape == pred.shape:
            finite = np.isfinite(pred)
            row = acc.update(pred, np.nan_to_num(g.depth, nan=0.0), mask=finite, group=f.true_range,
                             name=str(f.index))[0]
            if row[0] > 0:
                f.metrics = M.metrics_from_stats(row)
        images[f.index] = {"pred": pred, "gt": None if g is None else g.depth}
    answered = [f for f in frames if f.chosen is not None and f.true_range is not None]
    routing = M.routing_accuracy([f.chosen for f in answered], [f.true_range for f in answered],
                                 labels=("low", "high")) if answered else None
    return {"frames": frames, "routing": routing, "accumulator": acc, "images": images}


def _rgb_frames(bag: Path, image_topic: str) -> dict[int, np.ndarray]:
    from side_ros.bags.io import BagReader
    from side_ros.bags.messages import stamp_ns
    from side_ros.image_conversion import message_to_rgb

    out = {}
    with BagReader(bag) as reader:
        for m in reader.messages([image_topic]):
            msg = reader.deserialize(m)
            out[stamp_ns(msg.header.stamp)] = np.array(message_to_rgb(msg))
    return out


def _tile(img: np.ndarray, width: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    height = max(1, round(h * width / w))
    return np.asarray(Image.fromarray(img).resize((width, height), Image.BILINEAR))


def make_mosaic(frames: list[FrameRecord], rgbs: dict[int, np.ndarray], images: dict[int, dict[str, Any]],
                path: Path, tile_width: int = TILE_WIDTH) -> None:
    """One row per frame: input | predicted depth | ground truth (colour scale of the ground truth), labelled."""
    from PIL import Image, ImageDraw, ImageFont

    from side_ros import geometry

    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    rows = []
    gap = 4
    label_h = 36
    for f in frames:
        rgb = rgbs.get(f.stamp)
        if rgb is None:
            continue
        pred, gt = images.get(f.index, {}).get("pred"), images.get(f.index, {}).get("gt")
        scale_src = gt if gt is not None and np.isfinite(gt).any() else pred
        lo, hi = geometry.depth_limits(np.nan_to_num(scale_src, nan=0.0)) if scale_src is not None else (0.0, 1.0)
        t_in = _tile(rgb, tile_width)
        blank = np.zeros_like(t_in)
        t_pred = _tile(geometry.colorize_depth(pred, lo, hi, order="rgb"), tile_width) if pred is not None else blank
        t_gt = _tile(geometry.colorize_depth(gt, lo, hi, order="rgb"), tile_width) if gt is not None else blank
        strip = np.full((label_h + t_in.shape[0], 3 * tile_width + 2 * gap, 3), 255, np.uint8)
        for k, t in enumerate((t_in, t_pred, t_gt)):
            strip[label_h:label_h + t.shape[0], k * (tile_width + gap):k * (tile_width + gap) + tile_width] = t
        im = Image.fromarray(strip)
        draw = ImageDraw.Draw(im)
        ok = f.chosen is not None and f.chosen == f.true_range
        verdict = "" if f.chosen is None or f.true_range is None else ("  correct" if ok else "  WRONG")
        head = (f"frame {f.index}: {f.kind or '?'} {rgb.shape[1]}x{rgb.shape[0]}   chosen range: {f.chosen or '-'}"
                f"   true range: {f.true_range or '-'}{verdict}")
        lat = f.latency_ms
        sub = ("input  |  predicted depth  |  ground truth" + f"   (colours {lo:.1f}-{hi:.1f} m)"
               + (f"   REL {f.metrics['abs_rel']:.3f}" if f.metrics else "")
               + (f"   latency {lat:.0f} ms" if lat is not None else "") + (f"   MISSING: {f.missing}" if f.missing
                                                                               else ""))
        draw.text((4, 2), head, fill=(0, 120, 0) if ok else (170, 0, 0) if verdict else (0, 0, 0), font=font)
        draw.text((4, 18), sub, fill=(40, 40, 40), font=font)
        rows.append(np.asarray(im))
    if not rows:
        return
    width = max(r.shape[1] for r in rows)
    mosaic = np.full((sum(r.shape[0] for r in rows) + gap * (len(rows) - 1), width, 3), 255, np.uint8)
    y = 0
    for r in rows:
        mosaic[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0] + gap
    Image.fromarray(mosaic).save(path)


def write_bag(res: dict[str, Any], path: Path) -> int:
    """The sample's messages plus the node's outputs; outputs are logged at their frame's log time plus the
    measured latency, so `ros2 bag play` shows them when the node produced them."""
    from side_ros.bags.io import BagReader, BagWriter

    frames: list[FrameRecord] = res["frames"]
    pubs = sorted((f.published, f.log_time) for f in frames if f.published is not None)

    def log_time_of(perf: float) -> int:
        before = [p for p in pubs if p[0] <= perf]
        base = before[-1] if before else (pubs[0] if pubs else (perf, frames[0].log_time))
        return int(base[1] + max(0.0, perf - base[0]) * 1e9)

    n = 0
    with BagReader(res["bag"]) as reader, BagWriter(path, "mcap", overwrite=True, compress=True) as writer:
        for conn in reader.connections:
            writer.copy_topic(conn, reader.typestore)
        for topic, msgtype in OUTPUT_TOPICS.items():
            writer.add_topic(topic, msgtype)
        items = [(log_time_of(r.perf), r.topic, r.raw) for msgs in res["received"].values() for r in msgs]
        items += [(m.log_time, m.topic, bytes(m.raw)) for m in reader.messages()]
        for log_time, topic, raw in sorted(items, key=lambda x: x[0]):
            writer.write_raw(topic, log_time, raw)
            n += 1
    return n


def summary_text(res: dict[str, Any], ana: dict[str, Any], files: dict[str, str]) -> str:
    from side_ros import metrics as M

    frames: list[FrameRecord] = ana["frames"]
    diag = res["diagnostics"]
    answered = [f for f in frames if f.depth_at is not None]
    complete = [f for f in answered if len(f.outputs) >= 4]
    lines = ["", "=" * 78, "side_ros demo: the real depth node on the sample bag, over ROS 2 topics",
             "=" * 78,
             f"bag:      {res['bag']} ({res['camera'].image} + {res['camera'].info})",
             f"node:     side_ros.ros.depth_node as /side/side_depth, ROS_DOMAIN_ID={res['domain_id']}, localhost",
             f"device:   {diag.get('device', 'unknown (no /diagnostics received)')}",
             "weights:  " + ", ".join(f"{k} {v}" for k, v in res["weights"].items()),
             f"frames:   {len(frames)} replayed, {len(answered)} answered with depth "
             f"({len(complete)} with depth, scene, point cloud and colour map), "
             f"{len(frames) - len(answered)} missing"]
    for f in frames:
        if f.missing:
            lines.append(f"          frame {f.index} missing: {f.missing}")
        elif f.cloud_missing:
            lines.append(f"          frame {f.index} point cloud missing: {f.cloud_missing}")
    routing = ana["routing"]
    if routing is not None:
        correct = int(np.trace(routing.confusion))
        lines += ["", f"Routing accuracy: {routing.accuracy:.3f} ({correct}/{routing.num_images} frames put in "
                  "their true depth range)", routing.to_markdown()]
    acc = ana["accumulator"]
    if acc.num_images:
        rows = {f"{k} range ({sum(1 for f in frames if f.true_range == k and f.metrics)} frames)": v
                for k, v in acc.compute_groups().items()}
        rows[f"all ({acc.num_images} frames)"] = acc.compute()
        lines += ["", "Depth metrics against the ground truth (mean over frames, KITTI benchmark definitions):",
                  M.format_table(rows, ["abs_rel", "rmse", "mae", "silog", "delta1", "delta2", "delta3"],
                                 title="true range")]
    lines += ["", "Per frame (latency: image published -> /side/depth received, both in this process):",
              "| frame | scene | size | true | chosen | score | latency (ms) | REL | RMSE (m) | cloud points |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for f in frames:
        score = "-" if f.score is None else f"{f.score:.2f}"
        lat = "-" if f.latency_ms is None else f"{f.latency_ms:.0f}"
        rel = "-" if not f.metrics else f"{f.metrics['abs_rel']:.3f}"
        rmse = "-" if not f.metrics else f"{f.metrics['rmse']:.2f}"
        size = f"{f.width}x{f.height}" if f.width else "-"
        lines.append(f"| {f.index} | {f.kind or '-'} | {size} | {f.true_range or '-'} | {f.chosen or '-'} | {score} "
                     f"| {lat} | {rel} | {rmse} | {f.cloud_points} |")
    lats = [f.latency_ms for f in frames if f.latency_ms is not None]
    if lats:
        lines.append(f"latency: mean {np.mean(lats):.0f} ms, median {np.median(lats):.0f} ms, "
                     f"max {np.max(lats):.0f} ms")
    stages = {k.split(".", 1)[1]: float(v) for k, v in diag.items() if k.startswith("latency_ms.")}
    if stages:
        lines.append("node's own median time per stage (ms, from /diagnostics): "
                     + ", ".join(f"{k} {v:.1f}" for k, v in sorted(stages.items())))
    lines += ["", "Files:"] + [f"  {k:<12} {v}" for k, v in files.items()]
    lines.append(f"(demo took {res['wall_s']:.1f} s from starting the node)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the real node on the sample bag and write the mosaic, clouds, bag and summary."""
    args = parse_args(argv)
    if args.rate <= 0:
        raise CliError(f"--rate must be positive, got {args.rate}")
    res = run_demo(args)
    ana = analyse(res)
    out: Path = res["out"]
    rgbs = _rgb_frames(res["bag"], res["camera"].image)
    make_mosaic(ana["frames"], rgbs, ana["images"], out / "mosaic.png")
    bag_path = out / "bag"
    n = write_bag(res, bag_path)
    files = {"mosaic": str(out / "mosaic.png"), "clouds": f"{out / 'ply'} ({len(list((out / 'ply').glob('*.ply')))} "
             "PLY files)", "bag": f"{bag_path} ({n} messages, MCAP; `ros2 bag play {bag_path}`)",
             "summary": str(out / "summary.txt") + " and summary.json", "node log": str(out / "node.log")}
    text = summary_text(res, ana, files)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    (out / "summary.json").write_text(json.dumps(_summary_json(res, ana), indent=2, default=str))
    answered = sum(1 for f in ana["frames"] if f.depth_at is not None)
    if answered == 0:
        raise CliError("the node answered no frame (see the summary above and node.log)")
    return 0


def _summary_json(res: dict[str, Any], ana: dict[str, Any]) -> dict[str, Any]:
    routing = ana["routing"]
    acc = ana["accumulator"]
    return {
        "bag": str(res["bag"]), "device": res["diagnostics"].get("device"), "domain_id": res["domain_id"],
        "frames": [{"index": f.index, "stamp_ns": f.stamp, "kind": f.kind, "true_range": f.true_range,
                    "chosen_range": f.chosen, "router": f.router, "score": f.score, "latency_ms": f.latency_ms,
                    "metrics": f.metrics, "cloud_points": f.cloud_points, "missing": f.missing,
                    "cloud_missing": f.cloud_missing, "width": f.width, "height": f.height} for f in ana["frames"]],
        "routing_accuracy": None if routing is None else routing.accuracy,
        "metrics_by_range": {str(k): v for k, v in acc.compute_groups().items()} if acc.num_images else {},
        "metrics_all": acc.compute() if acc.num_images else {},
        "node_diagnostics": res["diagnostics"], "wall_s": res["wall_s"],
    }


run = entry(main)

if __name__ == "__main__":
    run()

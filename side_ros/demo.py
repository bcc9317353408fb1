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

This module checks the inputs, analyses what came back and writes the files, without ROS; the node process, the
replay and the recording are side_ros/ros/demo_session.py.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from side_ros.cli.common import check_output_dir, weight_path
from side_ros.console import CliError, entry
from side_ros.routing.options import DEFAULT_SIGMA

DEFAULT_BAG = "data/sample/side_sample"
DEFAULT_DOMAIN_ID = 46
NAMESPACE = "/side"
OUTPUT_TOPICS = {
    f"{NAMESPACE}/depth": "sensor_msgs/msg/Image",
    f"{NAMESPACE}/points": "sensor_msgs/msg/PointCloud2",
    f"{NAMESPACE}/depth/colormap": "sensor_msgs/msg/Image",
    f"{NAMESPACE}/scene": "std_msgs/msg/String",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
TILE_WIDTH = 320


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="side-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bag", default=DEFAULT_BAG, help="bag to replay (default: the shipped sample)")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--low", help="low-range weights (default: the shipped models/low.pt)")
    p.add_argument("--high", help="high-range weights (default: models/high.pt)")
    p.add_argument("--coarse", help="coarse depth weights for the coarse_depth router (default: models/coarse.pt)")
    p.add_argument("--device", default="auto", help="node device: auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="coarse-depth threshold in m (default: the coarse checkpoint's recommended_sigma, "
        f"else {DEFAULT_SIGMA:g})",
    )
    p.add_argument("--domain-id", type=int, default=DEFAULT_DOMAIN_ID, help="ROS_DOMAIN_ID used (0..101)")
    p.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds for the node to come up")
    p.add_argument("--frame-timeout", type=float, default=120.0, help="seconds to wait for the node's answer")
    return p.parse_args(argv)


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


def _dropped(values: dict[str, str], prefix: str = "dropped.") -> Counter:
    return Counter({k[len(prefix) :]: int(float(v)) for k, v in values.items() if k.startswith(prefix)})


@dataclass
class DemoPlan:
    """The checked inputs: the bag and its camera topics, one FrameRecord per image, weights, output folder."""

    bag: Path
    camera: Any  # side_ros.bags.topics.CameraTopics
    frames: list[FrameRecord]
    weights: dict[str, Path]
    out: Path
    domain_id: int


@dataclass
class DemoRun:
    """What the replay recorded (side_ros/ros/demo_session.py): the node's messages per topic, its last
    /diagnostics values, how it ended; the frames of the plan carry what came back for each."""

    plan: DemoPlan
    received: dict[str, list[Any]]
    diagnostics: dict[str, str]
    node_exit: int | None
    node_died: bool
    wall_s: float


@dataclass
class Analysis:
    """The node's answers compared with the ground truth: routing accuracy, depth metrics, images per frame."""

    frames: list[FrameRecord]
    routing: Any  # metrics.RoutingReport, None when no frame was answered
    accumulator: Any  # metrics.DepthMetricAccumulator
    images: dict[int, dict[str, np.ndarray | None]]


def plan_demo(args: argparse.Namespace) -> DemoPlan:
    """Check everything the demo needs before starting a node: the bag and its camera, weights, output folder."""
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
        frames = [
            FrameRecord(i, cdr_header_stamp(m.raw), m.log_time) for i, m in enumerate(reader.messages([cam.image]))
        ]
    if not frames:
        raise CliError(f"bag {bag} has no message on {cam.image}")
    weights = {w: weight_path(getattr(args, w), w) for w in ("low", "high", "coarse")}
    if not 0 <= args.domain_id <= 101:
        raise CliError(f"--domain-id must be in 0..101, got {args.domain_id}")
    out = check_output_dir(args.output)
    if (out / "bag").exists() and not (out / "bag" / "metadata.yaml").is_file():
        raise CliError(f"{out / 'bag'} exists and is not a bag from an earlier demo; choose another --output")
    return DemoPlan(bag, cam, frames, weights, out, args.domain_id)


# ------------------------------------------------------------------------------------------------ analysis
def analyse(run: DemoRun) -> Analysis:
    """Decode the node's answers, compare with the ground truth, write PLYs; returns the summary data."""
    from side_ros import geometry, payloads
    from side_ros import metrics as M
    from side_ros.bags.io import default_typestore
    from side_ros.bags.sample import read_ground_truth

    ts = default_typestore()
    frames = run.plan.frames
    gt = read_ground_truth(run.plan.bag)
    diag = run.diagnostics
    node_dropped = _dropped(diag)
    cloud_dropped = _dropped(diag, "clouds_dropped.")
    acc = M.DepthMetricAccumulator(protocol="kitti_benchmark")
    ply_dir = run.plan.out / "ply"
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
            pred = payloads.image_depth(ts.deserialize_cdr(f.outputs[depth_topic].raw, "sensor_msgs/msg/Image"))
            f.height, f.width = pred.shape
        if scene_topic in f.outputs:
            data = json.loads(ts.deserialize_cdr(f.outputs[scene_topic].raw, "std_msgs/msg/String").data)
            f.chosen, f.router, f.score = data.get("range"), data.get("router"), data.get("score")
        if pred is None:
            if f.published is None:
                f.missing = "not published (the replay stopped early)"
            elif run.node_died:
                f.missing = f"node exited with code {run.node_exit}"
            elif node_dropped:
                f.missing = "dropped by the node: " + ", ".join(f"{k} ({v})" for k, v in node_dropped.items())
            else:
                f.missing = "no answer within the frame timeout"
        if points_topic in f.outputs:
            cloud = ts.deserialize_cdr(f.outputs[points_topic].raw, "sensor_msgs/msg/PointCloud2")
            xyz, rgb = payloads.cloud_xyz(cloud)
            name = f"frame_{f.index:02d}_{f.kind or 'frame'}.ply"
            f.cloud_points = geometry.write_ply(ply_dir / name, xyz, rgb)
        elif pred is not None:
            f.cloud_missing = (
                ("dropped by the node: " + ", ".join(cloud_dropped)) if cloud_dropped else "no point cloud received"
            )
        if pred is not None and g is not None and g.depth is not None and g.depth.shape == pred.shape:
            finite = np.isfinite(pred)
            row = acc.update(pred, np.nan_to_num(g.depth, nan=0.0), mask=finite, group=f.true_range, name=str(f.index))[
                0
            ]
            if row[0] > 0:
                f.metrics = M.metrics_from_stats(row)
        images[f.index] = {"pred": pred, "gt": None if g is None else g.depth}
    answered = [f for f in frames if f.chosen is not None and f.true_range is not None]
    routing = (
        M.routing_accuracy([f.chosen for f in answered], [f.true_range for f in answered], labels=("low", "high"))
        if answered
        else None
    )
    return Analysis(frames, routing, acc, images)


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


def make_mosaic(
    frames: list[FrameRecord],
    rgbs: dict[int, np.ndarray],
    images: dict[int, dict[str, Any]],
    path: Path,
    tile_width: int = TILE_WIDTH,
) -> None:
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
            strip[label_h : label_h + t.shape[0], k * (tile_width + gap) : k * (tile_width + gap) + tile_width] = t
        im = Image.fromarray(strip)
        draw = ImageDraw.Draw(im)
        ok = f.chosen is not None and f.chosen == f.true_range
        verdict = "" if f.chosen is None or f.true_range is None else ("  correct" if ok else "  WRONG")
        head = (
            f"frame {f.index}: {f.kind or '?'} {rgb.shape[1]}x{rgb.shape[0]}   chosen range: {f.chosen or '-'}"
            f"   true range: {f.true_range or '-'}{verdict}"
        )
        lat = f.latency_ms
        sub = (
            "input  |  predicted depth  |  ground truth"
            + f"   (colours {lo:.1f}-{hi:.1f} m)"
            + (f"   REL {f.metrics['abs_rel']:.3f}" if f.metrics else "")
            + (f"   latency {lat:.0f} ms" if lat is not None else "")
            + (f"   MISSING: {f.missing}" if f.missing else "")
        )
        draw.text((4, 2), head, fill=(0, 120, 0) if ok else (170, 0, 0) if verdict else (0, 0, 0), font=font)
        draw.text((4, 18), sub, fill=(40, 40, 40), font=font)
        rows.append(np.asarray(im))
    if not rows:
        return
    width = max(r.shape[1] for r in rows)
    mosaic = np.full((sum(r.shape[0] for r in rows) + gap * (len(rows) - 1), width, 3), 255, np.uint8)
    y = 0
    for r in rows:
        mosaic[y : y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + gap
    Image.fromarray(mosaic).save(path)


def write_bag(run: DemoRun, path: Path) -> int:
    """The sample's messages plus the node's outputs; outputs are logged at their frame's log time plus the
    measured latency, so `ros2 bag play` shows them when the node produced them."""
    from side_ros.bags.io import BagReader, BagWriter

    frames = run.plan.frames
    pubs = sorted((f.published, f.log_time) for f in frames if f.published is not None)

    def log_time_of(perf: float) -> int:
        before = [p for p in pubs if p[0] <= perf]
        base = before[-1] if before else (pubs[0] if pubs else (perf, frames[0].log_time))
        return int(base[1] + max(0.0, perf - base[0]) * 1e9)

    n = 0
    with BagReader(run.plan.bag) as reader, BagWriter(path, "mcap", overwrite=True, compress=True) as writer:
        for conn in reader.connections:
            writer.copy_topic(conn, reader.typestore)
        for topic, msgtype in OUTPUT_TOPICS.items():
            writer.add_topic(topic, msgtype)
        items = [(log_time_of(r.perf), r.topic, r.raw) for msgs in run.received.values() for r in msgs]
        items += [(m.log_time, m.topic, bytes(m.raw)) for m in reader.messages()]
        for log_time, topic, raw in sorted(items, key=lambda x: x[0]):
            writer.write_raw(topic, log_time, raw)
            n += 1
    return n


def summary_text(run: DemoRun, ana: Analysis, files: dict[str, str]) -> str:
    from side_ros import metrics as M

    frames = ana.frames
    diag = run.diagnostics
    plan = run.plan
    answered = [f for f in frames if f.depth_at is not None]
    complete = [f for f in answered if len(f.outputs) >= 4]
    lines = [
        "",
        "=" * 78,
        "side_ros demo: the real depth node on the sample bag, over ROS 2 topics",
        "=" * 78,
        f"bag:      {plan.bag} ({plan.camera.image} + {plan.camera.info})",
        f"node:     side_ros.ros.depth_node as /side/side_depth, ROS_DOMAIN_ID={plan.domain_id}, localhost",
        f"device:   {diag.get('device', 'unknown (no /diagnostics received)')}",
        "weights:  " + ", ".join(f"{k} {v}" for k, v in plan.weights.items()),
        f"frames:   {len(frames)} replayed, {len(answered)} answered with depth "
        f"({len(complete)} with depth, scene, point cloud and colour map), "
        f"{len(frames) - len(answered)} missing",
    ]
    for f in frames:
        if f.missing:
            lines.append(f"          frame {f.index} missing: {f.missing}")
        elif f.cloud_missing:
            lines.append(f"          frame {f.index} point cloud missing: {f.cloud_missing}")
    routing = ana.routing
    if routing is not None:
        correct = int(np.trace(routing.confusion))
        lines += [
            "",
            f"Routing accuracy: {routing.accuracy:.3f} ({correct}/{routing.num_images} frames put in "
            "their true depth range)",
            routing.to_markdown(),
        ]
    acc = ana.accumulator
    if acc.num_images:
        rows = {
            f"{k} range ({sum(1 for f in frames if f.true_range == k and f.metrics)} frames)": v
            for k, v in acc.compute_groups().items()
        }
        rows[f"all ({acc.num_images} frames)"] = acc.compute()
        lines += [
            "",
            "Depth metrics against the ground truth (mean over frames, KITTI benchmark definitions):",
            M.format_table(rows, ["abs_rel", "rmse", "mae", "silog", "delta1", "delta2", "delta3"], title="true range"),
        ]
    lines += [
        "",
        "Per frame (latency: image published -> /side/depth received, both in this process):",
        "| frame | scene | size | true | chosen | score | latency (ms) | REL | RMSE (m) | cloud points |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in frames:
        score = "-" if f.score is None else f"{f.score:.2f}"
        lat = "-" if f.latency_ms is None else f"{f.latency_ms:.0f}"
        rel = "-" if not f.metrics else f"{f.metrics['abs_rel']:.3f}"
        rmse = "-" if not f.metrics else f"{f.metrics['rmse']:.2f}"
        size = f"{f.width}x{f.height}" if f.width else "-"
        lines.append(
            f"| {f.index} | {f.kind or '-'} | {size} | {f.true_range or '-'} | {f.chosen or '-'} | {score} "
            f"| {lat} | {rel} | {rmse} | {f.cloud_points} |"
        )
    lats = [f.latency_ms for f in frames if f.latency_ms is not None]
    if lats:
        lines.append(
            f"latency: mean {np.mean(lats):.0f} ms, median {np.median(lats):.0f} ms, max {np.max(lats):.0f} ms"
        )
    stages = {k.split(".", 1)[1]: float(v) for k, v in diag.items() if k.startswith("latency_ms.")}
    if stages:
        lines.append(
            "node's own median time per stage (ms, from /diagnostics): "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(stages.items()))
        )
    lines += ["", "Files:"] + [f"  {k:<12} {v}" for k, v in files.items()]
    lines.append(f"(demo took {run.wall_s:.1f} s from starting the node)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the real node on the sample bag and write the mosaic, clouds, bag and summary."""
    args = parse_args(argv)
    if args.rate <= 0:
        raise CliError(f"--rate must be positive, got {args.rate}")
    plan = plan_demo(args)
    try:
        from side_ros.ros.demo_session import record
    except ImportError as exc:
        raise CliError(
            f"the demo needs ROS 2's rclpy ({exc}): run scripts/setup.sh (pip install -e "
            "'.[ros,bags]') or source a ROS 2 installation"
        ) from exc
    run = record(
        plan,
        device=args.device,
        sigma=args.sigma,
        rate=args.rate,
        startup_timeout=args.startup_timeout,
        frame_timeout=args.frame_timeout,
    )
    ana = analyse(run)
    out = plan.out
    rgbs = _rgb_frames(plan.bag, plan.camera.image)
    make_mosaic(ana.frames, rgbs, ana.images, out / "mosaic.png")
    bag_path = out / "bag"
    n = write_bag(run, bag_path)
    files = {
        "mosaic": str(out / "mosaic.png"),
        "clouds": f"{out / 'ply'} ({len(list((out / 'ply').glob('*.ply')))} PLY files)",
        "bag": f"{bag_path} ({n} messages, MCAP; `ros2 bag play {bag_path}`)",
        "summary": str(out / "summary.txt") + " and summary.json",
        "node log": str(out / "node.log"),
    }
    text = summary_text(run, ana, files)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    (out / "summary.json").write_text(json.dumps(_summary_json(run, ana), indent=2, default=str))
    answered = sum(1 for f in ana.frames if f.depth_at is not None)
    if answered == 0:
        raise CliError("the node answered no frame (see the summary above and node.log)")
    return 0


def _summary_json(run: DemoRun, ana: Analysis) -> dict[str, Any]:
    routing, acc = ana.routing, ana.accumulator
    return {
        "bag": str(run.plan.bag),
        "device": run.diagnostics.get("device"),
        "domain_id": run.plan.domain_id,
        "frames": [
            {
                "index": f.index,
                "stamp_ns": f.stamp,
                "kind": f.kind,
                "true_range": f.true_range,
                "chosen_range": f.chosen,
                "router": f.router,
                "score": f.score,
                "latency_ms": f.latency_ms,
                "metrics": f.metrics,
                "cloud_points": f.cloud_points,
                "missing": f.missing,
                "cloud_missing": f.cloud_missing,
                "width": f.width,
                "height": f.height,
            }
            for f in ana.frames
        ],
        "routing_accuracy": None if routing is None else routing.accuracy,
        "metrics_by_range": {str(k): v for k, v in acc.compute_groups().items()} if acc.num_images else {},
        "metrics_all": acc.compute() if acc.num_images else {},
        "node_diagnostics": run.diagnostics,
        "wall_s": run.wall_s,
    }


run = entry(main)

if __name__ == "__main__":
    run()

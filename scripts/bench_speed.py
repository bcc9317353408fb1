#!/usr/bin/env python3
"""Side-by-side speed: the routed pipeline on each execution path against Depth-Anything-V2-Small, and the node.

    python scripts/bench_speed.py                         # everything: 2 threads, 7 rounds, node for 20 s
    python scripts/bench_speed.py --rounds 9 --json speed.json
    python scripts/bench_speed.py --no-node --no-peer     # only the pipeline rows
    python scripts/bench_speed.py --compile               # also torch.compile (minutes of compiling on a CPU)

In one process, every round runs every item once, in an order rotated per round, so background load falls on all
items alike: medians, min-max and ratios are comparable within a run. Input: a 640x480 RGB frame (a procedural
indoor room), through the whole pipeline (upload, resize to the canvas, networks, decoding, resize back, copy out).

- Routed pipeline, paper-size networks (random weights: time does not depend on the values) and the shipped
  weights (models/*.pt, reduced working size), on each execution path: `reference` (float32, as trained: plain
  layout, BatchNorm separate), `float32` (channels-last, BatchNorm folded), `auto` (what the pipeline and node run
  by default: on CPUs with native bf16 the depth networks in bf16, the router in float32), optionally `bfloat16`
  (every network in bf16) and `compile` (--compile). Indoor = coarse router + low-range network, outdoor = coarse
  router + high-range network (sigma set so the router picks that range; the router runs every frame).
  "between re-routes" is a frame of a stream whose RoutingSchedule does not run the router; "default schedule"
  is the average frame when the router runs every `route_every` frames (ScheduleSettings default), from the two.
- Depth-Anything-V2-Small: the transformers architecture (DINOv2-S backbone + DPT head, 24.8 M parameters,
  random weights, SDPA attention) at 392x518 and at 518x518 (what the ika and GerdsenAI ROS nodes feed it),
  network only, float32 and bf16 autocast (on CPUs with native bf16). Needs `pip install -e .[bench]`.
- "CPU ms" is the process's CPU time per call (all threads, spinning included): with --threads 1 it is a measure
  that load from other processes barely inflates, for comparing paths on a busy machine.
- ONNX Runtime (float32, CPU provider) for the paper-size low-range network, to compare with PyTorch's rows.
- The node: `side_depth` in its own process with default parameters and the shipped weights; a camera publishes
  640x480 rgb8 + camera_info at 30 Hz for --node-seconds; sustained depth rate and publish-to-receipt latency.
  The image subscription is made reliable (README: large best-effort images are lost between processes).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from side_ros.execution import ExecutionPath, choose_path, cpu_flags, native_bf16  # noqa: E402
from side_ros.pipeline import RobustDepthPipeline  # noqa: E402
from side_ros.preprocess import crop, prepare, resize  # noqa: E402
from side_ros.routing.schedule import RoutingSchedule, ScheduleSettings  # noqa: E402

HIGH_SIGMA, LOW_SIGMA = 1e3, 1e-2  # sigma that sends every image to the low / high range


class Item:
    def __init__(self, name: str, path: str, fn: Callable[[], object], group: str):
        self.name, self.path, self.fn, self.group = name, path, fn, group
        self.times: list[float] = []
        self.cpu: list[float] = []

    def run(self) -> None:
        c0, t0 = time.process_time(), time.perf_counter()
        self.fn()
        self.times.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)

    @property
    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.times)


def indoor_frame() -> np.ndarray:
    """A 640x480 procedural room (HxWx3 uint8), the kind of frame the low-range path serves."""
    from side_ros.scenes import ProceduralDataset

    rgb = ProceduralDataset([800_000], kinds=("indoor",), size=(640, 480))[0]["rgb"]
    return (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def paper_checkpoints(directory: Path) -> dict[str, Path]:
    from side_ros.networks.checkpoint import save_sidenet_checkpoint
    from side_ros.networks.config import coarse_config, high_range_config, low_range_config
    from side_ros.networks.sidenet import DSSIDENet

    torch.manual_seed(0)
    configs = {"low": low_range_config(), "high": high_range_config(), "coarse": coarse_config()}
    return {
        k: save_sidenet_checkpoint(DSSIDENet(c).eval(), directory / f"{k}.pt", inference_only=True)
        for k, c in configs.items()
    }


def shipped_checkpoints() -> dict[str, Path]:
    from side_ros.resources import default_model

    return {k: default_model(k) for k in ("low", "high", "coarse")}


def pipeline_items(
    label: str, ckpts: dict[str, Path], path_name: str, rgb: np.ndarray, per_network: bool
) -> list[Item]:
    """The routed pipeline's rows for one set of weights on one execution path. One pipeline per scene, so that
    sigma (which picks the range) never changes between calls and a stream's schedule never re-routes."""
    precision = {
        "reference": "float32",
        "float32": "float32",
        "auto": "auto",
        "bfloat16": "bfloat16",
        "compile": "auto",
    }[path_name]
    pipes = {}
    for scene, sigma in (("indoor", HIGH_SIGMA), ("outdoor", LOW_SIGMA)):
        pipe = RobustDepthPipeline.from_files(
            ckpts["low"],
            ckpts["high"],
            ckpts["coarse"],
            device="cpu",
            precision=precision,
            sigma=sigma,
            graph="compile" if path_name == "compile" else "auto",
        )
        if path_name == "reference":
            _use_reference(pipe)
        t0 = time.perf_counter()
        pipe.warm_up(rgb.shape[:2])
        print(
            f"  {label} / {scene} / {path_name}: {pipe.describe()}; warm-up {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        pipes[scene] = pipe
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    items = []
    if per_network:
        pipe = pipes["indoor"]
        items += [
            Item(f"{label}: coarse network (router), 640x480", path_name, lambda: pipe.route(t), label),
            Item(f"{label}: low-range network, 640x480", path_name, lambda: pipe.depth_for_range(t, "low"), label),
            Item(f"{label}: high-range network, 640x480", path_name, lambda: pipe.depth_for_range(t, "high"), label),
        ]

    def between(pipe: RobustDepthPipeline) -> Callable[[], object]:
        schedule = RoutingSchedule(route_every=10**9, drift=0.0)
        pipe(rgb, schedule=schedule)  # the stream's first frame is routed; the timed ones are not
        return lambda: pipe(rgb, schedule=schedule)

    for scene, net in (("indoor", "low"), ("outdoor", "high")):
        pipe = pipes[scene]
        items += [
            Item(
                f"{label}: routed {scene} (coarse + {net}), router every frame",
                path_name,
                lambda pipe=pipe: pipe(rgb),
                label,
            ),
            Item(f"{label}: {scene}, frame between re-routes ({net} only)", path_name, between(pipe), label),
        ]
    return items


def _use_reference(pipe: RobustDepthPipeline) -> None:
    """Run the networks exactly as loaded (float32, contiguous, BatchNorm unfolded): the reference path."""
    for which in ("low", "high", "coarse"):
        pipe._run[which] = pipe.reference_network(which)  # the benchmark's baseline
    pipe.path = pipe.router_path = ExecutionPath.reference()


def depth_anything_items(bf16: bool) -> list[Item]:
    """Depth-Anything-V2-Small's architecture (config as published for depth-anything/Depth-Anything-V2-Small-hf)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        mlp_ratio=4,
        image_size=518,
        patch_size=14,
        out_features=["stage9", "stage10", "stage11", "stage12"],
        reshape_hidden_states=False,
        apply_layernorm=True,
        attn_implementation="sdpa",
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=384,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[48, 96, 192, 384],
        fusion_hidden_size=64,
        head_hidden_size=32,
        depth_estimation_type="relative",
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config).eval()  # the DINOv2 backbone attends through SDPA
    params = sum(p.numel() for p in model.parameters()) / 1e6
    items = []
    for h, w in ((392, 518), (518, 518)):
        x = torch.rand(1, 3, h, w)

        def run(x: torch.Tensor = x, autocast: bool = False) -> object:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                return model(pixel_values=x).predicted_depth

        run()
        items.append(Item(f"Depth-Anything-V2-Small ({params:.1f} M), {h}x{w}", "float32", run, "peer"))
        if bf16:
            run(autocast=True)
            items.append(
                Item(
                    f"Depth-Anything-V2-Small ({params:.1f} M), {h}x{w}",
                    "bf16 autocast",
                    lambda run=run: run(autocast=True),
                    "peer",
                )
            )
    return items


def onnx_items(ckpts: dict[str, Path], rgb: np.ndarray) -> list[Item]:
    """The paper-size low-range network through ONNX Runtime (float32), pre/post-processing as the pipeline's."""
    import onnxruntime as ort

    from side_ros.networks.checkpoint import load_sidenet
    from side_ros.networks.sidenet import DepthExport

    model, _ = load_sidenet(ckpts["low"])
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    canvas = prepare(t, model.config).tensor

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = DepthExport(model).model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m(x, branches=("cl",))["cls_logits"]

    buf = io.BytesIO()
    torch.onnx.export(
        Logits().eval(), (canvas,), buf, input_names=["x"], output_names=["logits"], opset_version=17, dynamo=False
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def run() -> object:
        prep = prepare(t, model.config)
        logits = torch.from_numpy(session.run(None, {"x": prep.tensor.numpy()})[0])
        depth = model.decode_depth({"cls_logits": crop(logits, prep)})
        return resize(depth, (prep.orig_h, prep.orig_w), depth=True)

    run()
    return [Item("paper-size: low-range network, 640x480", "onnxruntime float32", run, "paper-size")]


def bench_node(args: argparse.Namespace, rgb: np.ndarray) -> dict[str, object]:
    """The node in its own process, default parameters, shipped weights, 640x480 rgb8 at 30 Hz."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo, Image

    from side_ros.payloads import diagnostic_values
    from side_ros.ros.testing import RELIABLE, camera_info_msg, image_msg, node_arguments

    env = dict(
        os.environ,
        ROS_DOMAIN_ID=str(args.domain),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    params = {"qos_overrides./cam/image.subscription.reliability": "reliable"}
    cmd = [sys.executable, "-m", "side_ros.ros.depth_node", *node_arguments({}, params=params)]
    log = open(Path(tempfile.gettempdir()) / "side_bench_node.log", "w")  # closed in the finally below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=args.domain)
    node = Node("side_bench_camera", context=ctx)
    lock = threading.Lock()
    sent: dict[tuple[int, int], float] = {}
    got: list[tuple[float, tuple[int, int]]] = []
    diags: list[dict[str, str]] = []

    def on_depth(msg: Image) -> None:
        now = time.perf_counter()
        with lock:
            got.append((now, (msg.header.stamp.sec, msg.header.stamp.nanosec)))

    def on_diag(msg: DiagnosticArray) -> None:
        values = diagnostic_values(msg)
        if values:
            with lock:
                diags.append(values)

    node.create_subscription(Image, "/side/depth", on_depth, RELIABLE)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, RELIABLE)
    image_pub = node.create_publisher(Image, "/cam/image", RELIABLE)
    info_pub = node.create_publisher(CameraInfo, "/cam/camera_info", RELIABLE)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    result: dict[str, object] = {}
    try:
        t_start = time.perf_counter()
        deadline = t_start + args.node_startup
        while image_pub.get_subscription_count() == 0 and time.perf_counter() < deadline:
            time.sleep(0.1)
        if image_pub.get_subscription_count() == 0:
            raise RuntimeError(f"the node did not subscribe within {args.node_startup} s (log: {log.name})")
        startup = time.perf_counter() - t_start
        period, k = 1.0 / 30.0, 0
        warm_until = measure_from = None
        t0 = time.perf_counter()
        while True:
            now = time.perf_counter()
            with lock:
                first = got[0][0] if got else None
            if first is not None and warm_until is None:
                warm_until = first + 3.0  # let the stream settle after the first answer
            if warm_until is not None and measure_from is None and now >= warm_until:
                measure_from = now
            if measure_from is not None and now >= measure_from + args.node_seconds:
                break
            if now - t0 > args.node_startup + args.node_seconds + 10:
                raise RuntimeError("no depth came back from the node")
            stamp = (k + 1, 0)
            info_pub.publish(camera_info_msg(640, 480, 525.0, 525.0, 319.5, 239.5, stamp=stamp))
            msg = image_msg(rgb, stamp=stamp)
            with lock:
                sent[stamp] = time.perf_counter()
            image_pub.publish(msg)
            k += 1
            time.sleep(max(0.0, t0 + k * period - time.perf_counter()))
        end = time.perf_counter()
        time.sleep(1.5)  # frames in flight at the end still count for latency, not for the rate window
        with lock:
            window = [(t, s) for t, s in got if measure_from <= t <= end]
            latencies = [t - sent[s] for t, s in got if s in sent and sent[s] >= measure_from]
            diag = diags[-1] if diags else {}
            published = sum(1 for s, t in sent.items() if measure_from <= t <= end)
        result = {
            "seconds": end - measure_from,
            "published_hz": published / (end - measure_from),
            "depth_hz": len(window) / (end - measure_from),
            "frames": len(latencies),
            "latency_median_ms": 1e3 * statistics.median(latencies) if latencies else float("nan"),
            "latency_p90_ms": 1e3 * float(np.percentile(latencies, 90)) if latencies else float("nan"),
            "startup_s": startup,
            "device": diag.get("device", "?"),
            "last_decision": diag.get("last_decision"),
            "node_dropped": {k: v for k, v in diag.items() if k.startswith("dropped.")},
            "node_stage_ms": {k.split(".", 1)[1]: v for k, v in diag.items() if k.startswith("latency_ms.")},
        }
    finally:
        executor.shutdown(timeout_sec=5)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return result


def print_table(items: list[Item], paths: list[str], args: argparse.Namespace, load_after: tuple) -> None:
    """The markdown table: every item's medians, min-max, CPU time and ratios, plus the default schedule's rows."""
    every = ScheduleSettings().route_every
    rows = [
        (i.name, i.path, i.median_ms, 1e3 * min(i.times), 1e3 * max(i.times), 1e3 * statistics.median(i.cpu))
        for i in items
    ]
    by_key = {(i.name, i.path): (i.median_ms, 1e3 * statistics.median(i.cpu)) for i in items}
    for label in ("paper-size", "shipped weights"):
        for p in paths:
            for scene, net in (("indoor", "low"), ("outdoor", "high")):
                routed = by_key.get((f"{label}: routed {scene} (coarse + {net}), router every frame", p))
                between = by_key.get((f"{label}: {scene}, frame between re-routes ({net} only)", p))
                if routed is not None and between is not None:
                    avg = [(r + (every - 1) * b) / every for r, b in zip(routed, between, strict=True)]
                    rows.append(
                        (
                            f"{label}: **routed {scene}, default schedule** (router every {every} frames)",
                            p,
                            avg[0],
                            float("nan"),
                            float("nan"),
                            avg[1],
                        )
                    )
    column = 5 if args.ratios == "cpu" else 2
    base = {
        p: next((r[column] for r in rows if "Depth-Anything" in r[0] and "392x518" in r[0] and r[1] == p), None)
        for p in ("float32", "bf16 autocast")
    }
    order = {"peer": 0, "paper-size": 1, "shipped weights": 2}
    rows.sort(key=lambda r: (order.get(r[0].split(":")[0] if ":" in r[0] else "peer", 0), r[0], r[1]))

    def ratio(row: tuple, key: str) -> str:
        return f"{row[column] / base[key]:.2f}" if base.get(key) else "-"

    print(
        f"\nmedians of {args.rounds} interleaved rounds, 640x480 input, {args.threads} threads; "
        f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; ratios of the "
        f"{'CPU time' if args.ratios == 'cpu' else 'wall time'} medians; 'computed': the default schedule's "
        f"average frame, (router frame + {every - 1} frames between re-routes) / {every}\n"
    )
    print("| item | path | median ms | min-max ms | CPU ms | x DA-V2-S fp32 392x518 | x DA-V2-S bf16 392x518 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        name, p, med, lo, hi, cpu_ms = row
        span = "computed" if lo != lo else f"{lo:.0f}-{hi:.0f}"
        print(
            f"| {name} | {p} | {med:.0f} | {span} | {cpu_ms:.0f} | {ratio(row, 'float32')} | "
            f"{ratio(row, 'bf16 autocast')} |"
        )


def time_items(args: argparse.Namespace, paths: list[str], rgb: np.ndarray, bf16: bool) -> list[Item]:
    """Prepare every item (each warmed up), then time them in interleaved rounds."""
    items: list[Item] = []
    with tempfile.TemporaryDirectory() as tmp:
        paper = paper_checkpoints(Path(tmp))
        print("preparing (each path is warmed up before timing):", flush=True)
        if not args.no_peer:
            items += depth_anything_items(bf16)
        for p in paths:
            items += pipeline_items("paper-size", paper, p, rgb, per_network=True)
        if not args.no_shipped:
            for p in paths:
                items += pipeline_items("shipped weights", shipped_checkpoints(), p, rgb, per_network=False)
        if not args.no_onnx:
            try:
                items += onnx_items(paper, rgb)
            except ImportError as exc:
                print(f"  ONNX Runtime skipped: {exc}")
        for item in items:  # one untimed call each: every path starts its timed rounds warm
            item.fn()
        print(f"timing {len(items)} items x {args.rounds} rounds, interleaved", flush=True)
        for r in range(args.rounds):
            shift = r % len(items)
            for item in items[shift:] + items[:shift]:
                item.run()
            print(f"  round {r + 1}/{args.rounds} done", flush=True)
    return items


def print_node(node: dict) -> None:
    print(
        f"  sustained {node['depth_hz']:.1f} depth images/s (camera {node['published_hz']:.1f} Hz); latency "
        f"publish->receipt median {node['latency_median_ms']:.0f} ms, p90 {node['latency_p90_ms']:.0f} ms "
        f"({node['frames']} frames); start-up {node['startup_s']:.1f} s"
    )
    print(f"  node: {node['device']}; dropped {node['node_dropped']}; stage medians (ms) {node['node_stage_ms']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, the robot's)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--paths",
        default="reference,float32,auto",
        help="execution paths to time: reference, float32, auto (the default path: bf16 depth "
        "networks where the CPU has native bf16), bfloat16 (every network in bf16)",
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (compiles for minutes)")
    parser.add_argument("--no-peer", action="store_true", help="skip Depth-Anything-V2-Small")
    parser.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    parser.add_argument("--no-shipped", action="store_true", help="skip the shipped weights")
    parser.add_argument("--no-node", action="store_true", help="skip the node measurement")
    parser.add_argument("--node-only", action="store_true", help="only the node measurement")
    parser.add_argument("--node-seconds", type=float, default=20.0, help="measured seconds of the 30 Hz stream")
    parser.add_argument("--node-startup", type=float, default=180.0, help="seconds allowed for the node to start")
    parser.add_argument("--domain", type=int, default=40, help="ROS_DOMAIN_ID for the node measurement")
    parser.add_argument(
        "--ratios",
        choices=("wall", "cpu"),
        default="wall",
        help="ratios of wall-time medians (a quiet machine) or of CPU-time medians (a busy one, with --threads 1)",
    )
    parser.add_argument("--json", type=Path, help="also write every timing here")
    parser.add_argument("--table-from", type=Path, metavar="JSON", help="print the table of an earlier --json run")
    args = parser.parse_args()
    if args.table_from:
        saved = json.loads(args.table_from.read_text())
        items = []
        for d in saved["items"]:
            item = Item(d["name"], d["path"], lambda: None, "")
            item.times, item.cpu = [t / 1e3 for t in d["ms"]], [t / 1e3 for t in d["cpu_ms"]]
            items.append(item)
        args.rounds, args.threads = saved["rounds"], saved["threads"]
        print(f"{saved['cpu']}; load average before {saved['load_before']}")
        if items:
            print_table(items, saved.get("paths") or sorted({i.path for i in items}), args, tuple(saved["load_after"]))
        if saved.get("node"):
            print_node(saved["node"])
        return
    torch.set_num_threads(args.threads)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    load_before = os.getloadavg()
    bf16 = native_bf16()
    auto_is_f32 = choose_path(torch.device("cpu")).precision == "float32"
    paths = [
        p
        for p in args.paths.split(",")
        if p and not (p == "bfloat16" and not bf16) and not (p == "auto" and auto_is_f32)
    ]
    if args.compile:
        paths.append("compile")
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    auto = choose_path(torch.device("cpu")).describe()
    print(
        f"CPU: {cpu}; flags: {', '.join(sorted(cpu_flags())) or 'no bf16/AMX'}; native bf16: {bf16}; "
        f"torch {torch.__version__}, {args.threads} threads; auto path: {auto}"
    )
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    rgb = indoor_frame()
    items: list[Item] = []
    load_after = load_before
    if not args.node_only:
        items = time_items(args, paths, rgb, bf16)
        load_after = os.getloadavg()
        print_table(items, paths, args, load_after)

    def save(node: dict | None) -> None:
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "cpu": cpu,
                        "flags": sorted(cpu_flags()),
                        "threads": args.threads,
                        "rounds": args.rounds,
                        "load_before": load_before,
                        "load_after": load_after,
                        "paths": paths,
                        "items": [
                            {
                                "name": i.name,
                                "path": i.path,
                                "ms": [1e3 * t for t in i.times],
                                "cpu_ms": [1e3 * t for t in i.cpu],
                            }
                            for i in items
                        ],
                        "node": node,
                    },
                    indent=2,
                )
            )

    save(None)  # the timings are kept even if the node cannot start
    node = None
    if not args.no_node:
        print(
            f"\nnode: side_depth in its own process, default parameters, shipped weights; camera 640x480 rgb8 at "
            f"30 Hz for {args.node_seconds:g} s (domain {args.domain})",
            flush=True,
        )
        node = bench_node(args, rgb)
        print_node(node)
    save(node)


if __name__ == "__main__":
    main()

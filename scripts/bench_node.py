#!/usr/bin/env python3
"""Latency of the depth node: publish of an image -> receipt of its depth, and point-cloud packing time.

    PYTHONPATH=. python scripts/bench_node.py                 # node in its own process, paper-size networks
    PYTHONPATH=. python scripts/bench_node.py --inproc --tiny # quick: one process, tiny networks

End to end: a camera node publishes a 640x480 rgb8 Image (+ CameraInfo), waits for the depth with the same stamp,
and the next frame goes out only then (so no frame waits in a queue: this is the latency of one frame, not the
throughput). The node's own per-stage medians are read from /diagnostics. Packing: side_ros.geometry's
depth -> PointCloud2 bytes for 640x480, XYZ and XYZRGB, plus building the rclpy message. Medians over many frames;
the networks have random weights (latency does not depend on the values), at the paper's working sizes unless
--tiny or --weights DIR (low.pt, high.pt, coarse.pt) is given. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def paper_checkpoints(directory: Path) -> dict[str, Path]:
    """Random-weight networks at the paper's sizes (low 320x240, high 1248x384 with SAM, coarse 320x240)."""
    import torch

    from side_ros.networks.checkpoint import save_sidenet_checkpoint
    from side_ros.networks.config import coarse_config, high_range_config, low_range_config
    from side_ros.networks.sidenet import DSSIDENet

    torch.manual_seed(0)
    configs = {"low": low_range_config(), "high": high_range_config(), "coarse": coarse_config()}
    return {k: save_sidenet_checkpoint(DSSIDENet(c).eval(), directory / f"{k}.pt") for k, c in configs.items()}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_packing(frames: int) -> None:
    from std_msgs.msg import Header

    from side_ros import geometry
    from side_ros.ros import messages
    from side_ros.ros.testing import depth_array  # noqa: F401 - imports rclpy messages once, outside the timing

    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 10.0, (480, 640)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.05] = np.nan
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    intr = geometry.Intrinsics(525.0, 525.0, 319.5, 239.5)
    header = Header(frame_id="camera_optical_frame")
    print(f"point cloud, 640x480, median of {frames} (ms):")
    for label, colours in (("XYZ   ", None), ("XYZRGB", rgb)):
        pack, build = [], []
        for _ in range(frames):
            t0 = time.perf_counter()
            cloud = geometry.depth_to_cloud(depth, intr, colours)
            t1 = time.perf_counter()
            messages.point_cloud(header, cloud)
            t2 = time.perf_counter()
            pack.append(t1 - t0)
            build.append(t2 - t1)
        print(
            f"  {label} pack {1e3 * statistics.median(pack):6.2f}  + PointCloud2 message "
            f"{1e3 * statistics.median(build):6.2f}  ({cloud.row_step * cloud.height / 1e6:.1f} MB)"
        )
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        geometry.colorize_depth(depth)
        times.append(time.perf_counter() - t0)
    print(f"  colour map (turbo, bgr8)  {1e3 * statistics.median(times):6.2f}")


def bench_end_to_end(args: argparse.Namespace, weights: dict[str, Path]) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from side_ros.ros.testing import Probe, camera_info_msg, image_msg, node_arguments, wait_for

    domain = args.domain
    params = {
        "device": args.device,
        "router": args.router,
        "diagnostics_period": 0.5,
        "qos_overrides./cam/image.subscription.reliability": "reliable",
    }
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    proc = node = None
    executors = []
    if args.inproc:
        from side_ros.ros.depth_node import DepthNode

        node = DepthNode(context=ctx, cli_args=node_arguments(weights, params=params))
    else:
        env = dict(
            os.environ,
            ROS_DOMAIN_ID=str(domain),
            ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
            PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        )
        cmd = [sys.executable, "-m", "side_ros.ros.depth_node", *node_arguments(weights, params=params)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = Probe(context=ctx)
    for n in (node, probe):
        if n is not None:
            ex = SingleThreadedExecutor(context=ctx)
            ex.add_node(n)
            threading.Thread(target=ex.spin, daemon=True).start()
            executors.append(ex)
    try:
        if not wait_for(probe.matched, 120) or not wait_for(lambda: probe.subs[0].get_publisher_count() > 0, 60):
            raise SystemExit("the depth node did not come up")
        rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
        latencies = []
        for i in range(args.warmup + args.frames):
            stamp = (i + 1, 0)
            probe.info_pub.publish(camera_info_msg(640, 480, 525.0, 525.0, 319.5, 239.5, stamp=stamp))
            msg = image_msg(rgb, stamp=stamp)
            t0 = time.perf_counter()
            probe.image_pub.publish(msg)

            def arrived(stamp=stamp):
                with probe.lock:
                    return next((t for t, m in probe.received["depth"] if m.header.stamp.sec == stamp[0]), None)

            if not wait_for(lambda: arrived() is not None, 120, period=0.001):
                raise SystemExit(f"no depth for frame {i}")
            if i >= args.warmup:
                latencies.append(arrived() - t0)
        time.sleep(1.0)
        diag = probe.last_diagnostics()
        mode = "in-process" if args.inproc else "separate process"
        print(
            f"end to end, 640x480 rgb8 -> 32FC1 depth ({mode}, router {args.router}, {diag.get('device', '?')}),"
            f" {args.frames} frames:"
        )
        print(
            f"  median {1e3 * statistics.median(latencies):.1f} ms, p90 {1e3 * percentile(latencies, 90):.1f} ms,"
            f" min {1e3 * min(latencies):.1f} ms"
        )
        stages = {k.split(".", 1)[1]: v for k, v in diag.items() if k.startswith("latency_ms.")}
        print("  node stages (median ms): " + ", ".join(f"{k} {float(v):.1f}" for k, v in stages.items()))
    finally:
        for ex in executors:
            ex.shutdown(timeout_sec=5)
        if node is not None:
            node.destroy_node()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        probe.destroy_node()
        rclpy.shutdown(context=ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30, help="measured frames (end to end)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pack-frames", type=int, default=200, help="point-cloud packing repetitions")
    parser.add_argument("--inproc", action="store_true", help="run the node in this process")
    parser.add_argument("--tiny", action="store_true", help="tiny networks (the tests' sizes) instead of paper size")
    parser.add_argument("--weights", type=Path, help="directory with low.pt, high.pt, coarse.pt")
    parser.add_argument("--router", default="coarse_depth", choices=("coarse_depth", "low", "high"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--domain", type=int, default=97, help="ROS_DOMAIN_ID for the benchmark")
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    bench_packing(args.pack_frames)
    with tempfile.TemporaryDirectory() as tmp:
        if args.weights:
            weights = {k: args.weights / f"{k}.pt" for k in ("low", "high", "coarse")}
        elif args.tiny:
            from side_ros.testing import tiny_checkpoints

            weights = tiny_checkpoints(tmp)
        else:
            weights = paper_checkpoints(Path(tmp))
        bench_end_to_end(args, weights)


if __name__ == "__main__":
    main()

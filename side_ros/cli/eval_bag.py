"""`side-eval-bag`: depth metrics against the LiDAR recorded in a bag (e.g. a KITTI drive converted with
kitti2mcap). Each cloud is moved into the camera frame with the bag's /tf_static and /tf, projected with the
camera_info intrinsics (nearest point per pixel) and compared with the depth: the networks' prediction on the
camera images, or a depth topic already in the bag (--depth-topic, e.g. /side/depth of a side-depth-bag output).
Metrics are the KITTI benchmark's (side_ros.metrics), per frame and averaged over frames.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from side_ros.cli.common import add_network_args, build_pipeline
from side_ros.console import CliError, entry


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from side_ros.metrics import PROTOCOLS

    p = argparse.ArgumentParser(
        prog="side-eval-bag", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bag", help="a rosbag2 folder, or a .mcap / .db3 file, with LiDAR, camera and transforms")
    p.add_argument("--depth-topic", help="score this depth image topic (32FC1 / 16UC1) instead of running the networks")
    p.add_argument("--image-topic", help="camera image topic (default: detected)")
    p.add_argument("--info-topic", help="camera_info topic (default: detected)")
    p.add_argument("--lidar-topic", help="PointCloud2 topic (default: the only one)")
    p.add_argument("--camera-frame", help="optical frame of the camera (default: the images' header frame_id)")
    p.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="kitti_benchmark",
        help="valid pixels, crop and depth cap (default: every LiDAR pixel, as the KITTI benchmark)",
    )
    p.add_argument("--max-dt", type=float, default=0.05, help="largest camera-LiDAR stamp difference (s)")
    p.add_argument("--min-lidar-depth", type=float, default=0.1, help="ignore LiDAR points closer than this (m)")
    p.add_argument("--json", metavar="PATH", help="also write per-frame and aggregated metrics as JSON")
    add_network_args(p, required=False)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """LiDAR depth evaluation of a bag."""
    from side_ros.bags.io import BagReader
    from side_ros.bags.lidar import evaluate_bag
    from side_ros.bags.topics import find_camera_topics, find_lidar_topic

    args = parse_args(argv)
    if args.max_dt <= 0:
        raise CliError(f"--max-dt must be positive, got {args.max_dt}")
    json_path = Path(args.json) if args.json else None
    if json_path is not None:
        try:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.touch()
        except OSError as exc:
            raise CliError(f"cannot write --json {json_path}: {exc.strerror or exc}") from exc
    predict = None
    if args.depth_topic is None:
        with BagReader(args.bag) as reader:  # cheap checks before loading the networks
            find_lidar_topic(reader, args.lidar_topic)
            find_camera_topics(reader, args.image_topic, args.info_topic, require_info=True)
        predict = build_pipeline(args)
        print(f"side-eval-bag: running the networks on {predict.describe()}")
    report = evaluate_bag(
        args.bag,
        predict=predict,
        depth_topic=args.depth_topic,
        image_topic=args.image_topic,
        info_topic=args.info_topic,
        lidar_topic=args.lidar_topic,
        camera_frame=args.camera_frame,
        protocol=args.protocol,
        max_dt=args.max_dt,
        min_lidar_depth=args.min_lidar_depth,
    )
    print(f"{report.frame_topic} vs LiDAR {report.lidar_topic} in frame {report.camera_frame or '?'}")
    print(report.format())
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_dict(), indent=2))
        print(f"wrote {json_path}")
    if not report.aggregate:
        raise CliError("no frame could be scored (see the skipped reasons above)")
    return 0


run = entry(main)

if __name__ == "__main__":
    run()

"""`side-depth-bag`: run the depth pipeline over a rosbag2 (MCAP or sqlite3) and write a new bag with every
original message plus the node's outputs, timestamps preserved:

  <ns>/depth (32FC1 m), <ns>/depth/camera_info and <ns>/points (need camera_info), <ns>/depth/confidence
  (32FC1 in [0, 1]), <ns>/depth/colormap (bgr8), <ns>/scene (JSON)

`ros2 bag play OUTPUT` then shows them in RViz as if the node had run live. The camera topics are detected when
the bag has one camera; otherwise name them with --image-topic / --info-topic.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from side_ros.cli.common import add_network_args, build_pipeline, check_new_path, routing_line
from side_ros.console import CliError, entry


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from side_ros.bags.io import STORAGES

    p = argparse.ArgumentParser(
        prog="side-depth-bag", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("input", help="input bag: a rosbag2 folder, or a .mcap / .db3 file")
    p.add_argument("output", help="output bag folder (must not exist unless --overwrite)")
    p.add_argument("--image-topic", help="camera image topic (sensor_msgs/Image or CompressedImage)")
    p.add_argument("--info-topic", help="camera_info topic (needed for point clouds)")
    p.add_argument("--storage", choices=STORAGES, help="output storage (default: the input's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    p.add_argument("--namespace", default="/side", help="prefix of the output topics (default /side, the node's)")
    p.add_argument("--no-compress", action="store_true", help="MCAP without zstd chunk compression")
    out = p.add_argument_group("outputs (as the node's parameters)")
    out.add_argument("--no-points", action="store_true", help="no point clouds")
    out.add_argument("--no-color", action="store_true", help="XYZ clouds instead of XYZRGB")
    out.add_argument("--stride", type=int, default=1, help="keep every N-th row and column in the cloud")
    out.add_argument("--points-min-depth", type=float, default=0.0, help="points closer than this (m) become NaN")
    out.add_argument("--points-max-depth", type=float, default=0.0, help="points farther than this (m) become NaN")
    out.add_argument(
        "--points-min-confidence",
        type=float,
        default=0.0,
        help="points less confident than this (0-1, depth/confidence) become NaN",
    )
    out.add_argument("--no-confidence", action="store_true", help="no depth/confidence images")
    out.add_argument("--no-colormap", action="store_true", help="no colour-mapped depth image")
    out.add_argument("--colormap-min", type=float, default=0.0, help="depth of the first colour (0: per frame)")
    out.add_argument("--colormap-max", type=float, default=0.0, help="depth of the last colour (0: per frame)")
    add_network_args(p)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Depth, point clouds, colour maps and routing decisions written into a copy of a bag."""
    from side_ros.bags.depth_bag import OutputOptions, depth_bag
    from side_ros.bags.io import BagReader
    from side_ros.bags.topics import find_camera_topics

    args = parse_args(argv)
    if args.stride < 1:
        raise CliError(f"--stride must be >= 1, got {args.stride}")
    if not 0.0 <= args.points_min_confidence <= 1.0:
        raise CliError(f"--points-min-confidence must be in [0, 1], got {args.points_min_confidence}")
    if not args.namespace.startswith("/"):
        raise CliError(f"--namespace must be absolute (start with '/'), got {args.namespace!r}")
    options = OutputOptions(
        namespace=args.namespace,
        points=not args.no_points,
        points_color=not args.no_color,
        points_stride=args.stride,
        points_min_depth=args.points_min_depth,
        points_max_depth=args.points_max_depth,
        points_min_confidence=args.points_min_confidence,
        confidence=not args.no_confidence,
        colormap=not args.no_colormap,
        colormap_min_depth=args.colormap_min,
        colormap_max_depth=args.colormap_max,
    )
    # Cheap checks first: a wrong topic or an existing output should not wait for the networks to load.
    with BagReader(args.input) as reader:
        cam = find_camera_topics(reader, args.image_topic, args.info_topic, namespace=args.namespace)
    check_new_path(args.output, "output bag", overwrite=args.overwrite)
    pipe = build_pipeline(args)
    print(
        f"side-depth-bag: {cam.image}"
        + (f" + {cam.info}" if cam.info else " (no camera_info: no point clouds)")
        + f" on {pipe.describe()}"
    )
    print(f"side-depth-bag: {routing_line(pipe)}")
    report = depth_bag(
        args.input,
        args.output,
        pipe,
        image_topic=cam.image,
        info_topic=cam.info,
        storage=args.storage,
        overwrite=args.overwrite,
        options=options,
        compress=not args.no_compress,
    )
    print(report.summary())
    return 0


run = entry(main)

if __name__ == "__main__":
    run()

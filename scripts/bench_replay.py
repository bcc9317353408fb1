#!/usr/bin/env python3
"""Timing accuracy of the bag replayer (side_ros.ros.replay): how far the spacing of published messages is from
the bag's spacing, on this machine under its current load.

    PYTHONPATH=. python scripts/bench_replay.py              # 20 loops of a 3-frame bag, 0.4 s apart
    PYTHONPATH=. python scripts/bench_replay.py --period 0.05 --loops 100

The tests only check order and causality (a message is never published before its time in the bag); how late it
is depends on the load of the machine, so it is measured here and printed, never asserted. Prints figures; not a
test. Uses ROS_DOMAIN_ID 19 on localhost unless --domain-id is given.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--period", type=float, default=0.4, help="seconds between the bag's frames")
    p.add_argument("--loops", type=int, default=20, help="times the bag is played")
    p.add_argument("--rate", type=float, default=1.0, help="playback rate")
    p.add_argument("--domain-id", type=int, default=19)
    args = p.parse_args()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    import rclpy

    from side_ros.bags.sample import IMAGE_TOPIC
    from side_ros.bags.testing import tiny_sample_bag
    from side_ros.ros.replay import BagReplayer

    bag = tiny_sample_bag(Path(tempfile.mkdtemp()) / "bag", period=args.period)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=args.domain_id)
    node = rclpy.create_node("bench_replay", context=ctx)
    times: list[float] = []

    def stop_after_loops(msg: object, perf: float) -> None:
        times.append(perf)
        if len(times) >= 3 * args.loops:
            player.stop()

    player = BagReplayer(
        node,
        bag,
        topics=[IMAGE_TOPIC],
        rate=args.rate,
        clock=False,
        loop=True,
        qos="reliable",
        on_publish=stop_after_loops,
    )
    t0 = time.perf_counter()
    player.run()
    wall = time.perf_counter() - t0
    node.destroy_node()
    rclpy.shutdown(context=ctx)

    gaps = np.diff(np.asarray(times).reshape(args.loops, 3), axis=1).ravel()  # within a loop: the bag's spacing
    err = 1000.0 * (gaps - args.period / args.rate)
    print(
        f"replayed {len(times)} messages in {wall:.1f} s ({args.loops} loops, bag spacing "
        f"{1000 * args.period / args.rate:.0f} ms at rate {args.rate:g})"
    )
    print(
        f"spacing error (ms): mean {err.mean():+.2f}, median {np.median(err):+.2f}, "
        f"p95 |err| {np.percentile(np.abs(err), 95):.2f}, max |err| {np.abs(err).max():.2f}"
    )


if __name__ == "__main__":
    main()

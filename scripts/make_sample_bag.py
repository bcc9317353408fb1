#!/usr/bin/env python3
"""Writes the sample bag the demo replays: data/sample/side_sample (MCAP, about 5 MB).

Four procedural frames alternating indoor (640x480, NYU's camera) and outdoor (1242x375, KITTI's camera), one
second apart, with camera_info, exact ground-truth depth (32FC1, 12 mantissa bits: 1e-4 relative, so the bag
compresses) and the true range. Seeds are outside the training (0..4000) and validation (900000..) ranges of the
shipped weights, so the demo shows scenes the networks never saw. Deterministic: rerunning gives the same frames.

    python scripts/make_sample_bag.py [--output data/sample/side_sample] [--storage mcap|sqlite3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from side_ros.bags.sample import FrameSpec, write_sample_bag  # noqa: E402

FRAMES = (
    FrameSpec("indoor", 1_000_001, 640, 480),
    FrameSpec("outdoor", 1_000_002, 1242, 375),
    FrameSpec("indoor", 1_000_003, 640, 480),
    FrameSpec("outdoor", 1_000_004, 1242, 375),
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default=str(ROOT / "data" / "sample" / "side_sample"))
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    args = p.parse_args()
    out = write_sample_bag(args.output, FRAMES, storage=args.storage, period=1.0, overwrite=True, depth_bits=12)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out}: {len(FRAMES)} frames, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

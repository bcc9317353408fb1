"""Small inputs for testing the bag tools, the demo and robots' integrations: tiny random-weight networks
(`side_ros.testing.tiny_checkpoints`) and a tiny sample bag. Nothing is mocked: the checkpoints are real
DS-SIDENet files, the bag a real rosbag2."""

from __future__ import annotations

import os
from pathlib import Path

from side_ros.bags.sample import FrameSpec, write_sample_bag
from side_ros.testing import tiny_checkpoints

__all__ = ["TINY_FRAMES", "tiny_checkpoints", "tiny_sample_bag"]

TINY_FRAMES = (
    FrameSpec("indoor", 1_000_101, 64, 48),
    FrameSpec("outdoor", 1_000_102, 124, 38),
    FrameSpec("indoor", 1_000_103, 64, 48),
)


def tiny_sample_bag(path: str | os.PathLike, storage: str = "mcap", period: float = 0.2) -> Path:
    """The sample bag's topics with three tiny frames (indoor 64x48, outdoor 124x38, indoor)."""
    p = Path(path)
    if p.exists():
        return p
    return write_sample_bag(p, TINY_FRAMES, storage=storage, period=period)

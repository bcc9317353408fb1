#!/usr/bin/env python3
"""Paired comparison of two low-range networks, room by room: is a difference in REL larger than the noise?

    python scripts/compare_low.py runs/ship/low17.pt                       # against the shipped models/low.pt
    python scripts/compare_low.py B.pt --against A.pt --first-seed 800000 --rooms 50   # the held-out test rooms
    python scripts/compare_low.py B.pt --focal-scale 1.4                   # through a longer lens

Both networks see the same procedural rooms (validation seeds from 900000 by default) at the node's 640x480 with
each room's own focal, in float32. It prints each network's mean REL, the mean of the per-room differences
(B - A) with its standard error, and on how many rooms B is better.
Why: candidates for the shipped weights differ by 1-5 % in REL, and a room's REL varies by 30-45 % from room to
room; only the paired standard error says whether a set of rooms (50 held-out, 256 validation) can tell two
networks apart at all, and the model card quotes it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from side_ros.metrics import compute_errors
from side_ros.networks.checkpoint import load_sidenet
from side_ros.preprocess import image_to_tensor, predict_depth
from side_ros.resources import default_model
from side_ros.scenes.dataset import render_scene

VAL_SEED = 900000
Predict = Callable[[torch.Tensor, tuple[float, float]], torch.Tensor]


def paired_rel(
    predict_a: Predict,
    predict_b: Predict,
    first_seed: int,
    rooms: int,
    size: tuple[int, int],
    focal_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-room absRel (as side-eval computes it) of `predict_a` and `predict_b`, each `(rgb, focal) -> depth`
    (N, 1, H, W), on `rooms` indoor rooms from `first_seed` on, rendered at `size` (W, H) through `focal_scale`."""
    w, h = size
    ra, rb = [], []
    for seed in range(first_seed, first_seed + rooms):
        s = render_scene(seed, "indoor", w, h, focal_scale=focal_scale)
        rgb = image_to_tensor(s.rgb, torch.device("cpu"))
        focal = (float(s.intrinsics[0, 0]), float(s.intrinsics[1, 1]))
        ra.append(compute_errors(predict_a(rgb, focal)[0, 0].numpy(), s.depth)["abs_rel"])
        rb.append(compute_errors(predict_b(rgb, focal)[0, 0].numpy(), s.depth)["abs_rel"])
    return np.asarray(ra, dtype=np.float64), np.asarray(rb, dtype=np.float64)


def paired_summary(ra: np.ndarray, rb: np.ndarray) -> dict[str, float]:
    """Means, the mean per-room difference B - A, its standard error (NaN for one room) and B's wins."""
    if ra.shape != rb.shape or ra.size == 0:
        raise ValueError(f"need two equally long, non-empty series, got {ra.shape} and {rb.shape}")
    d = rb - ra
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")
    return {
        "rel_a": float(ra.mean()),
        "rel_b": float(rb.mean()),
        "diff": float(d.mean()),
        "se": se,
        "b_better": int((d < 0).sum()),
        "rooms": int(d.size),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("candidate", help="low-range checkpoint B")
    ap.add_argument("--against", default=None, help="low-range checkpoint A (default: the shipped models/low.pt)")
    ap.add_argument("--rooms", type=int, default=256, help="rooms (the trainer validates on 256)")
    ap.add_argument("--first-seed", type=int, default=VAL_SEED, help="first room's seed (800000: the test set)")
    ap.add_argument("--focal-scale", type=float, default=1.0, help="lens zoom of every room (side-eval --focal-test)")
    ap.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.rooms < 2:
        ap.error("--rooms must be at least 2 (a standard error needs two rooms)")
    if args.first_seed < 0:
        ap.error("--first-seed must be 0 or more")
    if not (math.isfinite(args.focal_scale) and args.focal_scale > 0):
        ap.error("--focal-scale must be a positive number")
    torch.set_num_threads(args.threads)
    path_a = args.against or str(default_model("low"))
    net_a, _ = load_sidenet(path_a, slot="low")
    net_b, _ = load_sidenet(args.candidate, slot="low")
    with torch.inference_mode():
        ra, rb = paired_rel(
            lambda rgb, focal: predict_depth(net_a, rgb, focal),
            lambda rgb, focal: predict_depth(net_b, rgb, focal),
            args.first_seed,
            args.rooms,
            tuple(args.size),
            args.focal_scale,
        )
    s = paired_summary(ra, rb)
    ratio = abs(s["diff"]) / s["se"] if s["se"] > 0 else 0.0
    last = args.first_seed + args.rooms - 1
    print(
        f"{args.rooms} rooms (seeds {args.first_seed}-{last}) at {args.size[0]}x{args.size[1]}, lens "
        f"x{args.focal_scale:g}, float32"
    )
    print(f"A {path_a}: REL {s['rel_a']:.4f}")
    print(f"B {args.candidate}: REL {s['rel_b']:.4f}")
    print(
        f"B - A: {s['diff']:+.4f} +- {s['se']:.4f} (standard error, {ratio:.1f} of them); "
        f"B better on {s['b_better']} of {s['rooms']} rooms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

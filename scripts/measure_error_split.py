#!/usr/bin/env python3
"""Where a low-range network's error comes from: per-image scale, shape, or the working resolution.

    python scripts/measure_error_split.py                          # shipped models/low.pt, 256 validation rooms
    python scripts/measure_error_split.py --low runs/low/best.pt --rooms 64
    python scripts/measure_error_split.py --first-seed 0 --rooms 32  # training rooms, through the native lens

On validation rooms (procedural indoor scenes, seeds from 900000, never used for training or the held-out test)
at the node's 640x480, with each room's own focal, it prints side by side:
- REL of the network as it is (float32 reference path);
- REL after one global factor (the median of the per-image log ratios): what a constant bias costs;
- REL after each image's own best factor (median of log(gt / prediction)): what is left is shape;
- the resolution floor: REL of the ground truth itself shrunk to the network's working size and resized back
  the way the pipeline resizes its output, i.e. what the working resolution alone costs;
- the per-image scale: mean and spread of log(gt / prediction), and its correlation with the room's median depth
  (positive: far rooms underestimated and near ones overestimated, the regression to the mean of an ambiguous
  scale).
Why: which of these dominates decides what training has to change (more steps, a larger working size, or
scale cues), and the model card quotes these figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from side_ros.metrics import compute_errors
from side_ros.networks.checkpoint import load_sidenet
from side_ros.preprocess import fitted_size, image_to_tensor, predict_depth, resize
from side_ros.resources import default_model
from side_ros.scenes.dataset import render_scene

VAL_SEED = 900000


def rel(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """absRel as side-eval computes it (metrics.compute_errors: the same valid pixels and definition)."""
    return compute_errors(pred[0, 0].numpy(), gt[0, 0].numpy())["abs_rel"]


Predict = Callable[[torch.Tensor, tuple[float, float]], torch.Tensor]


def error_split(
    predict: Predict, work_hw: tuple[int, int], rooms: int, size: tuple[int, int], first_seed: int = VAL_SEED
) -> dict[str, float]:
    """The figures the module docstring lists, for `predict(rgb, focal) -> depth` (N, 1, H, W) on `rooms`
    rooms from `first_seed` on (validation rooms by default) rendered at `size` (W, H); `work_hw` is the
    network's working size for the floor."""
    w, h = size
    raw, log_ratio, median_depth, floor, pairs = [], [], [], [], []
    for seed in range(first_seed, first_seed + rooms):
        s = render_scene(seed, "indoor", w, h)
        gt = torch.from_numpy(s.depth)[None, None]
        valid = gt > 0
        focal = (float(s.intrinsics[0, 0]), float(s.intrinsics[1, 1]))
        pred = predict(image_to_tensor(s.rgb, torch.device("cpu")), focal)
        raw.append(rel(pred, gt))
        log_ratio.append(float(torch.log(gt[valid] / pred[valid].clamp_min(1e-6)).median()))
        median_depth.append(float(gt[valid].median()))
        round_trip = resize(F.interpolate(gt, size=work_hw, mode="area"), (h, w), depth=True)
        floor.append(rel(round_trip, gt))
        pairs.append((pred, gt))
    r = np.array(log_ratio)
    g = float(np.exp(np.median(r)))
    return {
        "rel": float(np.mean(raw)),
        "global_factor": g,
        "rel_global": float(np.mean([rel(p * g, t) for p, t in pairs])),
        "rel_own": float(np.mean([rel(p * float(np.exp(k)), t) for (p, t), k in zip(pairs, r, strict=True)])),
        "floor": float(np.mean(floor)),
        "log_ratio_mean": float(r.mean()),
        "log_ratio_std": float(r.std()),
        "ratio_min": float(np.exp(r.min())),
        "ratio_max": float(np.exp(r.max())),
        "corr_depth": float(np.corrcoef(r, np.log(median_depth))[0, 1]) if rooms > 1 else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--low", default=None, help="low-range checkpoint (default: the shipped models/low.pt)")
    ap.add_argument("--rooms", type=int, default=256, help="rooms (the trainer validates on 256)")
    ap.add_argument(
        "--first-seed",
        type=int,
        default=VAL_SEED,
        help="first room's seed (default 900000: validation rooms; 0-15999 are low_procedural's training rooms)",
    )
    ap.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.rooms < 1:
        ap.error("--rooms must be at least 1")
    if args.first_seed < 0:
        ap.error("--first-seed must be 0 or more")
    torch.set_num_threads(args.threads)
    model, _ = load_sidenet(args.low or default_model("low"), slot="low")
    w, h = args.size
    work = fitted_size(h, w, model.config)
    with torch.inference_mode():
        f = error_split(lambda rgb, focal: predict_depth(model, rgb, focal), work, args.rooms, (w, h), args.first_seed)
    first, last = args.first_seed, args.first_seed + args.rooms - 1
    print(f"{args.rooms} rooms (seeds {first}-{last}) at {w}x{h}, working size {work[1]}x{work[0]}, float32")
    print(f"{'REL as is':<34}{f['rel']:.4f}")
    print(f"{'REL, one global factor x' + format(f['global_factor'], '.3f'):<34}{f['rel_global']:.4f}")
    print(f"{'REL, each image its own factor':<34}{f['rel_own']:.4f}")
    print(f"{'resolution floor (gt round trip)':<34}{f['floor']:.4f}")
    print(
        f"per-image log(gt/pred): mean {f['log_ratio_mean']:+.3f}, std {f['log_ratio_std']:.3f}, range "
        f"x{f['ratio_min']:.2f}-x{f['ratio_max']:.2f}; correlation with log median depth {f['corr_depth']:+.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

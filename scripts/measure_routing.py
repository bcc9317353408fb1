#!/usr/bin/env python3
"""The measurements behind the RoutingSchedule defaults (routing.* node parameters), for a coarse checkpoint.

    python scripts/measure_routing.py                      # shipped models/coarse.pt (+ low.pt, high.pt)
    python scripts/measure_routing.py --coarse runs/coarse/best.pt --scenes 40 --frames 8

A camera stream shows one scene many times with sensor noise, exposure changes and small motion. On validation
scenes (procedural, seeds from 900000, never used for training or the held-out test) each scene is shown as
`--frames` perturbed frames (Gaussian noise 2/255, brightness +-5 %, shifts of up to 2 pixels) and the script
prints:
- the cde statistic's frame-to-frame spread within a scene, relative to sigma: the flapping a hysteresis band
  must cover (the band should exceed its 95th percentile);
- for candidate bands h, the share of scenes whose statistic lies within sigma*(1 +- h): after a real change those
  keep the previous range until the statistic leaves the band (the cost of a wider band);
- the drift statistic (90th percentile of the routed network's depth) within a scene and between an indoor and an
  outdoor scene seen by the same network: `routing.drift` must sit between the two.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from side_ros.pipeline import RobustDepthPipeline, scene_statistic
from side_ros.resources import default_model
from side_ros.routing import routers
from side_ros.scenes import ProceduralDataset

SIZES = {"indoor": (640, 480), "outdoor": (1242, 375)}  # what the node sees (a 640x480 camera, KITTI)


def perturbed(rgb: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """n frames of the same view (3, H, W) in [0, 1]: sensor noise, exposure and up to 2 px of motion."""
    frames = []
    for _ in range(n):
        dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
        x = torch.roll(rgb, (dy, dx), dims=(1, 2))
        gain = 1.0 + (torch.rand((), generator=gen) * 0.1 - 0.05)
        x = x * gain + torch.randn(x.shape, generator=gen) * (2 / 255)
        frames.append(x.clamp(0, 1))
    return torch.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--low", default=None)
    parser.add_argument("--high", default=None)
    parser.add_argument("--coarse", default=None)
    parser.add_argument("--scenes", type=int, default=16, help="validation scenes per kind")
    parser.add_argument("--frames", type=int, default=8, help="perturbed frames per scene")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = RobustDepthPipeline.from_files(
        args.low or default_model("low"),
        args.high or default_model("high"),
        args.coarse or default_model("coarse"),
        device="cpu",
    )
    sigma, stat = pipe.sigma, pipe.statistic
    coarse = pipe.network("coarse")
    print(f"coarse network {pipe.sources['coarse']}: statistic {stat}, sigma {sigma:.3f} m; {pipe.describe()}")
    gen = torch.Generator().manual_seed(0)
    spread, centre, kinds, p90 = [], [], [], {}
    for kind in ("indoor", "outdoor"):
        ds = ProceduralDataset(range(900_000, 900_000 + args.scenes), kinds=(kind,), size=SIZES[kind])
        for i in range(len(ds)):
            sample = ds[i]
            frames = perturbed(sample["rgb"], args.frames, gen)
            k = sample["intrinsics"]
            focal = (float(k[0][0]), float(k[1][1]))  # the camera's, as the node gets it from CameraInfo
            with torch.inference_mode():
                values = routers.coarse_statistic(coarse, frames, stat, focal).numpy()
                for net in ("low", "high"):
                    depth = pipe.depth_for_range(frames, net, focal)[:, 0].numpy()
                    p90.setdefault((kind, net), []).append([scene_statistic(d) for d in depth])
            spread.append((values.max() - values.min()) / sigma)
            centre.append(float(np.median(values)))
            kinds.append(kind)
    spread, centre, kinds = np.asarray(spread), np.asarray(centre), np.asarray(kinds)
    print(
        f"\ncde statistic, frame-to-frame spread within a scene ((max - min) / sigma over {args.frames} frames, "
        f"{len(spread)} scenes): median {np.median(spread):.4f}, p95 {np.percentile(spread, 95):.4f}, "
        f"max {spread.max():.4f}"
    )
    rel = np.abs(centre / sigma - 1.0)
    print("\n| band h (fraction of sigma) | indoor scenes within sigma*(1 +- h) | outdoor scenes within |")
    print("|---|---|---|")
    for h in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        inside = rel <= h
        print(f"| {h:g} | {inside[kinds == 'indoor'].mean():.2f} | {inside[kinds == 'outdoor'].mean():.2f} |")
    print(
        "\ndrift statistic (90th percentile of the depth, m): within-scene change max/min over the frames, and the "
        "change between an indoor and an outdoor scene seen by the same network"
    )
    for net in ("low", "high"):
        within = [max(v) / min(v) for kind in ("indoor", "outdoor") for v in p90[(kind, net)]]
        indoor = np.median([np.median(v) for v in p90[("indoor", net)]])
        outdoor = np.median([np.median(v) for v in p90[("outdoor", net)]])
        ratio = max(indoor, outdoor) / min(indoor, outdoor)
        print(
            f"  {net}-range network: within a scene p95 {np.percentile(within, 95):.3f}x, max {max(within):.3f}x; "
            f"indoor median {indoor:.2f} m vs outdoor median {outdoor:.2f} m: {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()

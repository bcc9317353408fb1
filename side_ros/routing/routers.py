"""The two scene-understanding routers of section 3 (and fixed routing), each deciding a range per image."""

from __future__ import annotations

import math

import torch

from side_ros.networks.places365 import WideResNet18Places365
from side_ros.networks.sidenet import DSSIDENet
from side_ros.preprocess import Focal, canvas_outputs, focal_factor, predict_depth, prepare
from side_ros.routing.decision import RangeDecision
from side_ros.routing.options import check_statistic
from side_ros.routing.scenes import SceneTable, vote


@torch.inference_mode()
def scene_classification(
    model: WideResNet18Places365, rgb: torch.Tensor, table: SceneTable, *, voting: str, top_k: int, sigma: float
) -> list[RangeDecision]:
    """(sc) Places365 probabilities of each image, then the chosen voting rule over the top-K categories."""
    probs = model.scene_probabilities(rgb)
    return vote(probs, table, method=voting, top_k=top_k, sigma=sigma)


def reduce_depth(depth: torch.Tensor, statistic: str) -> torch.Tensor:
    """(N, 1, H, W) depth -> (N,) statistic over each image (see `check_statistic`)."""
    problem = check_statistic(statistic)
    if problem:
        raise ValueError(problem)
    flat = depth.flatten(1).float()
    if statistic == "max":
        return flat.amax(dim=1)
    if statistic == "mean":
        return flat.mean(dim=1)
    q = 0.5 if statistic == "median" else float(statistic[1:]) / 100.0
    return torch.quantile(flat, q, dim=1)


@torch.inference_mode()
def coarse_canvas_depth(model: DSSIDENet, rgb: torch.Tensor, focal: Focal | None = None) -> torch.Tensor:
    """The coarse network's metric depth on its canvas, padding cropped off (N, 1, h, w): what the statistics
    summarize (no resize back to the image, which would only interpolate)."""
    prep = prepare(rgb, model.config)
    depth = model.decode_depth(canvas_outputs(model, prep)).float()
    return depth * focal_factor(model.config, focal, prep.orig_h, prep.orig_w)


def coarse_statistic(
    model: DSSIDENet, rgb: torch.Tensor, statistic: str = "max", focal: Focal | None = None
) -> torch.Tensor:
    """A statistic of the coarse network's metric depth over each image (padding excluded), (N,) metres."""
    return reduce_depth(coarse_canvas_depth(model, rgb, focal), statistic)


def coarse_max_depth(model: DSSIDENet, rgb: torch.Tensor, focal: Focal | None = None) -> torch.Tensor:
    """Maximum predicted depth over each image (the paper's statistic), (N,)."""
    return coarse_statistic(model, rgb, "max", focal)


def coarse_depth(
    model: DSSIDENet, rgb: torch.Tensor, *, sigma: float, statistic: str = "max", focal: Focal | None = None
) -> list[RangeDecision]:
    """(cde) High range iff the statistic of the coarse network's depth exceeds sigma (max > 5.89 m in the paper)."""
    values = coarse_statistic(model, rgb, statistic, focal).cpu().tolist()
    return [
        RangeDecision(
            "high" if d > sigma else "low", "coarse_depth", float(d), {"threshold": sigma, "statistic": statistic}
        )
        for d in values
    ]


@torch.inference_mode()
def coarse_depth_map(model: DSSIDENet, rgb: torch.Tensor, focal: Focal | None = None) -> torch.Tensor:
    """The coarse network's depth at the input resolution ('cde only' in Tables 4-5)."""
    return predict_depth(model, rgb, focal)


def fixed(range_: str, n: int) -> list[RangeDecision]:
    """Forced routing (router 'low' or 'high'), for known environments and oracle evaluation."""
    return [RangeDecision(range_, range_, math.nan, {}) for _ in range(n)]

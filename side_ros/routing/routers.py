"""The two scene-understanding routers of section 3 (and fixed routing), each deciding a range per image."""

from __future__ import annotations

import math

import torch

from side_ros.networks.places365 import WideResNet18Places365
from side_ros.networks.sidenet import DSSIDENet
from side_ros.preprocess import predict_depth, prepare
from side_ros.routing.decision import RangeDecision
from side_ros.routing.scenes import SceneTable, vote


@torch.inference_mode()
def scene_classification(model: WideResNet18Places365, rgb: torch.Tensor, table: SceneTable, *,
                         voting: str, top_k: int, sigma: float) -> list[RangeDecision]:
    """(sc) Places365 probabilities of each image, then the chosen voting rule over the top-K categories."""
    dtype = next(model.parameters()).dtype
    probs = model.scene_probabilities(rgb.to(dtype))
    return vote(probs, table, method=voting, top_k=top_k, sigma=sigma)


@torch.inference_mode()
def coarse_max_depth(model: DSSIDENet, rgb: torch.Tensor) -> torch.Tensor:
    """Maximum predicted depth over each image (padding excluded), (N,)."""
    dtype = next(model.parameters()).dtype
    prep = prepare(rgb, model.config)
    depth = model.predict_depth(prep.tensor.to(dtype))
    crop = depth[..., prep.y0:prep.y0 + prep.h, prep.x0:prep.x0 + prep.w]
    return crop.flatten(1).amax(dim=1).float()


def coarse_depth(model: DSSIDENet, rgb: torch.Tensor, *, sigma: float) -> list[RangeDecision]:
    """(cde) High range iff the coarse network's maximum depth exceeds sigma (5.89 m in the paper)."""
    dmax = coarse_max_depth(model, rgb).cpu().tolist()
    return [RangeDecision("high" if d > sigma else "low", "coarse_depth", float(d), {"threshold": sigma})
            for d in dmax]


@torch.inference_mode()
def coarse_depth_map(model: DSSIDENet, rgb: torch.Tensor) -> torch.Tensor:
    """The coarse network's depth at the input resolution ('cde only' in Tables 4-5)."""
    return predict_depth(model, rgb)


def fixed(range_: str, n: int) -> list[RangeDecision]:
    """Forced routing (router 'low' or 'high'), for known environments and oracle evaluation."""
    return [RangeDecision(range_, range_, math.nan, {}) for _ in range(n)]

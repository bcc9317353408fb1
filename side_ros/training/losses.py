"""The paper's training losses (Section 4.3): soft-cl (Eq. 2), hard-cl, L1 regression and their sum (Eq. 3).

Every loss ignores pixels without ground truth (gt <= 0 or non-finite: sky, LiDAR holes, sensor dropouts) and
averages over the valid pixels of the whole batch, so sparse KITTI-like ground truth and dense indoor ground
truth weigh a pixel the same. Eq. 3 writes a sum over pixels; the mean differs only by the constant valid-pixel
count and keeps the learning rate independent of image size and sparsity. With no valid pixel the loss is a
zero that is still connected to the graph (its gradient is zero), so `backward()` and DDP keep working.

Invalid ground truth is replaced by a harmless value *before* any arithmetic, never masked afterwards: a NaN
that enters log10 or |pred - gt| would make the gradient NaN even where the loss is masked to 0.

The quantization (Eq. 1) is `side_ros.networks.bins.DepthBins`; this module only uses it. Ground truth outside
[alpha, beta] counts with its level clamped to 0 or K (as Eq. 1's clamp in DepthBins does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from side_ros.networks.bins import DepthBins

HEADS = ("soft_cl", "hard_cl", "reg")
# soft-cl targets: the paper's rounded Eq. 1 level, or Eq. 1 before rounding; "quantized" = "rounded".
CLS_TARGETS = ("rounded", "quantized", "continuous")


def valid_depth_mask(gt: torch.Tensor) -> torch.Tensor:
    """Pixels with ground truth: finite and > 0 (0 is the 'no measurement' code of every depth format here)."""
    return torch.isfinite(gt) & (gt > 0)


def _gt4d(gt: torch.Tensor) -> torch.Tensor:
    """(N, H, W) or (N, 1, H, W) ground truth -> (N, 1, H, W) float."""
    if not isinstance(gt, torch.Tensor):
        raise ValueError(f"ground-truth depth must be a torch.Tensor, got {type(gt).__name__}")
    if gt.dim() == 3:
        gt = gt.unsqueeze(1)
    if gt.dim() != 4 or gt.shape[1] != 1:
        raise ValueError(f"ground-truth depth must be (N, H, W) or (N, 1, H, W), got shape {tuple(gt.shape)}")
    return gt.float()


def _masked_mean(per_pixel: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of per_pixel over valid pixels without a host sync; 0 (with a zero gradient) if none is valid."""
    w = valid.to(per_pixel.dtype)
    return (per_pixel * w).sum() / w.sum().clamp_min(1.0)


def _axis_candidates(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output index along one axis: candidate source indices (n_out, K) best first, and their distance.

    Downsampling (n_in >= n_out): output i owns the source pixels whose centres fall in its footprint
    [i*r - 0.5, (i+1)*r - 0.5), r = n_in / n_out, ranked by distance to the footprint's centre (ties go to the
    higher index, as PyTorch's 'nearest-exact' rounds half up). Upsampling: the single nearest-exact source.
    Unused slots hold index -1.
    """
    r = n_in / n_out
    i = torch.arange(n_out, device=device, dtype=torch.float64)
    if n_in < n_out:
        idx = torch.floor((i + 0.5) * r).clamp(max=n_in - 1).long().unsqueeze(1)
        return idx, torch.zeros_like(idx, dtype=torch.float64)
    k = math.ceil(r) + 1
    lo = i * r - 0.5
    hi = (i + 1) * r - 0.5
    top = torch.ceil(hi) - 1  # the largest integer < hi
    cand = top.unsqueeze(1) - torch.arange(k, device=device, dtype=torch.float64)  # descending: ties -> higher
    ok = (cand >= lo.unsqueeze(1)) & (cand >= 0) & (cand <= n_in - 1)
    centre = ((i + 0.5) * r - 0.5).unsqueeze(1)
    dist = (cand - centre).abs()
    return torch.where(ok, cand, torch.full_like(cand, -1)).long(), dist


def resize_depth_nearest(gt: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize of ground-truth depth that keeps sparse measurements (valid-aware).

    Plain nearest downsampling of sparse LiDAR depth keeps one fixed source pixel per output pixel, which is
    usually a hole, and throws most measurements away. Here each output pixel takes the source pixel that
    'nearest-exact' would take if that one is valid, otherwise the valid source pixel of its footprint closest
    to the footprint's centre; 0 (invalid) only if its whole footprint is invalid. For dense ground truth this
    equals `F.interpolate(mode="nearest-exact")`
    (tested for 2x, 1.5x, mixed and upsampling ratios). Depth values are never blended (no invented depths at
    object edges). Invalid output pixels are 0. Input (N, H, W) or (N, 1, H, W); output (N, 1, h, w).
    """
    g = _gt4d(gt)
    h_out, w_out = (int(s) for s in size)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"target size must be positive, got {tuple(size)}")
    n, _, h_in, w_in = g.shape
    if (h_in, w_in) == (h_out, w_out):
        return g
    ys, dy = _axis_candidates(h_in, h_out, g.device)  # (h_out, Ky)
    xs, dx = _axis_candidates(w_in, w_out, g.device)  # (w_out, Kx)
    ky, kx = ys.shape[1], xs.shape[1]
    # Candidate grid per output pixel: (h_out, w_out, Ky, Kx), flattened row-major so ties favour higher y, x.
    yy = ys[:, None, :, None].expand(h_out, w_out, ky, kx)
    xx = xs[None, :, None, :].expand(h_out, w_out, ky, kx)
    exists = (yy >= 0) & (xx >= 0)
    dist2 = dy[:, None, :, None] ** 2 + dx[None, :, None, :] ** 2
    flat = (yy.clamp_min(0) * w_in + xx.clamp_min(0)).reshape(h_out, w_out, ky * kx)
    values = g.reshape(n, h_in * w_in)[:, flat.reshape(-1)].reshape(n, h_out, w_out, ky * kx)
    usable = valid_depth_mask(values) & exists.reshape(1, h_out, w_out, ky * kx)
    score = torch.where(usable, dist2.reshape(1, h_out, w_out, ky * kx).float(), float("inf"))
    best = score.argmin(dim=-1, keepdim=True)  # first minimum: the preferred candidate
    picked = values.gather(-1, best).squeeze(-1)
    has_any = usable.any(dim=-1)
    return torch.where(has_any, picked, torch.zeros_like(picked)).unsqueeze(1)


def _match_gt(gt: torch.Tensor, pred: torch.Tensor, what: str) -> torch.Tensor:
    g = _gt4d(gt)
    if g.shape[0] != pred.shape[0]:
        raise ValueError(f"{what}: batch of {pred.shape[0]} predictions but {g.shape[0]} ground-truth maps")
    if g.shape[-2:] != pred.shape[-2:]:
        g = resize_depth_nearest(g, pred.shape[-2:])
    return g


def soft_cl_loss(logits: torch.Tensor, gt: torch.Tensor, bins: DepthBins, target: str = "rounded") -> torch.Tensor:
    """Eq. 2: smooth-L1 (beta 1) between the expected level sum_j j*softmax_j and the ground-truth level.

    target 'rounded' (alias 'quantized') is the paper's Eq. 1 level d*_qt; 'continuous' is Eq. 1 before rounding.
    logits (N, K+1, H, W); gt (N, 1, H, W) metres, resized valid-aware if its size differs.
    """
    if target not in CLS_TARGETS:
        raise ValueError(f"soft-cl target must be one of {CLS_TARGETS}, got {target!r}")
    _check_logits(logits, bins)
    g = _match_gt(gt, logits, "soft-cl")
    valid = valid_depth_mask(g)
    g_safe = torch.where(valid, g, torch.full_like(g, bins.alpha))
    level_gt = bins.continuous_level(g_safe) if target == "continuous" else bins.quantize(g_safe).float()
    level = bins.expected_level(logits)  # (N, 1, H, W), float32 softmax
    per_pixel = F.smooth_l1_loss(level, level_gt, reduction="none", beta=1.0)
    return _masked_mean(per_pixel, valid)


def hard_cl_loss(logits: torch.Tensor, gt: torch.Tensor, bins: DepthBins) -> torch.Tensor:
    """hard-cl ablation: cross-entropy over the K+1 levels with the rounded Eq. 1 level as the class."""
    _check_logits(logits, bins)
    g = _match_gt(gt, logits, "hard-cl")
    valid = valid_depth_mask(g)
    g_safe = torch.where(valid, g, torch.full_like(g, bins.alpha))
    target = bins.quantize(g_safe)[:, 0]  # (N, H, W) int64
    per_pixel = F.cross_entropy(logits.float(), target, reduction="none").unsqueeze(1)
    return _masked_mean(per_pixel, valid)


def reg_l1_loss(pred_depth: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Regression branch: L1 between the regressed depth (N, 1, H, W) metres and the ground truth."""
    if not isinstance(pred_depth, torch.Tensor) or pred_depth.dim() != 4 or pred_depth.shape[1] != 1:
        shape = tuple(pred_depth.shape) if isinstance(pred_depth, torch.Tensor) else type(pred_depth).__name__
        raise ValueError(f"regressed depth must be (N, 1, H, W), got {shape}")
    g = _match_gt(gt, pred_depth, "reg")
    valid = valid_depth_mask(g)
    g_safe = torch.where(valid, g, torch.zeros_like(g))
    return _masked_mean((pred_depth.float() - g_safe).abs(), valid)


def _check_logits(logits: torch.Tensor, bins: DepthBins) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 4:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"classification logits must be (N, K+1, H, W), got {shape}")
    if logits.shape[1] != bins.num_levels:
        raise ValueError(
            f"classification logits have {logits.shape[1]} channels but the bins have "
            f"{bins.num_levels} levels (K+1 = {bins.num_bins}+1)"
        )


class MultiTaskLoss(nn.Module):
    """Eq. 3: w_cls * (soft-cl or hard-cl) + w_reg * L1, each averaged over valid pixels (w1 = w2 = 1), plus an
    optional auxiliary cross-entropy on the soft-cl logits (`w_ce`, 0 by default: the paper's loss).

    Why the auxiliary term: soft-cl's gradient on logit j is p_j (j - E[level]), which vanishes once a pixel's
    softmax is one-hot, right or wrong. Measured on the procedural coarse network: after 1,000 steps its logits
    reached ~20, every far street pixel sat one-hot on level 71 (21.3 m) against targets of 30-70 m, and no
    gradient moved it. Cross-entropy's gradient (p - onehot) is largest exactly there, so a small weight keeps
    every level reachable while soft-cl still shapes the expected depth.

    `heads` picks the trained branches (the Table 6 rows): any non-empty subset of ("soft_cl", "hard_cl", "reg")
    with at most one classification form. forward(outputs, gt) takes DSSIDENet's output dict ("cls_logits"
    (N, K+1, H, W), "reg_depth" (N, 1, H, W) metres) and returns (total, {head: term}); the terms are
    unweighted and still attached to the graph (detach them for logging). `cls_target` is the soft-cl target
    ('rounded' as in the paper, or 'continuous'); hard-cl always uses the rounded level as its class.
    """

    def __init__(
        self,
        bins: DepthBins,
        heads: Sequence[str] = ("soft_cl", "reg"),
        w_cls: float = 1.0,
        w_reg: float = 1.0,
        cls_target: str = "rounded",
        w_ce: float = 0.0,
    ):
        super().__init__()
        heads = tuple(heads)
        bad = [h for h in heads if h not in HEADS]
        if bad or not heads or len(set(heads)) != len(heads):
            raise ValueError(f"heads must be a non-empty subset of {HEADS} without repeats, got {heads!r}")
        if "soft_cl" in heads and "hard_cl" in heads:
            raise ValueError("heads 'soft_cl' and 'hard_cl' are two forms of one branch: choose one")
        if cls_target not in CLS_TARGETS:
            raise ValueError(f"cls_target must be one of {CLS_TARGETS}, got {cls_target!r}")
        if w_cls < 0 or w_reg < 0 or w_ce < 0:
            raise ValueError(f"loss weights must be >= 0, got w_cls={w_cls}, w_reg={w_reg}, w_ce={w_ce}")
        if w_ce and "soft_cl" not in heads:
            raise ValueError("w_ce is an auxiliary term of the soft-cl head; hard_cl is cross-entropy already")
        self.bins = bins
        self.heads = heads
        self.w_cls = float(w_cls)
        self.w_reg = float(w_reg)
        self.cls_target = cls_target
        self.w_ce = float(w_ce)

    def forward(
        self, outputs: Mapping[str, torch.Tensor], gt: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        needs = {"soft_cl": "cls_logits", "hard_cl": "cls_logits", "reg": "reg_depth"}
        missing = sorted({needs[h] for h in self.heads if needs[h] not in outputs})
        if missing:
            raise ValueError(
                f"loss heads {self.heads} need network outputs {missing}; got keys {sorted(outputs)} "
                "(run the network in training mode or with the matching branches)"
            )
        terms: dict[str, torch.Tensor] = {}
        if "soft_cl" in self.heads:
            terms["soft_cl"] = soft_cl_loss(outputs["cls_logits"], gt, self.bins, self.cls_target)
        if "hard_cl" in self.heads:
            terms["hard_cl"] = hard_cl_loss(outputs["cls_logits"], gt, self.bins)
        if "reg" in self.heads:
            terms["reg"] = reg_l1_loss(outputs["reg_depth"], gt)
        if self.w_ce:
            terms["ce"] = hard_cl_loss(outputs["cls_logits"], gt, self.bins)
        weight = {"reg": self.w_reg, "ce": self.w_ce}
        total = sum(weight.get(k, self.w_cls) * v for k, v in terms.items())
        return total, terms

    def extra_repr(self) -> str:
        return (
            f"heads={self.heads}, w_cls={self.w_cls}, w_reg={self.w_reg}, cls_target={self.cls_target!r}, "
            f"w_ce={self.w_ce}"
        )

"""Depth metrics as the KITTI depth benchmark computes them, the Eigen-style variants, crops, caps and routing.

Why this module is careful about definitions: the paper's tables mix conventions, and numbers are only
comparable when the formula, the valid pixels, the aggregation and the units all match.

Definitions (n valid ground-truth pixels of one image, g = gt, p = prediction, e = g - p, d = ln g - ln p).
They follow the KITTI depth devkit (`devkit/cpp/evaluate_depth.cpp`, `depthError`), which works in metres
and natural logs, accumulates per image and prints the mean over images (`statMean`):

    mae          mean |e|                                   m
    rmse         sqrt(mean e^2)                             m
    imae         mean |1/g - 1/p|                           1/m
    irmse        sqrt(mean (1/g - 1/p)^2)                   1/m
    log_mae      mean |d|                                   ln m
    rmse_log     sqrt(mean d^2)                             ln m
    silog        sqrt(mean d^2 - (mean d)^2)                ln m
    abs_rel      mean |e| / g                               ratio
    sq_rel_kitti mean e^2 / g^2     (devkit: d_err_squared / (depth_gt_m * depth_gt_m))   ratio
    sq_rel_eigen mean e^2 / g       (Eigen et al. / monodepth / BTS `sq_rel`)            m
    log10        mean |log10 g - log10 p|   (Eigen-style NYU tables)                        log10 m
    delta1..3    fraction with max(g/p, p/g) < 1.25^i   (Eigen-style; not in the devkit)    ratio

Units. All functions here return plain units (above). The KITTI leaderboard prints SILog x 100, absRel and
sqRel in %, iRMSE and iMAE in 1/km: `to_leaderboard_units` converts. The paper's Table 5 (KITTI) uses the
leaderboard units with the devkit's sqRel (gt^2); Tables 3 (NYU) and 4 (ScanNet) use plain metres and ratios,
with sqREL in the Eigen convention (gt) per ../shared/notes/references.md. `PAPER_TABLES` lists the columns.

Valid pixels: gt finite and > 0 (the devkit's `isValid`: PNG value > 0), inside the optional crop and user
mask, and, when a depth cap is set, min_depth < gt < max_depth (monodepth/BTS: gt > MIN & gt < MAX). The
prediction is clamped to [pred_floor, inf) (avoids log(0) and 1/0) and, with a cap, to [min_depth, max_depth]
as monodepth/BTS do. A non-finite prediction at a valid pixel is an error: silently dropping it would flatter a
broken model.

Missing predictions in the KITTI protocol. The devkit reads a prediction from a 16-bit PNG (value / 256 m), where
0 means "no prediction", and fills those pixels with `interpolateBackground` (devkit/cpp/io_depth.h) before
scoring: along each row a gap between two predictions takes the smaller of its two neighbours (the devkit's
choice, kept as is), the ends of a row copy its first and last prediction, then along each column the rows above
the first and below the last filled row copy it. The `kitti_benchmark` protocol
(`fill_missing`) does the same, with "missing" meaning what a KITTI PNG stores as 0: NaN, inf, or below half a
PNG unit (1/512 m). Clamping such pixels instead (to 1e-3 m) inflates iRMSE and SILog about 100-fold. A pixel the
devkit leaves unfilled (an empty row between filled ones) at a valid ground-truth pixel is an error, as the
devkit would score it with its placeholder depth -1.

Aggregation:
    "per_image": metrics per image, then the plain mean over images — KITTI devkit, ROB 2018 (ScanNet and
                 KITTI), and the common NYU scripts (monodepth, BTS). The default.
    "pooled":    every valid pixel of the whole set weighted equally, as if all images were one (used by some
                 NYU evaluation code). Differs from per_image whenever images have different pixel counts
                 or different errors; RMSE-type metrics pool the squared errors before the root.
Both come from the same per-image sufficient statistics (sums), so an accumulator stores 16 floats an image.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------------------
# Metric names, units and the paper's tables

METRIC_KEYS: tuple[str, ...] = (
    "silog", "abs_rel", "sq_rel_kitti", "sq_rel_eigen", "rmse", "mae", "irmse", "imae",
    "log10", "rmse_log", "log_mae", "delta1", "delta2", "delta3",
)


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is labelled and scaled: plain unit, leaderboard factor and unit, and which way is better."""

    label: str
    unit: str
    leaderboard_scale: float = 1.0
    leaderboard_unit: str | None = None
    higher_is_better: bool = False


METRIC_INFO: dict[str, MetricInfo] = {
    "silog": MetricInfo("SILog", "", 100.0, "x100"),
    "abs_rel": MetricInfo("REL", "", 100.0, "%"),
    "sq_rel_kitti": MetricInfo("sqREL", "", 100.0, "%"),
    "sq_rel_eigen": MetricInfo("sqREL", "m"),
    "rmse": MetricInfo("RMSE", "m"),
    "mae": MetricInfo("MAE", "m"),
    "irmse": MetricInfo("iRMSE", "1/m", 1000.0, "1/km"),
    "imae": MetricInfo("iMAE", "1/m", 1000.0, "1/km"),
    "log10": MetricInfo("log10", ""),
    "rmse_log": MetricInfo("RMSE(log)", ""),
    "log_mae": MetricInfo("MAE(log)", ""),
    "delta1": MetricInfo("δ<1.25", "", higher_is_better=True),
    "delta2": MetricInfo("δ<1.25²", "", higher_is_better=True),
    "delta3": MetricInfo("δ<1.25³", "", higher_is_better=True),
}

# Columns and units of the paper's tables (Section 5.2), for `format_table`.
PAPER_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "nyu": (("abs_rel", "rmse", "delta1", "delta2", "delta3"), "plain"),  # Table 3
    "scannet": (("rmse", "mae", "abs_rel", "sq_rel_eigen"), "plain"),  # Table 4
    "kitti": (("irmse", "abs_rel", "silog", "sq_rel_kitti"), "leaderboard"),  # Table 5
}

AGGREGATIONS = ("per_image", "pooled")

# ---------------------------------------------------------------------------------------------------------
# Evaluation crops, caps and protocols

# NYU Depth v2 Eigen crop at 640x480 (rows 45:471, cols 41:601), as in Eigen et al. / BTS / AdaBins.
_NYU_CROP_640x480 = (45, 471, 41, 601)
# KITTI crops as fractions of the image size (monodepth `evaluate_kitti.py`; the Eigen crop's left edge really
# is 0.0359477 there, one digit shorter than Garg's 0.03594771).
_KITTI_GARG_FRAC = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
_KITTI_EIGEN_FRAC = (0.3324324, 0.91351351, 0.0359477, 0.96405229)
CROPS = ("none", "nyu_eigen", "kitti_garg", "kitti_eigen")


def crop_box(height: int, width: int, crop: str | None) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), end-exclusive, of a standard evaluation crop for an image size.

    The NYU crop is defined at 640x480 and scaled to other sizes, rounded inwards; the KITTI crops are the monodepth
    fractions, truncated to int exactly as monodepth's `astype(np.int32)` does.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if crop is None or crop == "none":
        return 0, height, 0, width
    if crop == "nyu_eigen":
        t, b, lft, r = _NYU_CROP_640x480
        sy, sx = height / 480, width / 640
        # Round inwards, so a scaled crop never scores pixels that the 640x480 crop leaves out.
        eps = 1e-9
        return (math.ceil(t * sy - eps), math.floor(b * sy + eps),
                math.ceil(lft * sx - eps), math.floor(r * sx + eps))
    if crop in ("kitti_garg", "kitti_eigen"):
        ft, fb, fl, fr = _KITTI_GARG_FRAC if crop == "kitti_garg" else _KITTI_EIGEN_FRAC
        return int(ft * height), int(fb * height), int(fl * width), int(fr * width)
    raise ValueError(f"unknown evaluation crop {crop!r}; choose one of {CROPS}")


def crop_mask(height: int, width: int, crop: str | None) -> np.ndarray:
    """Boolean (height, width) mask that is True inside the evaluation crop (all True for 'none')."""
    top, bottom, left, right = crop_box(height, width, crop)
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


@dataclass(frozen=True)
class EvalProtocol:
    """Which pixels count and how the prediction is clamped: a crop, an optional cap, a prediction floor."""

    name: str
    crop: str = "none"
    min_depth: float | None = None
    max_depth: float | None = None
    pred_floor: float = 1e-3
    fill_missing: bool = False  # fill missing predictions as the KITTI devkit does (interpolate_background)

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"unknown evaluation crop {self.crop!r}; choose one of {CROPS}")
        if not self.pred_floor > 0:
            raise ValueError(f"pred_floor must be > 0, got {self.pred_floor}")
        if self.min_depth is not None and self.min_depth < 0:
            raise ValueError(f"min_depth must be >= 0, got {self.min_depth}")
        if self.max_depth is not None and not self.max_depth > max(self.min_depth or 0.0, self.pred_floor):
            raise ValueError(f"max_depth {self.max_depth} must exceed min_depth {self.min_depth} and pred_floor "
                             f"{self.pred_floor}")


PROTOCOLS: dict[str, EvalProtocol] = {
    # KITTI devkit / ROB 2018 (KITTI and ScanNet went through the same tool): every gt > 0 pixel, no cap.
    "kitti_benchmark": EvalProtocol("kitti_benchmark", fill_missing=True),
    "rob_scannet": EvalProtocol("rob_scannet"),
    # Eigen split on KITTI, monodepth-style: Garg crop (the usual one) or Eigen crop, 1e-3 < gt < 80 m.
    "kitti_eigen_garg": EvalProtocol("kitti_eigen_garg", "kitti_garg", 1e-3, 80.0),
    "kitti_eigen_crop": EvalProtocol("kitti_eigen_crop", "kitti_eigen", 1e-3, 80.0),
    # NYU Depth v2 test set: Eigen crop, 1e-3 < gt < 10 m.
    "nyu_eigen": EvalProtocol("nyu_eigen", "nyu_eigen", 1e-3, 10.0),
    "none": EvalProtocol("none"),
}


def get_protocol(protocol: EvalProtocol | str | None) -> EvalProtocol:
    """Resolve a protocol name (see PROTOCOLS) or pass an EvalProtocol through; None means 'none'."""
    if protocol is None:
        return PROTOCOLS["none"]
    if isinstance(protocol, EvalProtocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[protocol]


# ---------------------------------------------------------------------------------------------------------
# Input conversion

def _to_numpy(x: Any, what: str) -> np.ndarray:
    """float64 copy of a numpy array or torch tensor (any device, any float dtype)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if hasattr(x, "double"):
            x = x.double()
        x = x.numpy()
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{what} must be a numeric depth array, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _to_mask(x: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype != bool:
        raise ValueError(f"{what} must be a boolean array, got dtype {arr.dtype}")
    return arr


def _as_batch(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W), (N, H, W) or (N, 1, H, W) -> (N, H, W)."""
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3:
        return arr
    if arr.ndim == 4 and arr.shape[1] == 1:
        return arr[:, 0]
    raise ValueError(f"{what} must be (H, W), (N, H, W) or (N, 1, H, W), got shape {arr.shape}")


def _as_image(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W), (1, H, W) or (1, 1, H, W) -> (H, W)."""
    batch = _as_batch(arr, what)
    if batch.shape[0] != 1:
        raise ValueError(f"{what} holds {batch.shape[0]} images; use DepthMetricAccumulator for batches")
    return batch[0]


# ---------------------------------------------------------------------------------------------------------
# The KITTI devkit's filling of missing predictions

KITTI_PNG_UNIT = 1.0 / 256.0  # metres per value of a KITTI 16-bit depth PNG


def _fill_ends(d: np.ndarray, valid: np.ndarray, interior: bool) -> tuple[np.ndarray, np.ndarray]:
    """Along the last axis: copy the first valid value to the pixels before it and the last one to the pixels
    after it; with `interior`, a gap between two valid pixels takes the smaller of the two."""
    n = d.shape[-1]
    idx = np.broadcast_to(np.arange(n), d.shape)
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(valid, idx, n)[..., ::-1], axis=-1)[..., ::-1]
    left = np.take_along_axis(d, np.clip(prev, 0, n - 1), axis=-1)
    right = np.take_along_axis(d, np.clip(nxt, 0, n - 1), axis=-1)
    has_prev, has_next = prev >= 0, nxt < n
    out = d.copy()
    lead, trail = ~valid & ~has_prev & has_next, ~valid & has_prev & ~has_next
    out[lead], out[trail] = right[lead], left[trail]
    filled = valid | lead | trail
    if interior:
        mid = ~valid & has_prev & has_next
        out[mid] = np.minimum(left, right)[mid]
        filled |= mid
    return out, filled


def interpolate_background(pred: Any) -> np.ndarray:
    """A prediction (H, W, metres) with its missing pixels filled as the KITTI devkit's
    `DepthImage::interpolateBackground` fills them; pixels it leaves empty come back NaN.

    Missing: what a KITTI 16-bit PNG stores as 0 (NaN, inf, <= 0 or below half a PNG unit). Rows first: a gap
    between two predictions gets the smaller of the two, the row's ends copy its first / last prediction; then
    columns: rows above the first and below the last non-empty row copy it. Empty rows between non-empty ones
    stay empty, as in the devkit.
    """
    d = _to_numpy(pred, "pred")
    if d.ndim != 2:
        raise ValueError(f"interpolate_background takes one (H, W) prediction, got shape {d.shape}")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d >= 0.5 * KITTI_PNG_UNIT)
    rows, row_filled = _fill_ends(np.where(valid, d, np.nan), valid, interior=True)
    cols, filled = _fill_ends(rows.T, row_filled.T, interior=False)
    return np.where(filled.T, cols.T, np.nan)


# ---------------------------------------------------------------------------------------------------------
# Sufficient statistics of one image

_STATS = (
    "n", "sum_abs", "sum_sq", "sum_abs_inv", "sum_sq_inv", "sum_abs_log", "sum_sq_log", "sum_log", "m2_log",
    "sum_abs_rel", "sum_sq_rel_kitti", "sum_sq_rel_eigen", "sum_abs_log10", "n_delta1", "n_delta2", "n_delta3",
)
_I = {name: i for i, name in enumerate(_STATS)}
NUM_STATS = len(_STATS)
_LN10 = float(np.log(10.0))


def valid_pixels(gt: Any, protocol: EvalProtocol | str | None = None, mask: Any = None) -> np.ndarray:
    """Boolean mask of the pixels one image is scored on: finite gt > 0, crop, cap and an optional mask."""
    prot = get_protocol(protocol)
    g = _to_numpy(gt, "gt")
    shape = g.shape
    g2 = _as_image(g, "gt")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(g2) & (g2 > 0)
        if prot.min_depth is not None:
            valid &= g2 > prot.min_depth
        if prot.max_depth is not None:
            valid &= g2 < prot.max_depth
    valid &= crop_mask(*g2.shape, prot.crop)
    if mask is not None:
        m = _to_mask(mask, "mask")
        if m.size != g2.size:
            raise ValueError(f"mask shape {m.shape} does not match gt shape {shape}")
        valid &= m.reshape(g2.shape)
    return valid


def image_stats(pred: Any, gt: Any, protocol: EvalProtocol | str | None = None, mask: Any = None) -> np.ndarray:
    """The per-image sums every metric and both aggregations are computed from (float64, NUM_STATS).

    pred and gt: one image each, (H, W), (1, H, W) or (1, 1, H, W), metres. An image without a valid pixel
    gives n = 0 (the accumulator skips it; `compute_errors` refuses it).
    """
    prot = get_protocol(protocol)
    p_all = _as_image(_to_numpy(pred, "pred"), "pred")
    g_all = _as_image(_to_numpy(gt, "gt"), "gt")
    if p_all.shape != g_all.shape:
        raise ValueError(f"prediction {p_all.shape} and ground truth {g_all.shape} must have the same size; "
                         "resize the prediction to the ground truth first")
    valid = valid_pixels(g_all, prot, mask)
    stats = np.zeros(NUM_STATS, dtype=np.float64)
    n = int(valid.sum())
    if n == 0:
        return stats
    if prot.fill_missing:
        p_all = interpolate_background(p_all)
    g = g_all[valid]
    p = p_all[valid]
    if not np.all(np.isfinite(p)):
        if prot.fill_missing:
            raise ValueError(f"{int((~np.isfinite(p)).sum())} valid ground-truth pixels have no prediction, and the "
                             "KITTI devkit's interpolateBackground leaves them empty (rows without any prediction "
                             "between rows with one)")
        raise ValueError(f"prediction has {int((~np.isfinite(p)).sum())} non-finite values at valid pixels")
    lo = prot.pred_floor if prot.min_depth is None else max(prot.pred_floor, prot.min_depth)
    p = np.clip(p, lo, prot.max_depth if prot.max_depth is not None else np.inf)

    err = g - p
    abs_err = np.abs(err)
    sq_err = err * err
    inv_err = 1.0 / g - 1.0 / p
    d = np.log(g) - np.log(p)
    ratio = np.maximum(g / p, p / g)
    mean_d = d.mean()
    stats[_I["n"]] = n
    stats[_I["sum_abs"]] = abs_err.sum()
    stats[_I["sum_sq"]] = sq_err.sum()
    stats[_I["sum_abs_inv"]] = np.abs(inv_err).sum()
    stats[_I["sum_sq_inv"]] = (inv_err * inv_err).sum()
    stats[_I["sum_abs_log"]] = np.abs(d).sum()
    stats[_I["sum_sq_log"]] = (d * d).sum()
    stats[_I["sum_log"]] = d.sum()
    stats[_I["m2_log"]] = ((d - mean_d) ** 2).sum()  # two-pass: exact even when d is nearly constant
    stats[_I["sum_abs_rel"]] = (abs_err / g).sum()
    stats[_I["sum_sq_rel_kitti"]] = (sq_err / (g * g)).sum()
    stats[_I["sum_sq_rel_eigen"]] = (sq_err / g).sum()
    stats[_I["sum_abs_log10"]] = np.abs(d).sum() / _LN10
    stats[_I["n_delta1"]] = np.count_nonzero(ratio < 1.25)
    stats[_I["n_delta2"]] = np.count_nonzero(ratio < 1.25 ** 2)
    stats[_I["n_delta3"]] = np.count_nonzero(ratio < 1.25 ** 3)
    return stats


def metrics_from_stats(stats: np.ndarray) -> dict[str, float]:
    """The metric dict (plain units) of one image's, or a pooled set's, sufficient statistics."""
    s = np.asarray(stats, dtype=np.float64)
    if s.shape != (NUM_STATS,):
        raise ValueError(f"expected {NUM_STATS} statistics, got shape {s.shape}")
    n = s[_I["n"]]
    if n <= 0:
        raise ValueError("no valid ground-truth pixel: metrics are undefined")
    return {
        "silog": float(np.sqrt(max(s[_I["m2_log"]] / n, 0.0))),
        "abs_rel": float(s[_I["sum_abs_rel"]] / n),
        "sq_rel_kitti": float(s[_I["sum_sq_rel_kitti"]] / n),
        "sq_rel_eigen": float(s[_I["sum_sq_rel_eigen"]] / n),
        "rmse": float(np.sqrt(s[_I["sum_sq"]] / n)),
        "mae": float(s[_I["sum_abs"]] / n),
        "irmse": float(np.sqrt(s[_I["sum_sq_inv"]] / n)),
        "imae": float(s[_I["sum_abs_inv"]] / n),
        "log10": float(s[_I["sum_abs_log10"]] / n),
        "rmse_log": float(np.sqrt(s[_I["sum_sq_log"]] / n)),
        "log_mae": float(s[_I["sum_abs_log"]] / n),
        "delta1": float(s[_I["n_delta1"]] / n),
        "delta2": float(s[_I["n_delta2"]] / n),
        "delta3": float(s[_I["n_delta3"]] / n),
    }


def pool_stats(stats: np.ndarray) -> np.ndarray:
    """Combine per-image statistics (M, NUM_STATS) into those of one image holding all their pixels.

    Sums add; the centred log sum of squares combines with Chan et al.'s parallel-variance rule, so the pooled
    SILog is exact rather than a difference of two large sums.
    """
    s = np.asarray(stats, dtype=np.float64).reshape(-1, NUM_STATS)
    s = s[s[:, _I["n"]] > 0]
    out = s.sum(axis=0)
    if len(s) == 0:
        return out
    n = s[:, _I["n"]]
    means = s[:, _I["sum_log"]] / n
    grand = out[_I["sum_log"]] / out[_I["n"]]
    out[_I["m2_log"]] = s[:, _I["m2_log"]].sum() + float((n * (means - grand) ** 2).sum())
    return out


def aggregate_stats(stats: np.ndarray, aggregation: str = "per_image") -> dict[str, float]:
    """Aggregate per-image statistics (M, NUM_STATS): 'per_image' (KITTI/ROB: mean of per-image metrics)
    or 'pooled' (all valid pixels weighted equally). Images without valid pixels are left out."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    s = np.asarray(stats, dtype=np.float64).reshape(-1, NUM_STATS)
    s = s[s[:, _I["n"]] > 0]
    if len(s) == 0:
        raise ValueError("no image with a valid ground-truth pixel to aggregate")
    if aggregation == "pooled":
        return metrics_from_stats(pool_stats(s))
    per_image = [metrics_from_stats(row) for row in s]  # one dict per image, not per pixel
    return {k: float(np.mean([m[k] for m in per_image])) for k in METRIC_KEYS}


def compute_errors(pred: Any, gt: Any, protocol: EvalProtocol | str | None = None,
                   mask: Any = None) -> dict[str, float]:
    """All metrics (plain units) of one image over its valid pixels; see the module docstring."""
    stats = image_stats(pred, gt, protocol, mask)
    if stats[_I["n"]] == 0:
        raise ValueError("the ground truth has no valid pixel inside the crop and depth cap")
    return metrics_from_stats(stats)


def to_leaderboard_units(metrics: Mapping[str, float]) -> dict[str, float]:
    """KITTI leaderboard units: SILog x100, absRel and sqRel (KITTI) in %, iRMSE and iMAE in 1/km.

    Everything else (metres, ratios, sq_rel_eigen in metres) and unknown keys are copied unchanged. Apply once.
    """
    return {k: float(v) * (METRIC_INFO[k].leaderboard_scale if k in METRIC_INFO else 1.0)
            for k, v in metrics.items()}


# ---------------------------------------------------------------------------------------------------------
# Accumulator

@dataclass
class DepthMetricAccumulator:
    """Collect per-image statistics over an evaluation run and report per_image / pooled aggregates.

    `group` tags images (e.g. the true depth range, or the dataset) for per-group tables. For multi-process
    evaluation, gather `stats` (M, NUM_STATS) from every rank and `merge` them.
    """

    protocol: EvalProtocol | str | None = None
    _stats: list[np.ndarray] = field(default_factory=list, repr=False)
    groups: list[Hashable] = field(default_factory=list, repr=False)
    names: list[str | None] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.protocol = get_protocol(self.protocol)

    def update(self, pred: Any, gt: Any, mask: Any = None, group: Hashable | Sequence[Hashable] = None,
               name: str | Sequence[str] | None = None) -> np.ndarray:
        """Add one image (H, W) or a batch (N, H, W) / (N, 1, H, W); returns the new rows of statistics."""
        p = _as_batch(_to_numpy(pred, "pred"), "pred")
        g = _as_batch(_to_numpy(gt, "gt"), "gt")
        if p.shape != g.shape:
            raise ValueError(f"prediction {p.shape} and ground truth {g.shape} must have the same shape")
        num = p.shape[0]
        masks = [None] * num
        if mask is not None:
            m = _as_batch(_to_mask(mask, "mask"), "mask")
            if m.shape != g.shape:
                raise ValueError(f"mask shape {m.shape} does not match gt shape {g.shape}")
            masks = list(m)
        groups = self._per_image(group, num, "group")
        names = self._per_image(name, num, "name")
        rows = np.stack([image_stats(p[i], g[i], self.protocol, masks[i]) for i in range(num)])
        self._stats.extend(rows)
        self.groups.extend(groups)
        self.names.extend(names)
        return rows

    @staticmethod
    def _per_image(value: Any, num: int, what: str) -> list[Any]:
        if value is None or isinstance(value, (str, bytes, int, float, np.integer)):
            return [value] * num
        if hasattr(value, "tolist"):
            value = value.tolist()
        values = list(value)
        if len(values) != num:
            raise ValueError(f"{what} has {len(values)} entries for a batch of {num} images")
        return values

    @property
    def stats(self) -> np.ndarray:
        """Per-image statistics (M, NUM_STATS), images without valid pixels included (n = 0)."""
        return np.stack(self._stats) if self._stats else np.zeros((0, NUM_STATS))

    @property
    def num_images(self) -> int:
        """Images that had at least one valid pixel (the ones the aggregates average over)."""
        return int((self.stats[:, _I["n"]] > 0).sum())

    @property
    def num_empty(self) -> int:
        """Images skipped because no ground-truth pixel was valid (the devkit would refuse them)."""
        return len(self._stats) - self.num_images

    def merge(self, other: DepthMetricAccumulator) -> None:
        """Append another accumulator's images (e.g. from another rank); protocols must agree."""
        if other.protocol != self.protocol:
            raise ValueError(f"cannot merge results of protocol {other.protocol} into {self.protocol}")
        self._stats.extend(other._stats)
        self.groups.extend(other.groups)
        self.names.extend(other.names)

    def compute(self, aggregation: str = "per_image") -> dict[str, float]:
        """Aggregate metrics (plain units) over all images."""
        return aggregate_stats(self.stats, aggregation)

    def compute_groups(self, aggregation: str = "per_image") -> dict[Hashable, dict[str, float]]:
        """Aggregate metrics per group tag (groups whose images all lack valid pixels are left out)."""
        stats = self.stats
        out: dict[Hashable, dict[str, float]] = {}
        for key in dict.fromkeys(self.groups):
            rows = stats[[i for i, g in enumerate(self.groups) if g == key]]
            if (rows[:, _I["n"]] > 0).any():
                out[key] = aggregate_stats(rows, aggregation)
        return out

    def per_image(self) -> list[dict[str, Any]]:
        """One record per scored image: name, group and its metrics."""
        return [{"name": nm, "group": gr, **metrics_from_stats(st)}
                for st, gr, nm in zip(self._stats, self.groups, self.names, strict=True) if st[_I["n"]] > 0]

    def reset(self) -> None:
        """Forget every image."""
        self._stats.clear()
        self.groups.clear()
        self.names.clear()


# ---------------------------------------------------------------------------------------------------------
# Routing accuracy of the two-stage system

@dataclass(frozen=True)
class RoutingReport:
    """Routing accuracy and confusion counts; confusion[i, j] = images of true range labels[i] routed to j."""

    labels: tuple[Hashable, ...]
    confusion: np.ndarray
    accuracy: float
    per_range_accuracy: dict[Hashable, float]
    num_images: int

    def to_markdown(self) -> str:
        """Confusion table (rows: true range, columns: chosen range) with the overall accuracy."""
        head = "| true \\ chosen | " + " | ".join(str(x) for x in self.labels) + " | accuracy |"
        sep = "|" + "---|" * (len(self.labels) + 2)
        lines = [head, sep]
        for i, lab in enumerate(self.labels):
            acc = self.per_range_accuracy[lab]
            acc_text = "n/a" if np.isnan(acc) else f"{acc:.3f}"
            lines.append(f"| {lab} | " + " | ".join(str(int(c)) for c in self.confusion[i]) + f" | {acc_text} |")
        lines.append("| all | " + " | " * (len(self.labels) - 1) + f" | {self.accuracy:.3f} |")
        return "\n".join(lines)


def routing_accuracy(chosen: Iterable[Hashable], true: Iterable[Hashable],
                     labels: Sequence[Hashable] | None = None) -> RoutingReport:
    """Fraction of images whose chosen range equals the true range, plus the per-range confusion counts.

    Ranges may be any labels ('low'/'high', or the datasets' 0/1); `labels` fixes the table order (default:
    sorted union of the labels seen).
    """
    def _list(x: Iterable[Hashable]) -> list[Hashable]:
        if hasattr(x, "tolist"):
            x = x.tolist()
        return list(x)

    c, t = _list(chosen), _list(true)
    if len(c) != len(t):
        raise ValueError(f"{len(c)} chosen ranges for {len(t)} true ranges")
    if not t:
        raise ValueError("routing accuracy of zero images is undefined")
    if labels is None:
        seen = set(c) | set(t)
        try:
            labels = sorted(seen)
        except TypeError:
            labels = sorted(seen, key=str)
    labels = tuple(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = {x for x in c + t if x not in index}
    if unknown:
        raise ValueError(f"ranges {sorted(map(str, unknown))} are not among the labels {labels}")
    ti = np.array([index[x] for x in t])
    ci = np.array([index[x] for x in c])
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (ti, ci), 1)
    rows = confusion.sum(axis=1)
    per_range = {lab: (float(confusion[i, i] / rows[i]) if rows[i] else float("nan")) for i, lab in enumerate(labels)}
    return RoutingReport(labels, confusion, float(np.trace(confusion) / len(t)), per_range, len(t))


# ---------------------------------------------------------------------------------------------------------
# Tables

def column_header(key: str, units: str = "plain") -> str:
    """Column title with its unit, e.g. 'RMSE (m)', 'REL (%)', 'iRMSE (1/km)'."""
    if units not in ("plain", "leaderboard"):
        raise ValueError(f"units must be 'plain' or 'leaderboard', got {units!r}")
    info = METRIC_INFO.get(key)
    if info is None:
        return key
    unit = info.leaderboard_unit if units == "leaderboard" and info.leaderboard_unit else info.unit
    if key == "sq_rel_eigen":
        unit = "m, /gt"
    elif key == "sq_rel_kitti":
        unit = f"{unit}, /gt²" if unit else "/gt²"
    arrow = "↑" if info.higher_is_better else "↓"
    return f"{info.label} ({unit}) {arrow}" if unit else f"{info.label} {arrow}"


def format_table(rows: Mapping[str, Mapping[str, float]], columns: Sequence[str] | str | None = None,
                 units: str | None = None, digits: int = 3, title: str = "method") -> str:
    """Markdown table of {row_name: metrics_dict (plain units)}.

    `columns` is a list of metric keys or a paper table name from PAPER_TABLES ('nyu', 'scannet', 'kitti'),
    which also picks the units; `units` 'plain' or 'leaderboard' (converted here with to_leaderboard_units).
    Missing values print as '-'.
    """
    if isinstance(columns, str):
        if columns not in PAPER_TABLES:
            raise ValueError(f"unknown table {columns!r}; choose one of {sorted(PAPER_TABLES)} or pass metric keys")
        columns, table_units = PAPER_TABLES[columns]
        units = units or table_units
    units = units or "plain"
    if units not in ("plain", "leaderboard"):
        raise ValueError(f"units must be 'plain' or 'leaderboard', got {units!r}")
    if columns is None:
        seen: dict[str, None] = {}
        for m in rows.values():
            seen.update(dict.fromkeys(k for k in m if k in METRIC_INFO))
        columns = [k for k in METRIC_KEYS if k in seen]
    columns = list(columns)
    lines = ["| " + " | ".join([title] + [column_header(c, units) for c in columns]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for name, metrics in rows.items():
        vals = to_leaderboard_units(metrics) if units == "leaderboard" else dict(metrics)
        cells = []
        for c in columns:
            v = vals.get(c)
            cells.append("-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}")
        lines.append("| " + " | ".join([str(name)] + cells) + " |")
    return "\n".join(lines)

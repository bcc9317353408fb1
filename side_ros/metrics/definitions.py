"""Metric names, units and the paper's tables; evaluation crops, depth caps and protocols (side_ros.metrics)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------------------
# Metric names, units and the paper's tables

METRIC_KEYS: tuple[str, ...] = (
    "silog",
    "abs_rel",
    "sq_rel_kitti",
    "sq_rel_eigen",
    "rmse",
    "mae",
    "irmse",
    "imae",
    "log10",
    "rmse_log",
    "log_mae",
    "delta1",
    "delta2",
    "delta3",
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
        return (math.ceil(t * sy - eps), math.floor(b * sy + eps), math.ceil(lft * sx - eps), math.floor(r * sx + eps))
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
            raise ValueError(
                f"max_depth {self.max_depth} must exceed min_depth {self.min_depth} and pred_floor {self.pred_floor}"
            )


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

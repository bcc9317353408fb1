"""Depth metrics as the KITTI depth benchmark computes them, the Eigen-style variants, crops, caps and routing.

Why this package is careful about definitions: the paper's tables mix conventions, and numbers are only
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

Modules: definitions (names, units, crops, protocols), depth (statistics, metrics, the accumulator, the KITTI
devkit's filling), reports (routing accuracy, tables).
"""

from side_ros.metrics.definitions import (
    AGGREGATIONS,
    CROPS,
    METRIC_INFO,
    METRIC_KEYS,
    PAPER_TABLES,
    PROTOCOLS,
    EvalProtocol,
    MetricInfo,
    crop_box,
    crop_mask,
    get_protocol,
)
from side_ros.metrics.depth import (
    KITTI_PNG_UNIT,
    NUM_STATS,
    DepthMetricAccumulator,
    aggregate_stats,
    compute_errors,
    image_stats,
    interpolate_background,
    metrics_from_stats,
    pool_stats,
    to_leaderboard_units,
    valid_pixels,
)
from side_ros.metrics.reports import RoutingReport, column_header, format_table, routing_accuracy

__all__ = [
    "AGGREGATIONS",
    "CROPS",
    "KITTI_PNG_UNIT",
    "METRIC_INFO",
    "METRIC_KEYS",
    "NUM_STATS",
    "PAPER_TABLES",
    "PROTOCOLS",
    "DepthMetricAccumulator",
    "EvalProtocol",
    "MetricInfo",
    "RoutingReport",
    "aggregate_stats",
    "column_header",
    "compute_errors",
    "crop_box",
    "crop_mask",
    "format_table",
    "get_protocol",
    "image_stats",
    "interpolate_background",
    "metrics_from_stats",
    "pool_stats",
    "routing_accuracy",
    "to_leaderboard_units",
    "valid_pixels",
]

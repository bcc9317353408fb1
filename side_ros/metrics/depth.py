"""Depth metrics from per-image sufficient statistics, the KITTI devkit's filling of missing predictions, and the
accumulator that evaluations feed image by image (definitions: side_ros.metrics)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from side_ros.metrics.definitions import AGGREGATIONS, METRIC_INFO, METRIC_KEYS, EvalProtocol, crop_mask, get_protocol

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
    "n",
    "sum_abs",
    "sum_sq",
    "sum_abs_inv",
    "sum_sq_inv",
    "sum_abs_log",
    "sum_sq_log",
    "sum_log",
    "m2_log",
    "sum_abs_rel",
    "sum_sq_rel_kitti",
    "sum_sq_rel_eigen",
    "sum_abs_log10",
    "n_delta1",
    "n_delta2",
    "n_delta3",
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
        raise ValueError(
            f"prediction {p_all.shape} and ground truth {g_all.shape} must have the same size; "
            "resize the prediction to the ground truth first"
        )
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
            raise ValueError(
                f"{int((~np.isfinite(p)).sum())} valid ground-truth pixels have no prediction, and the "
                "KITTI devkit's interpolateBackground leaves them empty (rows without any prediction "
                "between rows with one)"
            )
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
    stats[_I["n_delta2"]] = np.count_nonzero(ratio < 1.25**2)
    stats[_I["n_delta3"]] = np.count_nonzero(ratio < 1.25**3)
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


def compute_errors(
    pred: Any, gt: Any, protocol: EvalProtocol | str | None = None, mask: Any = None
) -> dict[str, float]:
    """All metrics (plain units) of one image over its valid pixels; see the module docstring."""
    stats = image_stats(pred, gt, protocol, mask)
    if stats[_I["n"]] == 0:
        raise ValueError("the ground truth has no valid pixel inside the crop and depth cap")
    return metrics_from_stats(stats)


def to_leaderboard_units(metrics: Mapping[str, float]) -> dict[str, float]:
    """KITTI leaderboard units: SILog x100, absRel and sqRel (KITTI) in %, iRMSE and iMAE in 1/km.

    Everything else (metres, ratios, sq_rel_eigen in metres) and unknown keys are copied unchanged. Apply once.
    """
    return {k: float(v) * (METRIC_INFO[k].leaderboard_scale if k in METRIC_INFO else 1.0) for k, v in metrics.items()}


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

    def update(
        self,
        pred: Any,
        gt: Any,
        mask: Any = None,
        group: Hashable | Sequence[Hashable] = None,
        name: str | Sequence[str] | None = None,
    ) -> np.ndarray:
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
        return [
            {"name": nm, "group": gr, **metrics_from_stats(st)}
            for st, gr, nm in zip(self._stats, self.groups, self.names, strict=True)
            if st[_I["n"]] > 0
        ]

    def reset(self) -> None:
        """Forget every image."""
        self._stats.clear()
        self.groups.clear()
        self.names.clear()

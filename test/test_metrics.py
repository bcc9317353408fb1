"""Depth metrics against hand-computed values and independent formulas; crops, caps, aggregation, routing."""

import math

import numpy as np
import pytest
import torch

from side_ros.metrics import (
    METRIC_KEYS,
    PROTOCOLS,
    DepthMetricAccumulator,
    EvalProtocol,
    aggregate_stats,
    compute_errors,
    crop_box,
    crop_mask,
    format_table,
    image_stats,
    interpolate_background,
    routing_accuracy,
    to_leaderboard_units,
    valid_pixels,
)


def _reference(gt: np.ndarray, pred: np.ndarray) -> dict:
    """The formulas written out directly on already-valid pixels (KITTI devkit + Eigen-style extras)."""
    g, p = gt.astype(np.float64).ravel(), pred.astype(np.float64).ravel()
    d = np.log(g) - np.log(p)
    thr = np.maximum(g / p, p / g)
    return {
        "silog": np.sqrt(np.mean(d**2) - np.mean(d) ** 2),
        "abs_rel": np.mean(np.abs(g - p) / g),
        "sq_rel_kitti": np.mean((g - p) ** 2 / g**2),
        "sq_rel_eigen": np.mean((g - p) ** 2 / g),
        "rmse": np.sqrt(np.mean((g - p) ** 2)),
        "mae": np.mean(np.abs(g - p)),
        "irmse": np.sqrt(np.mean((1 / g - 1 / p) ** 2)),
        "imae": np.mean(np.abs(1 / g - 1 / p)),
        "log10": np.mean(np.abs(np.log10(g) - np.log10(p))),
        "rmse_log": np.sqrt(np.mean(d**2)),
        "log_mae": np.mean(np.abs(d)),
        "delta1": np.mean(thr < 1.25),
        "delta2": np.mean(thr < 1.25**2),
        "delta3": np.mean(thr < 1.25**3),
    }


def test_two_pixels_by_hand() -> None:
    m = compute_errors(np.array([[1.0, 4.0]]), np.array([[2.0, 4.0]]))
    ln2 = math.log(2.0)
    expected = {
        "abs_rel": 0.25,  # (1/2 + 0) / 2
        "sq_rel_kitti": 0.125,  # (1/4 + 0) / 2
        "sq_rel_eigen": 0.25,  # (1/2 + 0) / 2
        "rmse": math.sqrt(0.5),
        "mae": 0.5,
        "imae": 0.25,  # |1/2 - 1| / 2
        "irmse": math.sqrt(0.125),
        "silog": ln2 / 2,  # sqrt(ln2^2/2 - (ln2/2)^2)
        "rmse_log": ln2 / math.sqrt(2),
        "log_mae": ln2 / 2,
        "log10": math.log10(2) / 2,
        "delta1": 0.5,
        "delta2": 0.5,
        "delta3": 0.5,  # ratios 2 and 1
    }
    assert set(m) == set(METRIC_KEYS)
    for k, v in expected.items():
        assert m[k] == pytest.approx(v, rel=1e-12), k


def test_delta_thresholds_by_hand() -> None:
    gt = np.ones((1, 4)) * 2.0
    pred = gt * np.array([1.2, 1 / 1.5, 1.9, 2.5])  # ratios 1.2, 1.5, 1.9, 2.5 (either direction)
    m = compute_errors(pred, gt)
    assert (m["delta1"], m["delta2"], m["delta3"]) == (0.25, 0.5, 0.75)


def test_random_image_matches_the_formulas() -> None:
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.5, 20.0, size=(7, 9))
    pred = gt * np.exp(rng.normal(0, 0.3, size=gt.shape))
    m = compute_errors(pred, gt)
    ref = _reference(gt, pred)
    for k in METRIC_KEYS:
        assert m[k] == pytest.approx(ref[k], rel=1e-10), k
    # silog is scale invariant, rmse_log is not
    m2 = compute_errors(pred * 3.0, gt)
    assert m2["silog"] == pytest.approx(m["silog"], rel=1e-10)
    assert m2["rmse_log"] > m["rmse_log"] + 0.5


def test_invalid_ground_truth_is_ignored() -> None:
    gt = np.array([[2.0, 4.0, 0.0, np.nan, np.inf, -1.0]])
    pred = np.array([[1.0, 4.0, 7.0, np.nan, 3.0, 2.0]])  # anything, even NaN, where gt is invalid
    assert compute_errors(pred, gt) == compute_errors(np.array([[1.0, 4.0]]), np.array([[2.0, 4.0]]))
    assert valid_pixels(gt).tolist() == [[True, True, False, False, False, False]]


def test_prediction_is_floored_and_nan_prediction_refused() -> None:
    m = compute_errors(np.array([[0.0, -5.0]]), np.array([[1.0, 1.0]]))  # clamped to 1e-3
    assert m["mae"] == pytest.approx(1.0 - 1e-3)
    assert m["imae"] == pytest.approx(1000.0 - 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        compute_errors(np.array([[np.nan, 1.0]]), np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="same size"):
        compute_errors(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="no valid"):
        compute_errors(np.ones((2, 2)), np.zeros((2, 2)))


def test_devkit_interpolate_background_by_hand() -> None:
    """io_depth.h's interpolateBackground, worked out by hand (0 = no prediction, as in a KITTI PNG)."""
    # One row: the gap between 2 and 4 takes min(2, 4) = 2, the left end copies 2, the right end copies 4.
    np.testing.assert_array_equal(interpolate_background(np.array([[0, 2, 0, 0, 4, 0.0]])), [[2, 2, 2, 2, 4, 4]])
    # Rows first, then columns: row 1 becomes 3 3 3, row 3 becomes 5 min(5,1)=1 1; row 0 copies row 1 from below,
    # row 4 copies row 3 from above, and row 2 (empty, between filled rows) stays empty, as in the devkit.
    pred = np.array([[0, 0, 0], [0, 3, 0], [0, 0, 0], [5, 0, 1], [0, 0, 0]], dtype=np.float64)
    n = np.nan
    np.testing.assert_array_equal(interpolate_background(pred), [[3, 3, 3], [3, 3, 3], [n, n, n], [5, 1, 1], [5, 1, 1]])
    # NaN, inf and anything a KITTI PNG stores as 0 (below 1/512 m) count as missing; 1/256 m does not.
    np.testing.assert_array_equal(
        interpolate_background(np.array([[np.nan, 7, np.inf, 1e-3, 1 / 256]])), [[7, 7, 1 / 256, 1 / 256, 1 / 256]]
    )


def test_kitti_benchmark_fills_missing_predictions_like_the_devkit() -> None:
    pred = np.array([[0, 0, 0], [0, 3, 0], [0, 0, 0], [5, 0, 1], [0, 0, 0]], dtype=np.float64)
    gt = np.full(pred.shape, 4.0)
    gt[2] = 0  # no ground truth in the row the devkit leaves empty
    m = compute_errors(pred, gt, "kitti_benchmark")
    # The devkit scores the filled prediction (above): 6 pixels of 3, 2 of 5, 4 of 1, against gt 4.
    d = [math.log(4 / 3)] * 6 + [math.log(4 / 5)] * 2 + [math.log(4)] * 4
    expected = {
        "irmse": math.sqrt((6 * (1 / 4 - 1 / 3) ** 2 + 2 * (1 / 4 - 1 / 5) ** 2 + 4 * (1 / 4 - 1) ** 2) / 12),
        "imae": (6 * (1 / 3 - 1 / 4) + 2 * (1 / 4 - 1 / 5) + 4 * (1 - 1 / 4)) / 12,
        "mae": (6 * 1 + 2 * 1 + 4 * 3) / 12,
        "rmse": math.sqrt((6 * 1 + 2 * 1 + 4 * 9) / 12),
        "abs_rel": (6 * 1 / 4 + 2 * 1 / 4 + 4 * 3 / 4) / 12,
        "sq_rel_kitti": (6 * 1 / 16 + 2 * 1 / 16 + 4 * 9 / 16) / 12,
        "silog": math.sqrt(sum(x * x for x in d) / 12 - (sum(d) / 12) ** 2),
        "log_mae": sum(abs(x) for x in d) / 12,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-12), key
    # Clamping the zeros to 1e-3 m instead would make iRMSE about 1000 1/m, not 0.44.
    assert m["irmse"] < 0.5 and compute_errors(pred, gt, "none")["irmse"] > 400
    # Ground truth in the row the devkit leaves empty: refused, as the devkit would score its placeholder -1.
    with pytest.raises(ValueError, match="interpolateBackground leaves them empty"):
        compute_errors(pred, np.full(pred.shape, 4.0), "kitti_benchmark")
    # NaN (the node's "no depth") is missing too, and filled the same way.
    nan_pred = np.where(pred == 0, np.nan, pred)
    assert compute_errors(nan_pred, gt, "kitti_benchmark") == pytest.approx(m)


def test_kitti_and_eigen_sq_rel_differ_by_the_gt_factor() -> None:
    gt = np.array([[10.0, 2.0]])
    pred = np.array([[11.0, 2.0]])
    m = compute_errors(pred, gt)
    assert m["sq_rel_kitti"] == pytest.approx((1 / 100) / 2)  # e^2 / gt^2
    assert m["sq_rel_eigen"] == pytest.approx((1 / 10) / 2)  # e^2 / gt
    # for a single pixel the two differ exactly by the factor gt
    one = compute_errors(np.array([[7.0]]), np.array([[5.0]]))
    assert one["sq_rel_eigen"] == pytest.approx(5.0 * one["sq_rel_kitti"])


def test_leaderboard_units() -> None:
    m = compute_errors(np.array([[1.0, 4.0]]), np.array([[2.0, 4.0]]))
    lb = to_leaderboard_units(m)
    assert lb["silog"] == pytest.approx(100 * math.log(2) / 2)
    assert lb["abs_rel"] == pytest.approx(25.0)
    assert lb["sq_rel_kitti"] == pytest.approx(12.5)
    assert lb["irmse"] == pytest.approx(1000 * math.sqrt(0.125))
    assert lb["imae"] == pytest.approx(250.0)
    for k in ("rmse", "mae", "sq_rel_eigen", "delta1", "log10", "rmse_log"):
        assert lb[k] == m[k]
    assert to_leaderboard_units({"num_images": 3})["num_images"] == 3


def test_nyu_eigen_crop_at_640x480_and_scaled() -> None:
    assert crop_box(480, 640, "nyu_eigen") == (45, 471, 41, 601)
    mask = crop_mask(480, 640, "nyu_eigen")
    assert mask.shape == (480, 640) and mask.sum() == (471 - 45) * (601 - 41)
    assert mask[45, 41] and mask[470, 600] and not mask[44, 41] and not mask[45, 40]
    assert not mask[471, 100] and not mask[100, 601]
    # 320x240: 22.5 -> 23, 235.5 -> 235, 20.5 -> 21, 300.5 -> 300 (rounded inwards)
    assert crop_box(240, 320, "nyu_eigen") == (23, 235, 21, 300)


def test_kitti_crops_at_375x1242() -> None:
    # Garg: 0.40810811*375 = 153.04, 0.99189189*375 = 371.96, 0.03594771*1242 = 44.65, 0.96405229*1242 = 1197.35
    assert crop_box(375, 1242, "kitti_garg") == (153, 371, 44, 1197)
    # Eigen: 0.3324324*375 = 124.66, 0.91351351*375 = 342.57
    assert crop_box(375, 1242, "kitti_eigen") == (124, 342, 44, 1197)
    g = crop_mask(375, 1242, "kitti_garg")
    assert g.sum() == (371 - 153) * (1197 - 44)
    assert g[153, 44] and g[370, 1196] and not g[152, 44] and not g[371, 44] and not g[200, 1197]
    assert crop_mask(375, 1242, "none").all()
    with pytest.raises(ValueError, match="unknown evaluation crop"):
        crop_mask(10, 10, "garg")


def test_protocol_cap_and_crop_select_pixels() -> None:
    gt = np.full((480, 640), 3.0)
    gt[100, 100] = 12.0  # above the NYU 10 m cap: not scored
    pred = np.full((480, 640), 3.0)
    pred[0, 0] = 100.0  # outside the crop: not scored
    pred[200, 200] = 50.0  # inside: clamped to the 10 m cap
    stats = image_stats(pred, gt, "nyu_eigen")
    assert stats[0] == (471 - 45) * (601 - 41) - 1
    m = compute_errors(pred, gt, "nyu_eigen")
    assert m["mae"] == pytest.approx((10.0 - 3.0) / stats[0])
    # a user mask narrows further
    user = np.zeros_like(gt, dtype=bool)
    user[200, 200] = True
    assert compute_errors(pred, gt, "nyu_eigen", mask=user)["mae"] == pytest.approx(7.0)
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        compute_errors(pred, gt, "nyu")
    with pytest.raises(ValueError, match="max_depth"):
        EvalProtocol("bad", max_depth=1e-4)


def test_per_image_and_pooled_aggregation_differ() -> None:
    acc = DepthMetricAccumulator()
    acc.update(np.array([[2.0]]), np.array([[1.0]]))  # one pixel, abs_rel 1, rmse 1
    acc.update(np.ones((2, 4)), np.ones((2, 4)))  # eight perfect pixels
    per_image = acc.compute("per_image")
    pooled = acc.compute("pooled")
    assert per_image["abs_rel"] == pytest.approx(0.5)  # (1 + 0) / 2 images
    assert pooled["abs_rel"] == pytest.approx(1 / 9)  # 1 / 9 pixels
    assert per_image["rmse"] == pytest.approx(0.5)
    assert pooled["rmse"] == pytest.approx(1 / 3)  # sqrt(1 / 9)
    assert per_image["delta1"] == pytest.approx(0.5) and pooled["delta1"] == pytest.approx(8 / 9)


def test_pooled_equals_one_image_holding_all_pixels() -> None:
    rng = np.random.default_rng(0)
    gts = [rng.uniform(1, 10, size=(3, n)) for n in (2, 5, 11)]
    preds = [g * np.exp(rng.normal(0.2 * i, 0.2, size=g.shape)) for i, g in enumerate(gts)]
    acc = DepthMetricAccumulator()
    for p, g in zip(preds, gts, strict=True):
        acc.update(p, g)
    pooled = acc.compute("pooled")
    ref = _reference(np.concatenate([g.ravel() for g in gts]), np.concatenate([p.ravel() for p in preds]))
    for k in METRIC_KEYS:
        assert pooled[k] == pytest.approx(ref[k], rel=1e-10), k
    per_image = acc.compute("per_image")
    for k in METRIC_KEYS:
        assert per_image[k] == pytest.approx(
            np.mean([_reference(g, p)[k] for g, p in zip(gts, preds, strict=True)]), rel=1e-10
        ), k


def test_accumulator_batches_torch_groups_and_empty_images() -> None:
    gt = torch.tensor([[[[2.0, 4.0]]], [[[1.0, 0.0]]], [[[0.0, 0.0]]]])  # (3, 1, 1, 2); last image has no gt
    pred = torch.tensor([[[[1.0, 4.0]]], [[[1.5, 9.0]]], [[[1.0, 1.0]]]], dtype=torch.float32)
    acc = DepthMetricAccumulator("kitti_benchmark")
    rows = acc.update(pred, gt, group=["low", "high", "high"], name=["a", "b", "c"])
    assert rows.shape[0] == 3
    assert acc.num_images == 2 and acc.num_empty == 1
    groups = acc.compute_groups()
    assert set(groups) == {"low", "high"}
    assert groups["low"]["abs_rel"] == pytest.approx(0.25)
    assert groups["high"]["abs_rel"] == pytest.approx(0.5)
    assert acc.compute()["abs_rel"] == pytest.approx(0.375)
    assert [r["name"] for r in acc.per_image()] == ["a", "b"]
    other = DepthMetricAccumulator("kitti_benchmark")
    other.update(np.array([[1.0]]), np.array([[1.0]]), group="low")
    acc.merge(other)
    assert acc.compute_groups()["low"]["abs_rel"] == pytest.approx(0.125)
    with pytest.raises(ValueError, match="protocol"):
        acc.merge(DepthMetricAccumulator("nyu_eigen"))
    with pytest.raises(ValueError, match="entries"):
        acc.update(pred, gt, group=["low"])
    acc.reset()
    with pytest.raises(ValueError, match="no image"):
        acc.compute()
    with pytest.raises(ValueError, match="aggregation"):
        aggregate_stats(rows, "mean")


def test_routing_accuracy_and_confusion() -> None:
    chosen = ["low", "low", "high", "high", "low"]
    true = ["low", "high", "high", "high", "low"]
    rep = routing_accuracy(chosen, true, labels=("low", "high"))
    assert rep.accuracy == pytest.approx(0.8)
    assert rep.confusion.tolist() == [[2, 0], [1, 2]]  # rows true low/high, columns chosen low/high
    assert rep.per_range_accuracy == {"low": 1.0, "high": pytest.approx(2 / 3)}
    assert rep.num_images == 5
    assert "| high | 1 | 2 | 0.667 |" in rep.to_markdown()
    ints = routing_accuracy(np.array([0, 1, 1]), torch.tensor([0, 0, 1]))
    assert ints.labels == (0, 1) and ints.confusion.tolist() == [[1, 1], [0, 1]]
    with pytest.raises(ValueError, match="not among"):
        routing_accuracy(["low"], ["mid"], labels=("low", "high"))
    with pytest.raises(ValueError, match="chosen ranges"):
        routing_accuracy(["low"], ["low", "high"])


def test_format_table_units_and_columns() -> None:
    rows = {"ours": compute_errors(np.array([[1.0, 4.0]]), np.array([[2.0, 4.0]])), "empty": {}}
    kitti = format_table(rows, "kitti")
    lines = kitti.splitlines()
    assert lines[0] == "| method | iRMSE (1/km) ↓ | REL (%) ↓ | SILog (x100) ↓ | sqREL (%, /gt²) ↓ |"
    assert lines[2] == f"| ours | {1000 * math.sqrt(0.125):.3f} | 25.000 | {50 * math.log(2):.3f} | 12.500 |"
    assert lines[3] == "| empty | - | - | - | - |"
    nyu = format_table({"ours": rows["ours"]}, "nyu")
    assert nyu.splitlines()[2] == "| ours | 0.250 | 0.707 | 0.500 | 0.500 | 0.500 |"
    scannet = format_table({"ours": rows["ours"]}, "scannet", digits=2)
    assert "sqREL (m, /gt)" in scannet and scannet.splitlines()[2].endswith("| 0.50 | 0.25 | 0.25 |")
    custom = format_table({"x": {"rmse": 1.23456}}, ["rmse"], digits=4)
    assert custom.splitlines()[2] == "| x | 1.2346 |"
    with pytest.raises(ValueError, match="unknown table"):
        format_table(rows, "kitty")


def test_protocol_presets() -> None:
    assert PROTOCOLS["nyu_eigen"].max_depth == 10.0 and PROTOCOLS["nyu_eigen"].crop == "nyu_eigen"
    assert PROTOCOLS["kitti_eigen_garg"].max_depth == 80.0 and PROTOCOLS["kitti_eigen_garg"].min_depth == 1e-3
    assert PROTOCOLS["kitti_benchmark"].max_depth is None and PROTOCOLS["kitti_benchmark"].crop == "none"
    assert PROTOCOLS["kitti_benchmark"].fill_missing and not PROTOCOLS["kitti_eigen_garg"].fill_missing

"""Canonical-focal depth: training targets, inference rescaling on hand-made intrinsics, procedural zoom."""

import math

import numpy as np
import pytest
import torch

from side_ros.networks.config import coarse_config, high_range_config, low_range_config
from side_ros.networks.sidenet import DSSIDENet
from side_ros.preprocess import focal_factor, predict_depth, working_focal
from side_ros.scenes import ProceduralDataset, focal_scale_of, render_scene
from side_ros.training.data import TrainTransform


def test_working_focal_follows_each_input_handling() -> None:
    low = low_range_config(input_size=(128, 96))
    # "resize" 640x480 -> 128x96 scales both focal lengths by 0.2
    assert working_focal((500.0, 500.0), 480, 640, low) == pytest.approx(100.0)
    # another aspect scales fx and fy differently: geometric mean of 1000*128/1280 and 500*96/480
    assert working_focal((1000.0, 500.0), 480, 1280, low) == pytest.approx(math.sqrt(100.0 * 100.0))
    assert working_focal((400.0, 900.0), 480, 640, low) == pytest.approx(math.sqrt(80.0 * 180.0))
    high = high_range_config(input_size=(312, 96))
    # "pad": 1242x375 is shrunk to fit 312x96 (factor 312/1242), a small image is not scaled at all
    s = 312 / 1242
    assert working_focal((721.5, 721.5), 375, 1242, high) == pytest.approx(
        math.sqrt(721.5 * round(1242 * s) / 1242 * 721.5 * round(375 * s) / 375)
    )
    assert working_focal((180.0, 180.0), 94, 310, high) == pytest.approx(180.0)
    coarse = coarse_config(input_size=(128, 96))
    # "scale_pad": scaled to height 96 keeping the aspect
    assert working_focal((700.0, 700.0), 375, 1242, coarse) == pytest.approx(
        math.sqrt(700 * round(1242 * 96 / 375) / 1242 * 700 * 96 / 375)
    )
    with pytest.raises(ValueError, match="positive"):
        working_focal((0.0, 500.0), 480, 640, low)
    with pytest.raises(ValueError, match="positive"):
        working_focal((math.nan, 500.0), 480, 640, low)


def test_focal_factor_is_one_without_focal_or_for_metric_networks() -> None:
    canon = low_range_config(input_size=(128, 96), canonical_focal=100.0)
    assert focal_factor(canon, None, 480, 640) == 1.0  # unknown camera: the training camera is assumed
    assert focal_factor(canon, (500.0, 500.0), 480, 640) == pytest.approx(1.0)
    assert focal_factor(canon, (350.0, 350.0), 480, 640) == pytest.approx(0.7)
    assert focal_factor(canon, (700.0, 700.0), 480, 640) == pytest.approx(1.4)
    metric = low_range_config(input_size=(128, 96))
    assert focal_factor(metric, (700.0, 700.0), 480, 640) == 1.0
    with pytest.raises(ValueError, match="canonical_focal"):
        low_range_config(canonical_focal=-1.0)


def test_predict_depth_rescales_by_the_cameras_focal() -> None:
    cfg = low_range_config(input_size=(64, 64), canonical_focal=50.0, num_bins=8)
    model = DSSIDENet(cfg).eval()
    rgb = torch.rand(1, 3, 128, 128)
    with torch.inference_mode():
        base = predict_depth(model, rgb)  # no focal: the network's own units
        native = predict_depth(model, rgb, (100.0, 100.0))  # 100 px at 128 -> 50 px on the 64 canvas: factor 1
        wide = predict_depth(model, rgb, (70.0, 70.0))  # a wider lens: the same picture is nearer
        tele = predict_depth(model, rgb, (140.0, 140.0))
    torch.testing.assert_close(native, base)
    torch.testing.assert_close(wide, base * 0.7)
    torch.testing.assert_close(tele, base * 1.4)


def test_training_target_is_depth_in_canonical_focal_units() -> None:
    cfg = low_range_config(input_size=(64, 48), canonical_focal=80.0, num_bins=8)
    t = TrainTransform(cfg, flip=False, color_jitter=0.0)
    depth = torch.full((1, 96, 128), 4.0)
    K = torch.tensor([[320.0, 0, 64], [0, 320.0, 48], [0, 0, 1]])  # 160 px on the 64x48 canvas
    out = t({"rgb": torch.rand(3, 96, 128), "depth": depth, "intrinsics": K, "range": 0})
    assert torch.allclose(out["depth"][:, :48], torch.tensor(4.0 * 80.0 / 160.0))
    # metric networks keep metres
    plain = TrainTransform(low_range_config(input_size=(64, 48), num_bins=8), flip=False, color_jitter=0.0)
    assert torch.allclose(
        plain({"rgb": torch.rand(3, 96, 128), "depth": depth, "range": 0})["depth"][:, :48], torch.tensor(4.0)
    )
    with pytest.raises(ValueError, match="intrinsics"):
        t({"rgb": torch.rand(3, 96, 128), "depth": depth, "range": 0})


def test_procedural_zoom_changes_the_lens_not_the_scene() -> None:
    a = render_scene(5, "indoor", 64, 48)
    b = render_scene(5, "indoor", 64, 48, focal_scale=1.4)
    assert b.intrinsics[0, 0] == pytest.approx(1.4 * a.intrinsics[0, 0])
    assert b.intrinsics[0, 2] == a.intrinsics[0, 2]
    # the centre pixel looks along the same ray in both: same depth there, a different picture around it
    cy, cx = int(round(a.intrinsics[1, 2])), int(round(a.intrinsics[0, 2]))
    assert b.depth[cy, cx] == pytest.approx(a.depth[cy, cx], rel=0.05)
    assert not np.array_equal(a.rgb, b.rgb)
    with pytest.raises(ValueError, match="focal_scale"):
        render_scene(5, "indoor", 64, 48, focal_scale=0.0)


def test_training_zoom_is_fixed_per_seed_and_within_range() -> None:
    scales = [focal_scale_of(s, (0.6, 1.7)) for s in range(200)]
    assert all(0.6 <= z <= 1.7 for z in scales)
    assert min(scales) < 0.7 and max(scales) > 1.5  # much wider than +-10 %
    assert focal_scale_of(7, (0.6, 1.7)) == focal_scale_of(7, (0.6, 1.7))
    ds = ProceduralDataset([3, 4], ["indoor"], size=(32, 24), focal_range=(0.6, 1.7))
    ref = ProceduralDataset([3, 4], ["indoor"], size=(32, 24))
    ratio = float(ds[0]["intrinsics"][0, 0] / ref[0]["intrinsics"][0, 0])
    assert ratio == pytest.approx(focal_scale_of(3, (0.6, 1.7)), rel=1e-5)
    with pytest.raises(ValueError, match="focal_range"):
        ProceduralDataset([1], ["indoor"], focal_range=(1.5, 0.5))


def test_digital_zoom_divides_the_target_by_the_zoom() -> None:
    cfg = low_range_config(input_size=(64, 48), canonical_focal=160.0, num_bins=8)
    K = torch.tensor([[320.0, 0, 64], [0, 320.0, 48], [0, 0, 1]])  # 160 px on the canvas: factor 1 unzoomed
    t = TrainTransform(cfg, flip=False, color_jitter=0.0, zoom=(2.0, 2.0))
    out = t({"rgb": torch.rand(3, 96, 128), "depth": torch.full((1, 96, 128), 4.0), "intrinsics": K, "range": 0})
    assert torch.allclose(out["depth"][:, :48], torch.tensor(2.0))  # a 2x longer lens: half the canonical depth
    # the zoomed picture is a blown-up window of the original
    ramp = torch.linspace(0, 1, 128).expand(3, 96, 128).clone()
    z = t({"rgb": ramp, "depth": torch.full((1, 96, 128), 4.0), "intrinsics": K, "range": 0})["rgb"]
    assert float(z[0, 0, -1] - z[0, 0, 0]) < 0.6
    with pytest.raises(ValueError, match="zoom"):
        TrainTransform(cfg, zoom=(0.5, 1.0))
    with pytest.raises(ValueError, match="canonical-focal"):
        TrainTransform(low_range_config(input_size=(64, 48), num_bins=8), zoom=(1.0, 1.5))

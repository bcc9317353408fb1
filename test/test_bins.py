"""Eq. 1 quantization, its inverse and the soft-classification decoding."""

import math

import pytest
import torch

from side_ros.networks import DepthBins


def test_eq1_quantization_by_hand() -> None:
    bins = DepthBins(alpha=1.0, beta=100.0, num_bins=4)  # q = (2 - 0) / 4 = 0.5 log10-units
    assert bins.q == pytest.approx(0.5)
    depth = torch.tensor([1.0, 3.0, 6.0, 10.0, 31.0, 100.0, 0.5, 500.0])
    # log10: 0, .477, .778, 1, 1.491, 2 -> /0.5 -> 0, .954, 1.556, 2, 2.98, 4; out of range clamps to 0 and K
    assert bins.quantize(depth).tolist() == [0, 1, 2, 2, 3, 4, 0, 4]
    assert bins.num_levels == 5


def test_inverse_maps_levels_back_exactly() -> None:
    bins = DepthBins(0.5, 10.0, 80)
    levels = torch.arange(81)
    depth = bins.level_to_depth(levels)
    assert depth[0].item() == pytest.approx(0.5) and depth[-1].item() == pytest.approx(10.0, rel=1e-5)
    assert torch.equal(bins.quantize(depth), levels)
    x = torch.linspace(0.5, 10.0, 1000)
    rel = (bins.level_to_depth(bins.quantize(x)) / x - 1).abs().max().item()
    assert rel <= 10 ** (bins.q / 2) - 1 + 1e-6  # rounding error at most half a bin


def test_expected_depth_on_hand_made_probabilities() -> None:
    bins = DepthBins(1.0, 100.0, 4)
    # pixel 0: all mass on level 3; pixel 1: half on 1, half on 3 -> level 2 -> 10 m; pixel 2: uniform -> level 2
    probs = torch.tensor([[0, 0, 0, 1.0, 0], [0, 0.5, 0, 0.5, 0], [0.2] * 5]).T.reshape(1, 5, 1, 3)
    logits = torch.log(probs.clamp_min(1e-30))
    level = bins.expected_level(logits)
    torch.testing.assert_close(level, torch.tensor([[[[3.0, 2.0, 2.0]]]]), atol=1e-5, rtol=0)
    depth = bins.expected_depth(logits)
    torch.testing.assert_close(depth, torch.tensor([[[[10 ** 1.5, 10.0, 10.0]]]]), rtol=1e-4, atol=0)
    assert bins.argmax_depth(logits)[0, 0, 0, 0].item() == pytest.approx(10 ** 1.5, rel=1e-5)


def test_continuous_level_is_unrounded_eq1() -> None:
    bins = DepthBins(1.0, 100.0, 4)
    assert bins.continuous_level(torch.tensor([3.0])).item() == pytest.approx(math.log10(3) / 0.5)


@pytest.mark.parametrize("args", [(0.0, 10.0, 8), (5.0, 5.0, 8), (1.0, 10.0, 0)])
def test_bad_bins_refused(args: tuple) -> None:
    with pytest.raises(ValueError):
        DepthBins(*args)

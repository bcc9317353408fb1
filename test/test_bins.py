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
    torch.testing.assert_close(depth, torch.tensor([[[[10**1.5, 10.0, 10.0]]]]), rtol=1e-4, atol=0)
    assert bins.argmax_depth(logits)[0, 0, 0, 0].item() == pytest.approx(10**1.5, rel=1e-5)


def test_continuous_level_is_unrounded_eq1() -> None:
    bins = DepthBins(1.0, 100.0, 4)
    assert bins.continuous_level(torch.tensor([3.0])).item() == pytest.approx(math.log10(3) / 0.5)


@pytest.mark.parametrize("args", [(0.0, 10.0, 8), (5.0, 5.0, 8), (1.0, 10.0, 0)])
def test_bad_bins_refused(args: tuple) -> None:
    with pytest.raises(ValueError):
        DepthBins(*args)


def _logits(probs: list[list[float]]) -> torch.Tensor:
    """Pixels' probabilities over the levels -> (1, L, 1, P) logits."""
    p = torch.tensor(probs, dtype=torch.float64).T
    return torch.log(p.clamp_min(1e-30)).float().reshape(1, p.shape[0], 1, p.shape[1])


def test_confidence_is_one_for_a_peaked_distribution_and_near_zero_for_a_flat_one() -> None:
    bins = DepthBins(0.5, 10.0, 80)
    levels = bins.num_levels
    peaked = [0.0] * levels
    peaked[40] = 1.0
    two_adjacent = [0.0] * levels
    two_adjacent[20] = two_adjacent[21] = 0.5
    flat = [1.0 / levels] * levels
    bimodal = [0.0] * levels
    bimodal[10] = bimodal[70] = 0.5  # expected level 40, where there is no mass at all
    conf = bins.confidence(_logits([peaked, two_adjacent, flat, bimodal]))[0, 0, 0]
    assert conf[0].item() == pytest.approx(1.0, abs=1e-5)
    assert conf[1].item() == pytest.approx(1.0, abs=1e-5)  # both levels lie within one bin of 20.5
    assert conf[2].item() == pytest.approx(2 / levels, abs=1e-5)  # a window two bins wide of a flat distribution
    assert conf[3].item() == pytest.approx(0.0, abs=1e-5)


def test_confidence_counts_partial_bins_and_is_continuous_in_the_level() -> None:
    bins = DepthBins(1.0, 100.0, 4)  # levels 0..4
    # expected level 2 with a third on each of 1, 2, 3: window [1, 3] holds half of 1, all of 2, half of 3
    conf = bins.confidence(_logits([[0, 1 / 3, 1 / 3, 1 / 3, 0]]))
    assert conf.item() == pytest.approx(2 / 3, abs=1e-5)
    # mass moving from level 1 to level 3 moves the expected level smoothly; confidence follows without jumps
    values = []
    for t in torch.linspace(0, 1, 101).tolist():
        values.append(bins.confidence(_logits([[0, (1 - t) * 0.5, 0.5, t * 0.5, 0]])).item())
    assert max(abs(a - b) for a, b in zip(values, values[1:], strict=False)) < 0.02
    # at the ends of the range the window is cut by the levels that exist; mass on level 0 still gives 1
    assert bins.confidence(_logits([[1, 0, 0, 0, 0]])).item() == pytest.approx(1.0, abs=1e-5)


def test_confidence_by_hand_against_every_level() -> None:
    """The gathered window equals the definition evaluated over all K + 1 levels."""
    bins = DepthBins(0.5, 10.0, 80)
    logits = torch.randn(2, bins.num_levels, 5, 7) * 3
    level, conf = bins.decode(logits)
    probs = torch.softmax(logits, dim=1)
    j = torch.arange(bins.num_levels, dtype=torch.float32).view(1, -1, 1, 1)
    overlap = (torch.minimum(j + 0.5, level + 1) - torch.maximum(j - 0.5, level - 1)).clamp(0, 1)
    torch.testing.assert_close(conf, (probs * overlap).sum(1, keepdim=True), atol=1e-5, rtol=0)
    torch.testing.assert_close(level, bins.expected_level(logits), atol=1e-5, rtol=0)
    assert ((conf >= 0) & (conf <= 1)).all()
    hard_level, hard_conf = bins.decode(logits, hard=True)
    assert torch.equal(hard_level, logits.argmax(1, keepdim=True).float())
    overlap = (torch.minimum(j + 0.5, hard_level + 1) - torch.maximum(j - 0.5, hard_level - 1)).clamp(0, 1)
    torch.testing.assert_close(hard_conf, (probs * overlap).sum(1, keepdim=True), atol=1e-5, rtol=0)

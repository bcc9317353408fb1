"""The paper's losses (Eqs. 2-3, hard-cl, L1) on hand-made logits and depths, masking, gradients, gt resizing."""

import math

import pytest
import torch
import torch.nn.functional as F

from side_ros.networks import DepthBins
from side_ros.training.losses import (
    MultiTaskLoss,
    hard_cl_loss,
    reg_l1_loss,
    resize_depth_nearest,
    soft_cl_loss,
    valid_depth_mask,
)

# alpha 1 m, beta 100 m, K = 8: q = 0.25 log10-units, level b <-> 10 ** (b / 4) metres, levels 0..8.
BINS = DepthBins(alpha=1.0, beta=100.0, num_bins=8)


def _level_depth(level: float) -> float:
    return 10 ** (level / 4)


def _logits_on(levels_probs: list[dict[int, float]]) -> torch.Tensor:
    """(1, K+1, 1, P) logits whose softmax puts the given mass on the given levels (others ~0)."""
    probs = torch.full((len(levels_probs), BINS.num_levels), 1e-30, dtype=torch.float64)
    for i, d in enumerate(levels_probs):
        for lvl, p in d.items():
            probs[i, lvl] = p
    return torch.log(probs).float().T.reshape(1, BINS.num_levels, 1, len(levels_probs)).contiguous()


def test_soft_cl_by_hand() -> None:
    # pixel 0: all mass on level 3, gt level 5 -> y = -2 -> |y| - 0.5 = 1.5
    # pixel 1: half on 3, half on 4 -> 3.5, gt level 4 -> y = -0.5 -> 0.5 * 0.25 = 0.125
    logits = _logits_on([{3: 1.0}, {3: 0.5, 4: 0.5}]).requires_grad_(True)
    gt = torch.tensor([_level_depth(5), _level_depth(4)]).view(1, 1, 1, 2)
    loss = soft_cl_loss(logits, gt, BINS)
    assert loss.item() == pytest.approx((1.5 + 0.125) / 2, abs=1e-5)
    single = soft_cl_loss(logits[..., :1], gt[..., :1], BINS)
    assert single.item() == pytest.approx(1.5, abs=1e-5)


def test_soft_cl_quantized_vs_continuous_target() -> None:
    logits = _logits_on([{3: 1.0}])
    gt = torch.tensor(_level_depth(4.6)).view(1, 1, 1, 1)  # Eq. 1 before rounding: 4.6, rounded: 5
    assert soft_cl_loss(logits, gt, BINS).item() == pytest.approx(1.5, abs=1e-4)  # default: the paper's rounding
    assert soft_cl_loss(logits, gt, BINS, target="quantized").item() == pytest.approx(1.5, abs=1e-4)
    assert soft_cl_loss(logits, gt, BINS, target="continuous").item() == pytest.approx(1.1, abs=1e-4)
    logits_near = _logits_on([{4: 0.8, 5: 0.2}])  # expected level 4.2
    assert soft_cl_loss(logits_near, gt, BINS, target="continuous").item() == pytest.approx(0.5 * 0.4**2, abs=1e-4)
    with pytest.raises(ValueError, match="target"):
        soft_cl_loss(logits, gt, BINS, target="floor")
    # the multi-task module passes its cls_target through
    _, terms = MultiTaskLoss(BINS, heads=("soft_cl",), cls_target="continuous")({"cls_logits": logits}, gt)
    assert terms["soft_cl"].item() == pytest.approx(1.1, abs=1e-4)
    with pytest.raises(ValueError, match="cls_target"):
        MultiTaskLoss(BINS, cls_target="floor")


def test_hard_cl_is_cross_entropy_on_the_rounded_level() -> None:
    bins = DepthBins(1.0, 100.0, 2)  # levels 0, 1, 2 <-> 1, 10, 100 m
    probs = torch.tensor([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])  # two pixels
    logits = torch.log(probs).T.reshape(1, 3, 1, 2)
    gt = torch.tensor([[[[11.0, 1.2]]]])  # levels round(1.04) = 1, round(0.08) = 0
    loss = hard_cl_loss(logits, gt, bins)
    assert loss.item() == pytest.approx((-math.log(0.2) - math.log(0.6)) / 2, rel=1e-5)


def test_reg_l1_by_hand_and_masking() -> None:
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]).view(1, 1, 1, 5).requires_grad_(True)
    gt = torch.tensor([2.0, 0.0, 5.0, float("nan"), float("inf")]).view(1, 1, 1, 5)
    loss = reg_l1_loss(pred, gt)
    assert loss.item() == pytest.approx((1.0 + 2.0) / 2)
    loss.backward()
    # d/dpred of mean |pred - gt| over the 2 valid pixels: sign / 2; exactly 0 (not NaN) elsewhere
    assert pred.grad.view(-1).tolist() == [-0.5, 0.0, -0.5, 0.0, 0.0]


def test_invalid_pixels_change_nothing_and_get_no_gradient() -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, BINS.num_levels, 3, 4, requires_grad=True)
    gt = torch.rand(2, 1, 3, 4) * 50 + 1
    bad = torch.zeros_like(gt, dtype=torch.bool)
    bad[0, 0, 0, :2] = True
    bad[1, 0, 2, 3] = True
    gt_bad = gt.clone()
    gt_bad[0, 0, 0, 0], gt_bad[0, 0, 0, 1], gt_bad[1, 0, 2, 3] = 0.0, float("nan"), -3.0
    assert valid_depth_mask(gt_bad).sum().item() == 24 - 3
    for fn in (lambda lg, g: soft_cl_loss(lg, g, BINS), lambda lg, g: hard_cl_loss(lg, g, BINS)):
        loss = fn(logits, gt_bad)
        keep = ~bad[:, 0]
        # the same loss as on the valid pixels alone, each image a (1, C, 1, P) row
        rows = [
            fn(logits[b][:, keep[b]].view(1, -1, 1, int(keep[b].sum())), gt[b][:, keep[b]].view(1, 1, 1, -1))
            for b in range(2)
        ]
        counts = keep.view(2, -1).sum(1).float()
        assert loss.item() == pytest.approx(
            ((rows[0] * counts[0] + rows[1] * counts[1]) / counts.sum()).item(), rel=1e-5
        )
        logits.grad = None
        loss.backward()
        g = logits.grad
        assert torch.isfinite(g).all()
        assert g.permute(0, 2, 3, 1)[bad[:, 0]].abs().max().item() == 0.0
        assert g.permute(0, 2, 3, 1)[~bad[:, 0]].abs().sum().item() > 0


def test_no_valid_pixel_gives_a_zero_with_a_gradient() -> None:
    logits = torch.randn(1, BINS.num_levels, 2, 2, requires_grad=True)
    reg = torch.rand(1, 1, 2, 2, requires_grad=True)
    gt = torch.tensor([[[[0.0, float("nan")], [-1.0, float("inf")]]]])
    total, terms = MultiTaskLoss(BINS)({"cls_logits": logits, "reg_depth": reg}, gt)
    assert total.item() == 0.0 and total.requires_grad
    total.backward()
    assert logits.grad.abs().sum().item() == 0.0 and reg.grad.abs().sum().item() == 0.0
    assert hard_cl_loss(logits, gt, BINS).item() == 0.0


def test_multitask_sum_eq3_and_weights() -> None:
    logits = _logits_on([{3: 1.0}, {3: 0.5, 4: 0.5}]).requires_grad_(True)
    gt = torch.tensor([_level_depth(5), _level_depth(4)]).view(1, 1, 1, 2)
    reg = torch.tensor([_level_depth(5) + 1.0, _level_depth(4) - 3.0]).view(1, 1, 1, 2).requires_grad_(True)
    outputs = {"cls_logits": logits, "reg_depth": reg}
    total, terms = MultiTaskLoss(BINS)(outputs, gt)
    assert set(terms) == {"soft_cl", "reg"}
    assert terms["soft_cl"].item() == pytest.approx(0.8125, abs=1e-5)
    assert terms["reg"].item() == pytest.approx(2.0, abs=1e-5)  # (1 + 3) / 2
    assert total.item() == pytest.approx(0.8125 + 2.0, abs=1e-5)  # w1 = w2 = 1
    weighted, _ = MultiTaskLoss(BINS, w_cls=2.0, w_reg=0.5)(outputs, gt)
    assert weighted.item() == pytest.approx(2 * 0.8125 + 0.5 * 2.0, abs=1e-5)
    weighted.backward()
    assert logits.grad.abs().sum().item() > 0 and reg.grad.abs().sum().item() > 0
    hard_total, hard_terms = MultiTaskLoss(BINS, heads=("hard_cl",))(outputs, gt)
    assert set(hard_terms) == {"hard_cl"} and hard_total.item() == pytest.approx(hard_terms["hard_cl"].item())
    reg_only, reg_terms = MultiTaskLoss(BINS, heads=("reg",))({"reg_depth": reg}, gt)
    assert set(reg_terms) == {"reg"} and reg_only.item() == pytest.approx(2.0, abs=1e-5)


def test_auxiliary_cross_entropy_moves_a_pixel_that_soft_cl_has_given_up_on() -> None:
    """A pixel one-hot on the wrong level (what the procedural coarse network's far pixels did): soft-cl's
    gradient is zero there; with w_ce the loss adds cross-entropy, whose gradient raises the right level."""
    logits = (torch.nn.functional.one_hot(torch.tensor(2), BINS.num_levels).float() * 30.0).view(1, -1, 1, 1)
    gt = torch.tensor([_level_depth(6)]).view(1, 1, 1, 1)
    paper = logits.clone().requires_grad_(True)
    total, terms = MultiTaskLoss(BINS, heads=("soft_cl",))({"cls_logits": paper}, gt)
    assert set(terms) == {"soft_cl"} and terms["soft_cl"].item() == pytest.approx(3.5, abs=1e-4)  # 4 levels off
    total.backward()
    assert paper.grad.abs().max().item() < 1e-9
    aux = logits.clone().requires_grad_(True)
    total, terms = MultiTaskLoss(BINS, heads=("soft_cl",), w_ce=0.2)({"cls_logits": aux}, gt)
    assert set(terms) == {"soft_cl", "ce"}
    assert terms["ce"].item() == pytest.approx(hard_cl_loss(logits, gt, BINS).item())
    assert total.item() == pytest.approx(terms["soft_cl"].item() + 0.2 * terms["ce"].item(), rel=1e-6)
    total.backward()
    assert aux.grad[0, 6, 0, 0].item() < -0.1 and aux.grad[0, 2, 0, 0].item() > 0.1  # towards level 6
    with pytest.raises(ValueError, match="auxiliary term of the soft-cl head"):
        MultiTaskLoss(BINS, heads=("hard_cl",), w_ce=0.2)
    with pytest.raises(ValueError, match=">= 0"):
        MultiTaskLoss(BINS, w_ce=-1.0)


def test_multitask_refuses_bad_configuration_and_inputs() -> None:
    with pytest.raises(ValueError, match="choose one"):
        MultiTaskLoss(BINS, heads=("soft_cl", "hard_cl"))
    with pytest.raises(ValueError, match="subset"):
        MultiTaskLoss(BINS, heads=("l2",))
    with pytest.raises(ValueError, match="need network outputs"):
        MultiTaskLoss(BINS)({"cls_logits": torch.zeros(1, BINS.num_levels, 2, 2)}, torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="channels"):
        soft_cl_loss(torch.zeros(1, 5, 2, 2), torch.ones(1, 1, 2, 2), BINS)
    with pytest.raises(ValueError, match="batch"):
        reg_l1_loss(torch.zeros(2, 1, 2, 2), torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="ground-truth depth"):
        reg_l1_loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 2, 2))


def test_resize_keeps_sparse_measurements() -> None:
    gt = torch.zeros(1, 1, 4, 6)
    # one LiDAR-like hit per 2x2 block, at a different corner each time
    hits = {(0, 1): 5.0, (1, 2): 6.0, (0, 5): 7.0, (3, 0): 8.0, (2, 3): 9.0}
    for (y, x), v in hits.items():
        gt[0, 0, y, x] = v
    out = resize_depth_nearest(gt, (2, 3))
    assert out.shape == (1, 1, 2, 3)
    assert out[0, 0].tolist() == [[5.0, 6.0, 7.0], [8.0, 9.0, 0.0]]  # last block has no hit
    plain = F.interpolate(gt, size=(2, 3), mode="nearest-exact")
    assert (plain > 0).sum().item() < 5  # plain nearest loses measurements
    # when the preferred (nearest-exact) pixel is valid it wins over other valid pixels of the block
    gt2 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert resize_depth_nearest(gt2, (1, 1)).item() == 4.0
    gt2[0, 0, 1, 1] = float("nan")
    assert resize_depth_nearest(gt2, (1, 1)).item() in (2.0, 3.0)


@pytest.mark.parametrize(("src", "dst"), [((8, 12), (4, 6)), ((6, 9), (4, 6)), ((3, 5), (6, 10)), ((6, 4), (3, 8))])
def test_resize_equals_nearest_exact_on_dense_depth(src: tuple, dst: tuple) -> None:
    gt = torch.rand(2, 1, *src) * 10 + 0.5
    torch.testing.assert_close(
        resize_depth_nearest(gt, dst), F.interpolate(gt, size=dst, mode="nearest-exact"), rtol=0, atol=0
    )


def test_losses_resize_ground_truth_to_the_prediction() -> None:
    gt_small = torch.tensor([[[[2.0, 4.0], [0.0, 8.0]]]])
    gt_big = gt_small.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # 4x4
    reg = torch.tensor([[[[3.0, 4.0], [1.0, 6.0]]]])
    assert reg_l1_loss(reg, gt_big).item() == pytest.approx((1.0 + 0.0 + 2.0) / 3)
    logits = torch.randn(1, BINS.num_levels, 2, 2)
    assert soft_cl_loss(logits, gt_big, BINS).item() == pytest.approx(soft_cl_loss(logits, gt_small, BINS).item())

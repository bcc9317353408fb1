"""Voting rules on hand-made scene probabilities, the official label table, and cde routing around sigma."""

import math
import subprocess
import sys

import pytest
import torch

from side_ros.networks import DSSIDENet, coarse_config
from side_ros.routing.options import NETWORKS, ROUTER_NEEDS, ROUTERS, ROUTING_NETWORK
from side_ros.routing.routers import coarse_depth, coarse_max_depth
from side_ros.routing.scenes import SceneTable, vote


def small_table() -> SceneTable:
    # classes 0-4 low range (indoor, 2 m), 5-9 high range (outdoor, 30 m)
    high = torch.tensor([False] * 5 + [True] * 5)
    depth = torch.where(high, torch.tensor(30.0), torch.tensor(2.0))
    return SceneTable(tuple(f"c{i}" for i in range(10)), high, depth)


def probs_for(ranking: list[int], masses: list[float] | None = None) -> torch.Tensor:
    """Probabilities where classes appear in `ranking` order (highest first)."""
    p = torch.zeros(1, 10)
    masses = masses or [0.5 ** (i + 1) for i in range(len(ranking))]
    for cls, m in zip(ranking, masses, strict=True):
        p[0, cls] = m
    return p


def test_default_table_is_the_official_one() -> None:
    t = SceneTable.default()
    assert t.num_classes == 365
    assert int(t.is_high.sum()) == 205 and int((~t.is_high).sum()) == 160
    assert t.names[0] == "airfield" and bool(t.is_high[0])
    assert t.names[1] == "airplane_cabin" and not bool(t.is_high[1])


def test_majority_vote_counts_top_k() -> None:
    t = small_table()
    p = probs_for([5, 0, 1, 6, 2])  # top-5: high, low, low, high, low -> 3 low of 5 > 2.5
    d = vote(p, t, method="majority", top_k=5)[0]
    assert d.range == "low" and d.score == 3 and d.details["high_votes"] == 2
    d3 = vote(p, t, method="majority", top_k=1)[0]  # top-1 is high
    assert d3.range == "high" and d3.score == 0


def test_majority_tie_goes_high_as_the_paper_rule_says() -> None:
    t = small_table()
    p = probs_for([0, 5, 1, 6])  # 2 low, 2 high: not 'more than K/2' low votes
    assert vote(p, t, method="majority", top_k=4)[0].range == "high"


def test_weighted_vote_uses_probabilities() -> None:
    t = small_table()
    # top-3: one high with 0.6, two lows with 0.2 each -> low share 0.4 -> high, although majority says low
    p = probs_for([5, 0, 1], [0.6, 0.2, 0.2])
    assert vote(p, t, method="majority", top_k=3)[0].range == "low"
    d = vote(p, t, method="weighted", top_k=3)[0]
    assert d.range == "high" and d.score == pytest.approx(0.4)
    tie = probs_for([5, 0], [0.3, 0.3])
    assert vote(tie, t, method="weighted", top_k=2)[0].range == "high"


def test_expected_range_is_geometric_mean_depth_against_sigma() -> None:
    t = small_table()
    p = probs_for([0, 5], [0.75, 0.25])
    d = vote(p, t, method="expected", top_k=2, sigma=5.89)[0]
    expected = math.exp(0.75 * math.log(2.0) + 0.25 * math.log(30.0))
    assert d.score == pytest.approx(expected, rel=1e-5)
    assert d.range == ("high" if expected > 5.89 else "low")
    assert vote(p, t, method="expected", top_k=2, sigma=expected + 0.1)[0].range == "low"
    assert vote(p, t, method="expected", top_k=2, sigma=expected - 0.1)[0].range == "high"


def test_vote_batch_and_bad_arguments() -> None:
    t = small_table()
    p = torch.cat([probs_for([0, 1, 2]), probs_for([5, 6, 7])])
    assert [d.range for d in vote(p, t, top_k=3)] == ["low", "high"]
    with pytest.raises(ValueError, match="top_k"):
        vote(p, t, top_k=0)
    with pytest.raises(ValueError, match="voting"):
        vote(p, t, method="plurality")
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        vote(torch.rand(1, 365), t)


def test_scene_table_csv_round_trip(tmp_path) -> None:
    t = small_table()
    t.to_csv(tmp_path / "t.csv")
    back = SceneTable.from_csv(tmp_path / "t.csv")
    assert back.names == t.names and torch.equal(back.is_high, t.is_high)
    (tmp_path / "bad.csv").write_text("index,category,range,typical_depth_m\n0,a,middle,3\n")
    with pytest.raises(ValueError, match="'low' or 'high'"):
        SceneTable.from_csv(tmp_path / "bad.csv")


def test_coarse_depth_routing_on_both_sides_of_sigma() -> None:
    model = DSSIDENet(coarse_config(input_size=(64, 48))).eval()
    rgb = torch.rand(2, 3, 30, 50)
    dmax = coarse_max_depth(model, rgb)
    assert dmax.shape == (2,)
    for i in range(2):
        d = float(dmax[i])
        assert coarse_depth(model, rgb[i : i + 1], sigma=d * 0.99)[0].range == "high"
        low = coarse_depth(model, rgb[i : i + 1], sigma=d * 1.01)[0]
        assert low.range == "low" and low.score == pytest.approx(d) and low.router == "coarse_depth"


def test_routing_options_load_without_torch():
    """The commands answer --help and refuse bad options from side_ros.routing.options alone, with no copy."""
    code = (
        "import sys; import side_ros.routing, side_ros.routing.options, side_ros.cli.common, side_ros.console; "
        "bad = [m for m in ('torch', 'rclpy') if m in sys.modules]; assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_router_needs_its_routing_network_then_the_depth_networks():
    assert set(ROUTER_NEEDS) == set(ROUTERS) == set(ROUTING_NETWORK)
    for router, needs in ROUTER_NEEDS.items():
        assert set(needs) <= set(NETWORKS)
        net = ROUTING_NETWORK[router]
        assert needs == ((net, "low", "high") if net else (router,))


def test_coarse_statistics_max_is_the_papers_and_percentiles_ignore_outliers() -> None:
    from side_ros.routing.routers import check_statistic, coarse_statistic, reduce_depth

    for good in ("max", "median", "mean", "p50", "p95", "p99.5", "p100"):
        assert check_statistic(good) is None
    for bad in ("min", "p", "p40", "p101", "pxx", "", "95"):
        assert "statistic must be" in check_statistic(bad)
    depth = torch.full((1, 1, 10, 10), 3.0)
    depth[0, 0, 0, 0] = 60.0  # one wild far pixel
    assert float(reduce_depth(depth, "max")[0]) == 60.0
    assert float(reduce_depth(depth, "p95")[0]) == pytest.approx(3.0)
    assert float(reduce_depth(depth, "median")[0]) == pytest.approx(3.0)
    assert float(reduce_depth(depth, "mean")[0]) == pytest.approx(3.57)
    ramp = torch.arange(1, 101, dtype=torch.float32).view(1, 1, 10, 10)
    assert float(reduce_depth(ramp, "p90")[0]) == pytest.approx(90.1)
    with pytest.raises(ValueError, match="statistic must be"):
        reduce_depth(depth, "min")
    # the router uses the statistic it is given and says which
    model = DSSIDENet(coarse_config(input_size=(64, 48))).eval()
    rgb = torch.rand(1, 3, 48, 64)
    p50, dmax = float(coarse_statistic(model, rgb, "p50")[0]), float(coarse_max_depth(model, rgb)[0])
    assert p50 <= dmax
    sigma = (p50 + dmax) / 2 if dmax > p50 else dmax * 0.999
    by_max = coarse_depth(model, rgb, sigma=sigma, statistic="max")[0]
    by_median = coarse_depth(model, rgb, sigma=sigma, statistic="p50")[0]
    assert by_max.range == "high" and by_max.details["statistic"] == "max"
    assert by_median.score == pytest.approx(p50) and by_median.details["statistic"] == "p50"
    # canonical-focal coarse networks scale the statistic by the camera's focal
    canon = DSSIDENet(coarse_config(input_size=(64, 48), canonical_focal=40.0)).eval()
    base = float(coarse_statistic(canon, rgb, "max")[0])
    assert float(coarse_statistic(canon, rgb, "max", (80.0, 80.0))[0]) == pytest.approx(2 * base, rel=1e-5)

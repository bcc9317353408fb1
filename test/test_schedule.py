"""Routing over a stream: re-route every N frames or on drift, hysteresis around sigma and the vote, dwell."""

import math

import numpy as np
import pytest

from side_ros.pipeline import RobustDepthPipeline
from side_ros.routing.decision import RangeDecision
from side_ros.routing.schedule import RoutingSchedule, ScheduleSettings, clears_band

SIGMA = 6.0


def cde(score: float, sigma: float = SIGMA) -> RangeDecision:
    """A coarse-depth router decision as routers.coarse_depth makes it."""
    return RangeDecision("high" if score > sigma else "low", "coarse_depth", score, {"threshold": sigma})


def majority(low_votes: int, top_k: int = 15) -> RangeDecision:
    return RangeDecision(
        "low" if low_votes > top_k / 2 else "high",
        "scene_classification",
        float(low_votes),
        {"method": "majority", "top_k": top_k, "threshold": top_k / 2},
    )


def run(schedule: RoutingSchedule, decisions: list[RangeDecision]) -> list[str]:
    """Feed one router decision per frame (the router runs when the schedule asks); the ranges used."""
    out = []
    for raw in decisions:
        reason = schedule.needs_route()
        out.append(schedule.update(raw if reason else None, reason=reason).range)
    return out


def switches(ranges: list[str]) -> int:
    return sum(a != b for a, b in zip(ranges, ranges[1:], strict=False))


def noisy_scores(rng: np.random.Generator, centre: float, spread: float, n: int) -> list[float]:
    return list(centre * (1 + rng.uniform(-spread, spread, n)))


def test_statistic_crossing_sigma_back_and_forth_switches_once_per_real_change() -> None:
    rng = np.random.default_rng(0)
    # indoors, then the statistic hovers around sigma, then really outdoors, hovers again, then indoors again
    scores = (
        noisy_scores(rng, 0.5 * SIGMA, 0.1, 20)
        + noisy_scores(rng, SIGMA, 0.05, 40)
        + noisy_scores(rng, 2 * SIGMA, 0.1, 20)
        + noisy_scores(rng, SIGMA, 0.05, 40)
        + noisy_scores(rng, 0.5 * SIGMA, 0.1, 20)
    )
    raw = [cde(s) for s in scores]
    assert switches([d.range for d in raw]) > 10  # the router alone flaps

    settings = ScheduleSettings(route_every=1, drift=0.0, hysteresis_sigma=0.1, min_dwell=5)
    ranges = run(RoutingSchedule(settings), raw)
    assert switches(ranges) == 2
    assert ranges[0] == "low" and ranges[90] == "high" and ranges[-1] == "low"
    assert ranges[:20] == ["low"] * 20 and ranges[60:80] == ["high"] * 20

    # without hysteresis and dwell it is the paper's per-image routing: every flap goes through
    assert run(RoutingSchedule(ScheduleSettings.per_image()), raw) == [d.range for d in raw]


def test_vote_margin_hysteresis_for_scene_classification() -> None:
    votes = [3] * 5 + [7, 8] * 10 + [12] * 5 + [8, 7] * 10 + [2] * 5  # 7/8 of 15 flips the raw majority
    raw = [majority(v) for v in votes]
    assert switches([d.range for d in raw]) > 20
    ranges = run(RoutingSchedule(route_every=1, drift=0.0, hysteresis_votes=0.1, min_dwell=0), raw)
    assert switches(ranges) == 2 and ranges[0] == "high" and ranges[30] == "low" and ranges[-1] == "high"
    # the band is h * top_k votes: 8 low votes (margin 0.5) do not clear 1.5, 10 (margin 2.5) do
    assert not clears_band(majority(8), "high", hysteresis_sigma=0.1, hysteresis_votes=0.1)
    assert clears_band(majority(10), "high", hysteresis_sigma=0.1, hysteresis_votes=0.1)
    assert clears_band(majority(6), "low", hysteresis_sigma=0.1, hysteresis_votes=0.1)
    weighted = RangeDecision("low", "scene_classification", 0.55, {"method": "weighted", "threshold": 0.5})
    assert not clears_band(weighted, "high", hysteresis_sigma=0.0, hysteresis_votes=0.1)


def test_minimum_dwell_holds_a_switch_then_re_routes_when_it_ends() -> None:
    schedule = RoutingSchedule(route_every=100, drift=0.0, hysteresis_sigma=0.1, min_dwell=4)
    assert schedule.needs_route() == "first"
    assert schedule.update(cde(2.0), reason="first").range == "low"
    for _ in range(3):
        schedule.update(None)
    d = schedule.update(cde(20.0), reason="every_n")  # the 4th frame after the first switch: allowed
    assert d.range == "high" and schedule.switches == 1
    held = schedule.update(cde(1.0), reason="drift")  # clearly low again, but only 0 frames into high
    assert held.range == "high" and held.details["schedule"]["held"] == "dwell"
    assert held.details["raw"]["range"] == "low" and held.details["raw"]["score"] == 1.0
    assert schedule.needs_route() is None
    schedule.update(None)
    assert schedule.needs_route() is None
    schedule.update(None)
    # 4 frames after the switch to high: the held switch is looked at again as soon as it may happen
    assert schedule.needs_route() == "dwell_ended"
    assert schedule.update(cde(1.0), reason="dwell_ended").range == "low" and schedule.switches == 2


def test_re_routes_every_n_frames_and_on_drift() -> None:
    schedule = RoutingSchedule(route_every=4, drift=0.5, min_dwell=0)
    routed = []
    for _ in range(12):
        reason = schedule.needs_route()
        routed.append(reason)
        schedule.update(cde(3.0) if reason else None, reason=reason)
        schedule.observe(4.0)
    assert [i for i, r in enumerate(routed) if r] == [0, 4, 8]
    assert routed[0] == "first" and routed[4] == routed[8] == "every_n"
    # the frame's depth moves by a factor 1.6 > 1 + drift: the next frame is routed at once
    schedule.observe(4.0 * 1.6)
    assert schedule.needs_route() == "drift"
    schedule.update(cde(3.0), reason="drift")
    schedule.observe(6.4)  # the new reference
    schedule.observe(6.0)
    assert schedule.needs_route() is None
    schedule.observe(math.nan)  # no valid depth: no information, no drift
    assert schedule.needs_route() is None


def test_a_settings_key_change_re_routes_and_takes_the_new_decision_at_once() -> None:
    schedule = RoutingSchedule(route_every=100, hysteresis_sigma=0.2, min_dwell=50)
    schedule.update(cde(5.5), key=1, reason="first")
    assert schedule.needs_route(key=1) is None
    assert schedule.needs_route(key=2) == "settings"
    # sigma lowered to 5: 5.5 is within the band, but new settings are applied without hysteresis or dwell
    assert schedule.update(cde(5.5, sigma=5.0), key=2, reason="settings").range == "high"


def test_fixed_routers_pass_through_and_bad_settings_are_refused() -> None:
    schedule = RoutingSchedule(route_every=1, min_dwell=100)
    assert schedule.update(RangeDecision("low", "low", math.nan), reason="first").range == "low"
    assert schedule.update(RangeDecision("high", "high", math.nan), reason="every_n").range == "high"
    for bad, match in [
        ({"route_every": 0}, "route_every"),
        ({"min_dwell": -1}, "min_dwell"),
        ({"hysteresis_sigma": 0.7}, "hysteresis_sigma"),
        ({"drift": math.inf}, "drift"),
        ({"route_every": 2.5}, "route_every"),
    ]:
        with pytest.raises(ValueError, match=match):
            RoutingSchedule(**bad)
        with pytest.raises(ValueError, match=match):
            schedule.configure(**bad)
    assert schedule.settings.route_every == 1  # a refused change leaves the settings as they were
    with pytest.raises(RuntimeError, match="routed"):
        RoutingSchedule().update(None)


@pytest.fixture(scope="module")
def pipe(weights) -> RobustDepthPipeline:
    return RobustDepthPipeline.from_files(weights["low"], weights["high"], weights["coarse"], device="cpu")


def test_pipeline_runs_the_router_every_n_frames_of_a_stream(pipe) -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(9)]
    schedule = RoutingSchedule(route_every=3, drift=0.0)
    results = [pipe(f, schedule=schedule) for f in frames]
    assert [r.raw_decision is not None for r in results] == [True, False, False] * 3
    assert [r.decision.details["schedule"]["routed"] for r in results] == [True, False, False] * 3
    assert all(r.decision.router == "coarse_depth" for r in results)
    assert schedule.routes == 3
    # a routing setting changed between frames: the next frame is routed whatever the count says
    pipe.configure(sigma=pipe.sigma * 2)
    r = pipe(frames[0], schedule=schedule)
    assert r.raw_decision is not None and r.decision.details["schedule"]["reason"] == "settings"
    # without a schedule every image is routed and the raw decision is the decision
    plain = pipe(frames[1])
    assert plain.raw_decision == plain.decision


def test_per_image_schedule_in_the_pipeline_is_the_paper_routing(pipe) -> None:
    rng = np.random.default_rng(4)
    schedule = RoutingSchedule(ScheduleSettings.per_image())
    for _ in range(4):
        img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
        streamed, alone = pipe(img, schedule=schedule), pipe(img)
        assert streamed.decision.range == alone.decision.range and streamed.raw_decision.score == alone.decision.score
        np.testing.assert_array_equal(streamed.depth, alone.depth)

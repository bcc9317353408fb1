"""Routing over a camera stream: run the router only when it can matter, and switch ranges only on real changes.

The paper routes every image independently. On a robot the scene's range changes rarely, the router costs about
as much as a depth network, and a frame whose statistic sits near the threshold would flip the network (and the
depth scale) frame by frame. `RoutingSchedule` is the per-stream state that fixes both:

- *When to route*: the first frame, every `route_every` frames, at once when the scene statistic drifts (the
  frame's depth, which is computed anyway, moved by more than a factor `1 + drift` from its value when the range
  was last decided), after a settings change, and when a switch was held back by the dwell that has now ended.
- *Whether to switch*: hysteresis around the router's threshold (cde and sc's 'expected' vote: `hysteresis_sigma`
  as a fraction of sigma; sc's majority and weighted votes: `hysteresis_votes` as a fraction of the vote, i.e.
  of top-K votes or of the probability share), and a minimum dwell (`min_dwell` frames in a range before the next
  switch). Fixed routers (`low`, `high`) are the user's order and pass straight through.

`route_every=1, drift=0, hysteresis_*=0, min_dwell=0` reproduces the paper's per-image routing exactly. ROS-free;
the pipeline drives it (`RobustDepthPipeline.__call__(image, schedule=...)`), the node owns one per stream.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from side_ros.routing.decision import RangeDecision

FIXED_ROUTERS = ("low", "high")


@dataclass(frozen=True)
class ScheduleSettings:
    """How often to route and how sticky a range is. Units: frames, or fractions as documented per field.

    route_every: route every N-th frame (1: every frame, the paper's per-image routing).
    drift: re-route at once when the frame's depth statistic changed by more than this factor minus one since the
        range was last decided (0.5: 1.5x more or less); 0 disables drift re-routing.
    hysteresis_sigma: cde (and sc 'expected'): leave low only above sigma * (1 + h), leave high only at or below
        sigma * (1 - h); fraction of sigma.
    hysteresis_votes: sc 'majority' / 'weighted': the vote must clear its threshold (K/2 votes, 0.5 share) by this
        fraction of the vote (h * K votes, h of the share) to switch; fraction of the vote.
    min_dwell: frames a range is kept after a switch before the next switch may happen (0: none).
    """

    # Defaults from scripts/measure_routing.py on the shipped networks (32 validation scenes at the node's sizes,
    # each as 8 frames with sensor noise, exposure and 2-pixel motion): the router costs 1/15 of its time per
    # frame; the cde statistic (p90 on the shipped coarse network) spreads by (max - min) / sigma = 0.33 within a
    # scene for 95 % of the scenes (0.37 at most), and no scene lies within sigma * (1 +- 0.5), so the swings never
    # reach sigma and a 10 % band only guards scenes that really sit at the boundary; the drift statistic moves up
    # to 1.35x within a scene on the low-range network and 1.53x on the high-range one (a rare extra re-route,
    # which costs one router pass), against 6.1x between an indoor and an outdoor scene. The vote band (1.5 of 15
    # votes) could not be measured here: the Places365 weights cannot be downloaded in this environment.
    route_every: int = 15
    drift: float = 0.5
    hysteresis_sigma: float = 0.1
    hysteresis_votes: float = 0.1
    min_dwell: int = 10

    def problem(self) -> str | None:
        """Why these settings cannot be used, or None."""
        for f in fields(self):
            v = getattr(self, f.name)
            kind = int if f.name in ("route_every", "min_dwell") else float
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
                return f"{f.name} must be {'an integer' if kind is int else 'a number'}, got {v!r}"
            if not math.isfinite(v):
                return f"{f.name} must be finite, got {v!r}"
        if self.route_every < 1:
            return f"route_every must be >= 1 frame, got {self.route_every}"
        if self.min_dwell < 0:
            return f"min_dwell must be >= 0 frames, got {self.min_dwell}"
        if self.drift < 0:
            return f"drift must be >= 0 (0: off), got {self.drift}"
        for name in ("hysteresis_sigma", "hysteresis_votes"):
            if not 0 <= getattr(self, name) < 0.5:
                return f"{name} must be in [0, 0.5) (a fraction of the threshold), got {getattr(self, name)}"
        return None

    @classmethod
    def per_image(cls) -> ScheduleSettings:
        """The paper's behaviour: every frame routed on its own evidence."""
        return cls(route_every=1, drift=0.0, hysteresis_sigma=0.0, hysteresis_votes=0.0, min_dwell=0)


def clears_band(raw: RangeDecision, current: str, *, hysteresis_sigma: float, hysteresis_votes: float) -> bool:
    """Whether `raw`, which disagrees with the `current` range, is far enough past its threshold to switch.

    The band is taken from the decision itself (its score and details['threshold']), so any statistic a router
    compares with a threshold (maximum or percentile depth, expected depth, votes, vote share) is handled alike.
    """
    if raw.range == current:
        return False
    threshold = raw.details.get("threshold")
    if raw.router in FIXED_ROUTERS or threshold is None or not math.isfinite(raw.score):
        return True
    threshold = float(threshold)
    method = raw.details.get("method")
    if method in ("majority", "weighted"):  # score: low votes (of top_k) or low share; low iff above threshold
        band = hysteresis_votes * (float(raw.details.get("top_k", 1)) if method == "majority" else 1.0)
        return raw.score > threshold + band if raw.range == "low" else raw.score <= threshold - band
    band = hysteresis_sigma * threshold  # cde or 'expected': metres, high iff above threshold
    return raw.score > threshold + band if raw.range == "high" else raw.score <= threshold - band


class RoutingSchedule:
    """Per-stream routing state. Per frame: `needs_route()`, then `update(raw or None)`, then `observe(stat)`.

    Thread-safe: settings may change (node parameter callback) while a worker thread runs frames.
    """

    def __init__(self, settings: ScheduleSettings | None = None, **changes: Any):
        self._lock = threading.Lock()
        settings = replace(settings or ScheduleSettings(), **changes)
        problem = settings.problem()
        if problem:
            raise ValueError(problem)
        self._settings = settings
        self.reset()

    @property
    def settings(self) -> ScheduleSettings:
        return self._settings

    def configure(self, **changes: Any) -> None:
        """Change settings (validated first; a refused change leaves everything as it was). The state is kept,
        so a tuned hysteresis does not cost a re-route; the counters apply from the next frame."""
        new = replace(self._settings, **changes)
        problem = new.problem()
        if problem:
            raise ValueError(problem)
        with self._lock:
            self._settings = new

    def reset(self) -> None:
        """Forget the current range (new stream, new router settings): the next frame is routed and taken as is."""
        with self._lock:
            self._current: RangeDecision | None = None
            self._key: Hashable = None
            self._since_route = 0  # frames since the router last ran (0: it ran on the current frame)
            self._in_range = 0  # frames since the range last changed
            self._reference: float | None = None  # depth statistic when the range was last decided
            self._drifted = False
            self._held = False  # a switch was held back by the dwell
            self.routes = 0
            self.switches = 0

    def needs_route(self, key: Hashable = None) -> str | None:
        """Why the router must run on the coming frame ('first', 'settings', 'every_n', 'drift', 'dwell_ended'),
        or None to reuse the current range. `key` identifies the router settings: a new key re-routes."""
        with self._lock:
            s = self._settings
            if self._current is None:
                return "first"
            if key != self._key:
                return "settings"
            if self._drifted:
                return "drift"
            # the counters hold the frames after the routed / switching frame; the coming one is one more
            if self._held and self._in_range + 1 >= s.min_dwell:
                return "dwell_ended"
            if self._since_route + 1 >= s.route_every:
                return "every_n"
            return None

    def update(self, raw: RangeDecision | None, key: Hashable = None, reason: str | None = None) -> RangeDecision:
        """The range this frame uses: `raw` (the router's decision on this frame, None if it did not run)
        smoothed by hysteresis and dwell. The result's score and evidence are those of the last routing; its
        details add "schedule" (routed, reason, held: 'hysteresis' | 'dwell' | None, frame counters) and "raw"
        (the router's own decision on this frame as a dict, None when it did not run)."""
        with self._lock:
            s = self._settings
            if raw is None:
                if self._current is None:
                    raise RuntimeError("the first frame of a stream must be routed")
                self._since_route += 1
                self._in_range += 1
                return self._annotate(self._current, routed=False, reason=None, held=None)
            first = self._current is None or key != self._key or raw.router != self._current.router
            self.routes += 1
            self._since_route = 0
            self._key = key
            self._drifted = False
            self._reference = None  # re-armed by the next observe()
            held = None
            if first or raw.router in FIXED_ROUTERS or raw.range == self._current.range:
                new_range = raw.range
                self._held = False
            elif not clears_band(
                raw, self._current.range, hysteresis_sigma=s.hysteresis_sigma, hysteresis_votes=s.hysteresis_votes
            ):
                new_range, held = self._current.range, "hysteresis"
                self._held = False
            elif self._in_range + 1 < s.min_dwell:
                new_range, held = self._current.range, "dwell"
                self._held = True
            else:
                new_range = raw.range
            previous = None if self._current is None else self._current.range
            if new_range != previous:
                self._in_range = 0
                self._held = False
                if previous is not None:
                    self.switches += 1
            else:
                self._in_range += 1
            self._current = RangeDecision(new_range, raw.router, raw.score, dict(raw.details))
            return self._annotate(self._current, routed=True, reason=reason, held=held, raw=raw)

    def observe(self, statistic: float) -> None:
        """The frame's depth statistic (e.g. a high percentile of its depth, metres); flags a drift re-route
        when it moved by more than the factor 1 + drift from its value at the last routing."""
        if not math.isfinite(statistic) or statistic <= 0:
            return
        with self._lock:
            if self._reference is None:
                self._reference = statistic
                return
            d = self._settings.drift
            if d > 0 and max(statistic / self._reference, self._reference / statistic) > 1.0 + d:
                self._drifted = True

    def _annotate(
        self,
        decision: RangeDecision,
        *,
        routed: bool,
        reason: str | None,
        held: str | None,
        raw: RangeDecision | None = None,
    ) -> RangeDecision:
        details: dict[str, Any] = dict(decision.details)
        details["schedule"] = {
            "routed": routed,
            "reason": reason,
            "held": held,
            "frames_since_route": self._since_route,
            "frames_in_range": self._in_range,
        }
        details["raw"] = None if raw is None else raw.to_dict()  # the router's own decision on this frame
        return RangeDecision(decision.range, decision.router, decision.score, details)

    def state(self) -> Mapping[str, Any]:
        """Counters for diagnostics: routes and switches so far, current range, settings."""
        with self._lock:
            return {
                "range": None if self._current is None else self._current.range,
                "routes": self.routes,
                "switches": self.switches,
                "frames_since_route": self._since_route,
                "frames_in_range": self._in_range,
                **asdict(self._settings),
            }

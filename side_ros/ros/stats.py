"""Frame accounting of the depth node: every received frame ends published or dropped with a reason.

Kept apart from the node (and free of ROS imports) so the bookkeeping that diagnostics report is one small,
thread-safe object: the subscription callback counts receipts, the worker thread counts outcomes, the
diagnostics timer reads a consistent snapshot. At any snapshot received == published + dropped + in_flight.
Problems remembers when each kind of problem last happened (log throttling and the diagnostics WARN window).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StatsSnapshot:
    """A consistent copy of the counters at one instant (what one diagnostics message reports)."""

    received: int
    published: int
    dropped: dict[str, int]
    in_flight: int
    clouds_published: int
    clouds_dropped: dict[str, int]
    rate_hz: float
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def values(self) -> dict[str, object]:
        """As diagnostics key-values: frames_*, dropped.<reason>, clouds_*, rate_hz, latency_ms.<stage>."""
        kv: dict[str, object] = {
            "frames_received": self.received,
            "frames_published": self.published,
            "frames_dropped": self.dropped_total,
            "frames_in_flight": self.in_flight,
        }
        kv.update({f"dropped.{k}": v for k, v in sorted(self.dropped.items())})
        kv["clouds_published"] = self.clouds_published
        kv.update({f"clouds_dropped.{k}": v for k, v in sorted(self.clouds_dropped.items())})
        kv["rate_hz"] = self.rate_hz
        kv.update({f"latency_ms.{k}": v for k, v in sorted(self.latency_ms.items())})
        return kv


class FrameStats:
    """Counters and latency windows; all methods are thread-safe."""

    def __init__(self, window: int = 100, rate_window_s: float = 5.0):
        self._lock = threading.Lock()
        self._received = 0
        self._published = 0
        self._dropped: Counter[str] = Counter()
        self._clouds_published = 0
        self._clouds_dropped: Counter[str] = Counter()
        self._latency: dict[str, deque[float]] = {}
        self._publish_times: deque[float] = deque(maxlen=1000)
        self._window = window
        self._rate_window_s = rate_window_s

    def received(self) -> None:
        with self._lock:
            self._received += 1

    def published(self, timings: dict[str, float]) -> None:
        """One frame's depth went out; timings are seconds per stage."""
        now = time.monotonic()
        with self._lock:
            self._published += 1
            self._publish_times.append(now)
            for stage, seconds in timings.items():
                self._latency.setdefault(stage, deque(maxlen=self._window)).append(seconds)

    def dropped(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] += count

    def cloud(self, published: bool, reason: str = "") -> None:
        """Point-cloud outcome of a published frame (a cloud needs valid intrinsics, the depth does not)."""
        with self._lock:
            if published:
                self._clouds_published += 1
            else:
                self._clouds_dropped[reason] += 1

    def snapshot(self) -> StatsSnapshot:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._publish_times if now - t <= self._rate_window_s]
            if len(recent) >= 2 and recent[-1] > recent[0]:
                rate = (len(recent) - 1) / (recent[-1] - recent[0])
            else:
                rate = 0.0
            latency = {k: 1000.0 * statistics.median(v) for k, v in self._latency.items() if v}
            dropped_total = sum(self._dropped.values())
            return StatsSnapshot(
                received=self._received,
                published=self._published,
                dropped=dict(self._dropped),
                in_flight=self._received - self._published - dropped_total,
                clouds_published=self._clouds_published,
                clouds_dropped=dict(self._clouds_dropped),
                rate_hz=rate,
                latency_ms=latency,
            )


class Problems:
    """When each problem (a drop reason, a failing stage) last happened: throttles its log line and lists the
    recent ones, which turn diagnostics to WARN. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._logged: dict[str, float] = {}

    def note(self, key: str, throttle_s: float) -> bool:
        """Record that `key` happened now; True when it should be logged (at most once per throttle_s)."""
        now = time.monotonic()
        with self._lock:
            self._seen[key] = now
            last = self._logged.get(key)
            if last is not None and now - last < throttle_s:
                return False
            self._logged[key] = now
            return True

    def recent(self, window_s: float, ignore: tuple[str, ...] = ()) -> list[str]:
        """The problems seen in the last window_s seconds, sorted."""
        now = time.monotonic()
        with self._lock:
            return sorted(k for k, t in self._seen.items() if now - t < window_s and k not in ignore)


OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


def status_level(
    state: str,
    not_ready: str | None,
    fault: str | None,
    recent: list[str],
    rate_hz: float,
    device: str,
    window_s: float,
) -> tuple[int, str]:
    """The node's diagnostics level and message: a worker fault, then not active, then not ready, then recent
    problems, else OK with the rate."""
    if fault is not None:
        return ERROR, fault
    if state != "active":
        message = f"{state}: not processing images"
        if not_ready and not_ready != "not configured":
            return ERROR, f"{message} ({not_ready})"
        return WARN, message
    if not_ready:
        return ERROR, not_ready
    if recent:
        return WARN, f"in the last {window_s:g} s: " + ", ".join(recent)
    return OK, f"{rate_hz:.1f} Hz on {device.split(' ')[0]}"

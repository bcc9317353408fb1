"""The depth node's newest-frame worker, without ROS: one thread processes frames, always the newest one.

The subscription callback only offers the frame (it never blocks on inference); a frame replaced before the
worker took it is dropped as "skipped_newer_frame", so the node works on the newest image and never queues up
latency. Every offered frame ends processed or counted as dropped with a reason in FrameStats, exactly once: the
frame counts its own outcome (Frame.published / Frame.dropped ignore a second call), and a frame whose processing
raised before it was counted is counted as "internal_error". So received = published + dropped + in flight holds
at every diagnostics snapshot.

The thread cannot be killed by a frame: an exception from processing, or from reporting that exception, is
caught. For what remains (a bug in the loop itself, a BaseException) and for a frame that never finishes,
`health()` tells the node's watchdog that the thread died or for how long it has been busy, and `revive()`
starts a new thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from side_ros.ros.stats import FrameStats


@dataclass
class Frame:
    """A received message and time.perf_counter() at its receipt (the start of its latency); it records its one
    outcome in `stats`."""

    msg: Any
    received: float
    stats: FrameStats | None = field(default=None, repr=False)
    outcome: str | None = None  # "published" or the drop reason, once counted

    def published(self, timings: dict[str, float]) -> None:
        """The frame's depth went out (counted once; a later call is ignored)."""
        if self.outcome is None:
            self.outcome = "published"
            if self.stats is not None:
                self.stats.published(timings)

    def dropped(self, reason: str) -> None:
        """The frame ends here, for `reason` (counted once; a later call is ignored)."""
        if self.outcome is None:
            self.outcome = reason
            if self.stats is not None:
                self.stats.dropped(reason)


@dataclass(frozen=True)
class WorkerHealth:
    """What the watchdog needs: whether the thread should run and does, why it died, how long the frame in hand
    has been processed (0 when idle)."""

    running: bool
    alive: bool
    died_of: str | None
    busy_s: float


class NewestFrameWorker:
    """Keeps the newest offered frame and hands it to `process` on its own thread.

    Frames are accepted only between `accept(True)` and `accept(False)` / `quiesce()` (lifecycle active);
    others are dropped as "inactive". `process` publishes or counts its frame's outcome itself; an exception
    from it counts the frame as "internal_error" and is passed to `on_error`, and the worker carries on.
    """

    def __init__(
        self,
        process: Callable[[Frame], None],
        stats: FrameStats,
        on_error: Callable[[Exception], None],
        name: str = "side_depth_worker",
    ):
        self._process = process
        self._stats = stats
        self._on_error = on_error
        self._name = name
        self._cond = threading.Condition()
        self._pending: Frame | None = None
        self._processing = False
        self._busy_since = 0.0  # time.monotonic() when the frame in hand was taken
        self._accepting = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._died_of: str | None = None

    def start(self) -> None:
        """Start the thread (again after stop())."""
        with self._cond:
            self._stop = False
            self._died_of = None
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def health(self) -> WorkerHealth:
        """The thread's state for a watchdog (see WorkerHealth)."""
        with self._cond:
            running = self._thread is not None and not self._stop
            alive = self._thread is not None and self._thread.is_alive()
            busy = time.monotonic() - self._busy_since if self._processing else 0.0
            return WorkerHealth(running, alive, self._died_of, busy)

    def revive(self) -> str | None:
        """Start a new thread if the running one died; returns why it had died (None when it had not)."""
        health = self.health()
        if not health.running or health.alive:
            return None
        with self._cond:
            self._processing = False  # the dead thread's frame was counted by _run's handler
            self._cond.notify_all()
        self.start()
        return health.died_of or "the worker thread ended"

    def offer(self, msg: Any) -> None:
        """A frame arrived (executor thread): count it, keep it as the newest, wake the worker."""
        frame = Frame(msg, time.perf_counter(), self._stats)
        self._stats.received()
        with self._cond:
            if not self._accepting:
                self._stats.dropped("inactive")
                return
            if self._pending is not None:
                self._stats.dropped("skipped_newer_frame")
            self._pending = frame
            self._cond.notify()

    def accept(self, accepting: bool) -> None:
        with self._cond:
            self._accepting = accepting

    def quiesce(self, reason: str, timeout: float = 30.0) -> None:
        """Stop accepting, drop the pending frame as `reason`, and wait for the frame in hand to finish."""
        with self._cond:
            self._accepting = False
            if self._pending is not None:
                self._pending = None
                self._stats.dropped(reason)
            self._cond.wait_for(lambda: not self._processing, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """End the thread after the frame in hand (a pending frame stays pending: quiesce() first)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def _run(self) -> None:
        frame: list[Frame] = []  # the frame in hand, for the last-resort handler
        try:
            self._loop(frame)
        except BaseException as exc:
            if frame:
                frame[0].dropped("internal_error")
            with self._cond:
                self._died_of = f"{type(exc).__name__}: {exc}"

    def _loop(self, in_hand: list[Frame]) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                frame, self._pending = self._pending, None
                self._processing = True
                self._busy_since = time.monotonic()
            in_hand[:] = [frame]
            try:
                self._process(frame)
            except Exception as exc:  # the node must survive any single frame
                frame.dropped("internal_error")  # unless it was counted before it failed
                try:
                    self._on_error(exc)
                except Exception:
                    pass
            finally:
                frame.dropped("internal_error")  # a frame that returned without an outcome is not lost either
                in_hand.clear()
                with self._cond:
                    self._processing = False
                    self._cond.notify_all()

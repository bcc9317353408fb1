"""The depth node's newest-frame worker, without ROS: one thread processes frames, always the newest one.

The subscription callback only offers the frame (it never blocks on inference); a frame replaced before the
worker took it is dropped as "skipped_newer_frame", so the node works on the newest image and never queues up
latency. Every offered frame ends processed or counted as dropped with a reason in FrameStats (a failing frame as
"internal_error"), so received = published + dropped + in flight holds at every diagnostics snapshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from side_ros.ros.stats import FrameStats


@dataclass
class Frame:
    """A received message and time.perf_counter() at its receipt (the start of its latency)."""

    msg: Any
    received: float


class NewestFrameWorker:
    """Keeps the newest offered frame and hands it to `process` on its own thread.

    Frames are accepted only between `accept(True)` and `accept(False)` / `quiesce()` (lifecycle active);
    others are dropped as "inactive". `process` publishes or counts its frame's outcome itself; an exception
    from it counts the frame as "internal_error" and is passed to `on_error`, and the worker carries on.
    """

    def __init__(self, process: Callable[[Frame], None], stats: FrameStats,
                 on_error: Callable[[Exception], None], name: str = "side_depth_worker"):
        self._process = process
        self._stats = stats
        self._on_error = on_error
        self._name = name
        self._cond = threading.Condition()
        self._pending: Frame | None = None
        self._processing = False
        self._accepting = False
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (again after stop())."""
        with self._cond:
            self._stop = False
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def offer(self, msg: Any) -> None:
        """A frame arrived (executor thread): count it, keep it as the newest, wake the worker."""
        frame = Frame(msg, time.perf_counter())
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

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                frame, self._pending = self._pending, None
                self._processing = True
            try:
                self._process(frame)
            except Exception as exc:  # the node must survive any single frame
                self._stats.dropped("internal_error")
                self._on_error(exc)
            finally:
                with self._cond:
                    self._processing = False
                    self._cond.notify_all()

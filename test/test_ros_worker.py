"""The newest-frame worker, without ROS (side_ros/ros/worker.py): the newest frame wins, every frame is counted."""

import math
import threading
import time

import pytest

from side_ros.ros.stats import FrameStats
from side_ros.ros.worker import NewestFrameWorker


def wait_for(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.01)
    return predicate()


class Recorder:
    """A process() that records each frame and, when told, blocks on the first one until released."""

    def __init__(self, stats, block=False, fail_on=()):
        self.stats, self.fail_on = stats, set(fail_on)
        self.started, self.release = threading.Event(), threading.Event()
        if not block:
            self.release.set()
        self.seen, self.done = [], threading.Condition()

    def __call__(self, frame):
        self.started.set()
        assert self.release.wait(30)
        if frame.msg in self.fail_on:
            raise RuntimeError(f"frame {frame.msg} fails")
        frame.published({"total": 0.0})
        with self.done:
            self.seen.append(frame.msg)
            self.done.notify_all()

    def wait_seen(self, n):
        with self.done:
            assert self.done.wait_for(lambda: len(self.seen) >= n, 30), self.seen


@pytest.fixture
def make():
    workers = []

    def make(**kw):
        stats, errors = FrameStats(), []
        rec = Recorder(stats, **kw)
        w = NewestFrameWorker(rec, stats, errors.append)
        w.start()
        workers.append(w)
        return w, rec, stats, errors

    yield make
    for w in workers:
        w.quiesce("shutdown")
        w.stop()


def test_frames_before_accept_are_dropped_as_inactive(make):
    w, rec, stats, _ = make()
    w.offer(1)
    w.accept(True)
    w.offer(2)
    rec.wait_seen(1)
    snap = stats.snapshot()
    assert rec.seen == [2] and snap.dropped == {"inactive": 1} and snap.received == 2


def test_the_newest_frame_replaces_a_waiting_one(make):
    w, rec, stats, _ = make(block=True)
    w.accept(True)
    w.offer(1)
    assert rec.started.wait(30)  # frame 1 is in hand
    for k in (2, 3, 4):
        w.offer(k)
    rec.release.set()
    rec.wait_seen(2)
    w.quiesce("shutdown")
    snap = stats.snapshot()
    assert rec.seen == [1, 4]
    assert snap.dropped == {"skipped_newer_frame": 2} and snap.received == 4 and snap.in_flight == 0


def test_quiesce_drops_the_pending_frame_and_waits_for_the_one_in_hand(make):
    w, rec, stats, _ = make(block=True)
    w.accept(True)
    w.offer(1)
    assert rec.started.wait(30)
    w.offer(2)
    quiesce = threading.Thread(target=w.quiesce, args=("deactivated",))
    quiesce.start()
    assert wait_for(lambda: stats.snapshot().dropped.get("deactivated") == 1)
    assert quiesce.is_alive()  # still waiting: frame 1 cannot finish before it is released
    rec.release.set()
    quiesce.join(30)
    assert not quiesce.is_alive() and rec.seen == [1]
    w.offer(3)
    snap = stats.snapshot()
    assert snap.dropped == {"deactivated": 1, "inactive": 1} and snap.published == 1 and snap.in_flight == 0


def test_a_failing_frame_is_counted_and_the_worker_carries_on(make):
    w, rec, stats, errors = make(fail_on={1})
    w.accept(True)
    w.offer(1)
    assert rec.started.wait(30)
    w.offer(2)
    rec.wait_seen(1)
    assert rec.seen == [2] and [str(e) for e in errors] == ["frame 1 fails"]
    assert stats.snapshot().dropped == {"internal_error": 1}


def test_a_frame_is_counted_once_even_when_it_fails_after_counting_and_reporting_fails(make):
    """The node's case: a frame counted as inference_error, then the warning about it raises (rclpy's logger did,
    for a severity change on one line); the frame stays counted once and the worker carries on."""
    stats = FrameStats()
    seen = []

    def process(frame):
        if frame.msg == 1:
            frame.dropped("inference_error")
            raise ValueError("Logger severity cannot be changed between calls")
        frame.published({"total": 0.0})
        seen.append(frame.msg)

    def on_error(exc):
        raise ValueError("Logger severity cannot be changed between calls")

    w = NewestFrameWorker(process, stats, on_error)
    w.start()
    try:
        w.accept(True)
        w.offer(1)
        assert wait_for(lambda: stats.snapshot().dropped == {"inference_error": 1})
        w.offer(2)
        assert wait_for(lambda: seen == [2])
        snap = stats.snapshot()
        assert snap.received == 2 and snap.published == 1 and snap.dropped == {"inference_error": 1}
        assert snap.in_flight == 0 and w.health().alive
    finally:
        w.quiesce("shutdown")
        w.stop()


def test_watchdog_health_busy_time_death_and_revival():
    stats = FrameStats()
    release = threading.Event()
    seen = []

    def process(frame):
        if frame.msg == "block":
            assert release.wait(30)
        if frame.msg == "die":
            raise SystemExit("a bug that escapes the per-frame handler")
        frame.published({"total": 0.0})
        seen.append(frame.msg)

    w = NewestFrameWorker(process, stats, lambda exc: None)
    w.start()
    try:
        w.accept(True)
        assert w.health().busy_s == 0.0 and w.health().alive
        w.offer("block")
        assert wait_for(lambda: w.health().busy_s > 0.05)  # a frame in hand, for longer and longer
        release.set()
        assert wait_for(lambda: seen == ["block"] and w.health().busy_s == 0.0)
        w.offer("die")
        assert wait_for(lambda: not w.health().alive)
        health = w.health()
        assert health.running and "SystemExit: a bug that escapes" in health.died_of
        assert stats.snapshot().dropped == {"internal_error": 1}  # its frame is counted, once
        assert "SystemExit" in w.revive() and w.revive() is None
        w.offer("after")
        assert wait_for(lambda: seen == ["block", "after"])
        snap = stats.snapshot()
        assert snap.received == 3 and snap.published == 2 and snap.in_flight == 0
    finally:
        w.quiesce("shutdown")
        w.stop()


def test_problem_bookkeeping_is_safe_between_the_worker_and_diagnostics():
    """The worker notes problems while the diagnostics timer lists them; a plain dict iterated by one thread while
    another adds keys raised 'dictionary changed size during iteration' (issue 9)."""
    from side_ros.ros.stats import Problems

    problems, errors, done = Problems(), [], threading.Event()

    def note():
        for i in range(5000):
            problems.note(f"reason_{i}", 5.0)
        done.set()

    def read():
        while not done.is_set():
            try:
                problems.recent(5.0, ignore=("model_not_loaded",))
            except RuntimeError as exc:  # pragma: no cover - the defect
                errors.append(exc)

    threads = [threading.Thread(target=note), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    # every key noted, however long the noting took on a loaded machine (no wall-clock window in the check)
    assert errors == [] and len(problems.recent(math.inf)) == 5000

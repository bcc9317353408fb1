"""The newest-frame worker, without ROS (side_ros/ros/worker.py): the newest frame wins, every frame is counted."""

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
        self.stats.published({"total": 0.0})
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

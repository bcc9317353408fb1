"""CameraInfo pairing by stamp and intrinsics caching, without ROS (side_ros/ros/camera_info.py)."""

import threading
from types import SimpleNamespace

import pytest

from side_ros import geometry
from side_ros.ros.camera_info import CameraInfoCache, IntrinsicsCache


def info(sec, width=640, height=480, fx=500.0):
    roi = SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0)
    return SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=0)),
        width=width,
        height=height,
        binning_x=0,
        binning_y=0,
        roi=roi,
        p=[fx, 0.0, 320.0, 0.0, 0.0, fx, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def stamp(sec):
    return SimpleNamespace(sec=sec, nanosec=0)


def test_the_info_with_the_images_stamp_is_waited_for():
    assert CameraInfoCache(wait_s=0.0).for_stamp(stamp(1)) is None  # nothing received yet
    cache = CameraInfoCache(wait_s=30.0)
    cache.add(info(1))
    late = info(2)
    adder = threading.Timer(0.05, cache.add, args=(late,))
    adder.start()
    assert cache.for_stamp(stamp(2)) is late  # arrived after the image was handed over
    assert cache.pairs_by_stamp and cache.latest is late


def test_a_camera_that_stamps_info_differently_gets_the_newest_without_waiting():
    cache = CameraInfoCache(wait_s=0.01)
    static = info(0)
    cache.add(static)
    assert cache.for_stamp(stamp(5)) is static and not cache.pairs_by_stamp  # one miss: stop waiting
    cache.add(info(6))
    assert cache.for_stamp(stamp(6)).header.stamp.sec == 6 and cache.pairs_by_stamp  # stamps match again


def test_only_the_recent_infos_are_kept():
    cache = CameraInfoCache(keep=3, wait_s=0.0)
    for s in range(10):
        cache.add(info(s, fx=100.0 + s))
    assert cache.for_stamp(stamp(8)).p[0] == 108.0
    assert cache.for_stamp(stamp(2)).p[0] == 109.0  # forgotten: the newest instead


def test_intrinsics_are_computed_once_and_a_bad_info_keeps_its_reason():
    cache = IntrinsicsCache()
    a = cache.get(info(1), 480, 640)
    assert (a.fx, a.cx) == (500.0, 320.0) and cache.get(info(2), 480, 640) is a  # same calibration, new stamp
    assert cache.get(info(3, fx=400.0), 480, 640).fx == 400.0
    for _ in range(2):
        with pytest.raises(geometry.CameraInfoError) as exc:
            cache.get(info(4), 240, 320)
        assert exc.value.reason == "camera_info_size_mismatch"

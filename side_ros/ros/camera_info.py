"""The depth node's CameraInfo side, without ROS: pair each image with the CameraInfo of its stamp, and turn it
into intrinsics for the point cloud.

Image and CameraInfo travel on separate topics, so the info may arrive just after its image; image_transport's
CameraSubscriber pairs them by stamp, and so does CameraInfoCache (waiting a moment for the pair). Drivers that
stamp CameraInfo differently (a static publisher, say) never match: after one miss the cache stops waiting and
gives the newest CameraInfo, until stamps match again. Works on rclpy and rosbags messages alike (it only reads
`header.stamp` and the CameraInfo fields).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from side_ros import geometry

WAIT_S = 0.1  # how long a frame's point cloud waits for the CameraInfo with the frame's stamp
KEEP = 16  # recent CameraInfos kept for pairing by stamp


def stamp_key(stamp: Any) -> tuple[int, int]:
    """builtin_interfaces/Time -> (sec, nanosec), the pairing key."""
    return int(stamp.sec), int(stamp.nanosec)


class CameraInfoCache:
    """Recent CameraInfos by header stamp; thread-safe (the executor adds, the worker thread asks)."""

    def __init__(self, keep: int = KEEP, wait_s: float = WAIT_S):
        self._keep = keep
        self._wait_s = wait_s
        self._cond = threading.Condition()
        self._by_stamp: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._latest: Any = None
        self._stamps_match = True  # this camera stamps CameraInfo like its images (wait for the pair)

    @property
    def latest(self) -> Any:
        """The newest CameraInfo received, or None."""
        return self._latest

    @property
    def pairs_by_stamp(self) -> bool:
        """Whether the last image found its CameraInfo by stamp (if not, the next one does not wait for it)."""
        return self._stamps_match

    def add(self, info: Any) -> None:
        key = stamp_key(info.header.stamp)
        with self._cond:
            self._latest = info
            self._by_stamp[key] = info
            self._by_stamp.move_to_end(key)
            while len(self._by_stamp) > self._keep:
                self._by_stamp.popitem(last=False)
            self._cond.notify_all()

    def for_stamp(self, stamp: Any) -> Any:
        """The CameraInfo with this stamp (waiting up to wait_s for it while stamps have matched), else the newest;
        None when none was received."""
        key = stamp_key(stamp)
        with self._cond:
            if self._stamps_match or self._latest is None:
                self._cond.wait_for(lambda: key in self._by_stamp, timeout=self._wait_s)
            matched = self._by_stamp.get(key)
            if self._latest is not None:
                self._stamps_match = matched is not None
            return matched if matched is not None else self._latest


class IntrinsicsCache:
    """geometry.camera_intrinsics for (CameraInfo, image size), computed once while both stay the same."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: geometry.Intrinsics | tuple[str, str] | None = None  # intrinsics, or (reason, message)

    def get(self, info: Any, height: int, width: int) -> geometry.Intrinsics:
        """Intrinsics for an image of this size; raises geometry.CameraInfoError (with its reason) when the
        CameraInfo cannot give them."""
        roi = info.roi
        key = (
            tuple(info.p),
            info.binning_x,
            info.binning_y,
            roi.x_offset,
            roi.y_offset,
            roi.width,
            roi.height,
            info.width,
            info.height,
            height,
            width,
        )
        if key != self._key:
            try:
                self._value = geometry.camera_intrinsics(info, height, width)
            except geometry.CameraInfoError as exc:
                self._value = (exc.reason, str(exc))
            self._key = key
        if isinstance(self._value, tuple):
            raise geometry.CameraInfoError(*self._value)
        assert self._value is not None
        return self._value

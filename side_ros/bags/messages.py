"""The node's output messages as rosbags objects (for bags), and the bag-side message helpers (headers, stamps,
camera_info, tf, matching streams by stamp).

The offline bag command must write what the live node publishes, byte for byte: both fill their messages from
the same field values (side_ros/payloads.py), so their CDR bytes are identical (test_bags checks it against
rclpy's serializer). Reading depth, clouds and diagnostics back is side_ros.payloads'. No ROS import.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rosbags.typesys.store import Typestore

from side_ros import geometry, payloads

if TYPE_CHECKING:
    from side_ros.routing.decision import RangeDecision

NS = 1_000_000_000

# Image encodings that hold depth rather than a camera picture (REP 118: 32FC1 metres, 16UC1 millimetres).
DEPTH_ENCODINGS = ("32FC1", "16UC1", "mono16_depth")


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (rosbags or rclpy) -> integer nanoseconds."""
    return int(stamp.sec) * NS + int(stamp.nanosec)


def make_time(ts: Typestore, ns: int) -> Any:
    return ts.types["builtin_interfaces/msg/Time"](sec=int(ns // NS), nanosec=int(ns % NS))


def make_header(ts: Typestore, stamp: int | Any, frame_id: str) -> Any:
    """std_msgs/Header from nanoseconds or from an existing Time (copied)."""
    t = make_time(ts, stamp) if isinstance(stamp, (int, np.integer)) else make_time(ts, stamp_ns(stamp))
    return ts.types["std_msgs/msg/Header"](stamp=t, frame_id=str(frame_id))


def copy_header(ts: Typestore, header: Any) -> Any:
    """A Header with the input's stamp and frame_id (outputs describe the same instant and optical frame)."""
    return make_header(ts, stamp_ns(header.stamp), header.frame_id)


def depth_image(ts: Typestore, header: Any, depth: np.ndarray) -> Any:
    """(H, W) metres -> 32FC1 Image, NaN where invalid (REP 118), as the node publishes it."""
    return ts.types["sensor_msgs/msg/Image"](header=copy_header(ts, header), **payloads.depth_fields(depth))


def color_image(ts: Typestore, header: Any, pixels: np.ndarray, encoding: str = "bgr8") -> Any:
    """(H, W, 3) uint8 in the encoding's channel order -> bgr8 / rgb8 Image."""
    return ts.types["sensor_msgs/msg/Image"](header=copy_header(ts, header), **payloads.color_fields(pixels, encoding))


def point_cloud(ts: Typestore, header: Any, cloud: geometry.PackedCloud) -> Any:
    """Packed organized cloud -> PointCloud2 with depth_image_proc's fields (is_dense false: NaN points kept)."""
    field = ts.types["sensor_msgs/msg/PointField"]
    values = payloads.cloud_fields(cloud)
    values["fields"] = [field(name=n, offset=o, datatype=t, count=c) for n, o, t, c in values["fields"]]
    return ts.types["sensor_msgs/msg/PointCloud2"](header=copy_header(ts, header), **values)


def scene_message(ts: Typestore, header: Any, decision: RangeDecision) -> Any:
    """The routing decision as the node's /side/scene std_msgs/String (payloads.scene_json)."""
    return ts.types["std_msgs/msg/String"](data=payloads.scene_json(header.stamp, header.frame_id, decision))


def string_message(ts: Typestore, text: str) -> Any:
    return ts.types["std_msgs/msg/String"](data=str(text))


def camera_info(ts: Typestore, header: Any, width: int, height: int, k: np.ndarray, p: np.ndarray | None = None) -> Any:
    """A rectified pinhole CameraInfo (no distortion): K, identity R and P = [K | 0] unless P is given."""
    kk = np.asarray(k, dtype=np.float64).reshape(3, 3)
    pp = np.hstack([kk, np.zeros((3, 1))]) if p is None else np.asarray(p, dtype=np.float64).reshape(3, 4)
    roi = ts.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return ts.types["sensor_msgs/msg/CameraInfo"](
        header=copy_header(ts, header),
        height=int(height),
        width=int(width),
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=kk.reshape(-1).copy(),
        r=np.eye(3).reshape(-1),
        p=pp.reshape(-1).copy(),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def depth_camera_info(ts: Typestore, header: Any, info: Any, height: int, width: int) -> Any:
    """The CameraInfo of a depth image computed on the pixel grid of `info`'s image, as the node publishes it on
    depth/camera_info: the camera's calibration under the depth's header (a 0 x 0 size becomes the depth's)."""
    roi = info.roi
    plain = max(int(info.binning_x), 1) == 1 and max(int(info.binning_y), 1) == 1 and not (roi.width and roi.height)
    w, h = (width, height) if plain and not (info.width and info.height) else (info.width, info.height)
    return ts.types["sensor_msgs/msg/CameraInfo"](
        header=copy_header(ts, header),
        height=int(h),
        width=int(w),
        distortion_model=str(info.distortion_model),
        d=np.asarray(info.d, dtype=np.float64).copy(),
        k=np.asarray(info.k, dtype=np.float64).copy(),
        r=np.asarray(info.r, dtype=np.float64).copy(),
        p=np.asarray(info.p, dtype=np.float64).copy(),
        binning_x=int(info.binning_x),
        binning_y=int(info.binning_y),
        roi=ts.types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=int(roi.x_offset),
            y_offset=int(roi.y_offset),
            height=int(roi.height),
            width=int(roi.width),
            do_rectify=bool(roi.do_rectify),
        ),
    )


def transform_stamped(ts: Typestore, stamp: int, parent: str, child: str, matrix: np.ndarray) -> Any:
    """geometry_msgs/TransformStamped: the pose of `child` in `parent` (p_parent = matrix @ p_child)."""
    m = np.asarray(matrix, dtype=np.float64)
    x, y, z, w = quaternion_from_matrix(m[:3, :3])
    t = ts.types
    return t["geometry_msgs/msg/TransformStamped"](
        header=make_header(ts, stamp, parent),
        child_frame_id=child,
        transform=t["geometry_msgs/msg/Transform"](
            translation=t["geometry_msgs/msg/Vector3"](x=float(m[0, 3]), y=float(m[1, 3]), z=float(m[2, 3])),
            rotation=t["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
        ),
    )


def quaternion_from_matrix(r: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix -> unit quaternion (x, y, z, w), w >= 0 (Shepperd's method, stable for any rotation)."""
    m = np.asarray(r, dtype=np.float64)
    tr = np.trace(m)
    cands = np.array([tr, m[0, 0], m[1, 1], m[2, 2]])
    i = int(np.argmax(cands))
    if i == 0:
        s = 2.0 * np.sqrt(1.0 + tr)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif i == 1:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif i == 2:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    qa = np.asarray(q)
    qa = qa / np.linalg.norm(qa)
    if qa[3] < 0:
        qa = -qa
    return float(qa[0]), float(qa[1]), float(qa[2]), float(qa[3])


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Unit quaternion (normalized here) -> 3x3 rotation matrix."""
    q = np.array([x, y, z, w], dtype=np.float64)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"invalid quaternion ({x}, {y}, {z}, {w})")
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


# ---------------------------------------------------------------------------------------------- streams
@dataclass(frozen=True)
class Stamped:
    """A message with its header stamp and log time (ns), for matching streams by time."""

    stamp: int
    log_time: int
    msg: Any


class StampIndex:
    """Messages of one topic by header stamp and log time, for matching another stream to them.

    pick(): the message with exactly that header stamp, else the latest one logged at or before the log time,
    else the first. How a camera_info is matched to its image: drivers stamp both alike, some publish it once.
    """

    def __init__(self, items: list[Stamped]):
        self.items = sorted(items, key=lambda it: it.log_time)
        self._by_stamp: dict[int, Stamped] = {}
        for it in self.items:
            self._by_stamp.setdefault(it.stamp, it)
        self._logs = [it.log_time for it in self.items]
        self._by_time = sorted(self.items, key=lambda it: it.stamp)
        self._stamps = np.array([it.stamp for it in self._by_time], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def pick(self, stamp: int, log_time: int) -> Stamped | None:
        if not self.items:
            return None
        exact = self._by_stamp.get(stamp)
        if exact is not None:
            return exact
        i = bisect.bisect_right(self._logs, log_time)
        return self.items[i - 1] if i > 0 else self.items[0]

    def nearest(self, stamp: int, max_dt: int) -> Stamped | None:
        """The message whose header stamp is closest to `stamp`, if within max_dt nanoseconds."""
        if not self.items:
            return None
        i = int(np.searchsorted(self._stamps, stamp))
        cands = [j for j in (i - 1, i) if 0 <= j < len(self._by_time)]
        best = min((self._by_time[j] for j in cands), key=lambda it: abs(it.stamp - stamp))
        return best if abs(best.stamp - stamp) <= max_dt else None

"""The node's output payloads, defined once for both message libraries, and reading them back.

The live node fills rclpy messages (side_ros/ros/messages.py) and the bag tools fill rosbags messages
(side_ros/bags/messages.py) from the same field values built here, so what `side-depth-bag` writes is, byte for
byte, what the node publishes: the 32FC1 depth image (REP 118), the bgr8 colour map, the organized PointCloud2
(side_ros.geometry packs it) and the scene JSON. The readers work on either library's messages (and on what
`ros2 bag` or a driver wrote). No ROS, rosbags or torch import.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from side_ros import geometry

if TYPE_CHECKING:
    from side_ros.routing.decision import RangeDecision

LITTLE_ENDIAN_HOST = sys.byteorder == "little"


def _u8(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint8)


# ---------------------------------------------------------------------------------------------- building
def depth_fields(depth: np.ndarray) -> dict[str, Any]:
    """sensor_msgs/Image fields of (H, W) metres as 32FC1, NaN where invalid, in the host's byte order (and
    flagged so); `data` is the flat uint8 view."""
    d = np.ascontiguousarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"depth must be (H, W), got {d.shape}")
    return {
        "height": int(d.shape[0]),
        "width": int(d.shape[1]),
        "encoding": "32FC1",
        "is_bigendian": int(not LITTLE_ENDIAN_HOST),
        "step": int(d.shape[1]) * 4,
        "data": _u8(d),
    }


def color_fields(pixels: np.ndarray, encoding: str = "bgr8") -> dict[str, Any]:
    """sensor_msgs/Image fields of (H, W, 3) uint8 pixels already in the encoding's channel order (bgr8 / rgb8)."""
    if encoding not in ("bgr8", "rgb8"):
        raise ValueError(f"encoding must be bgr8 or rgb8, got {encoding!r}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be (H, W, 3) uint8, got {pixels.dtype} {pixels.shape}")
    return {
        "height": int(pixels.shape[0]),
        "width": int(pixels.shape[1]),
        "encoding": encoding,
        "is_bigendian": 0,
        "step": int(pixels.shape[1]) * 3,
        "data": _u8(pixels),
    }


def cloud_fields(cloud: geometry.PackedCloud) -> dict[str, Any]:
    """sensor_msgs/PointCloud2 fields of a packed organized cloud (depth_image_proc's layout; is_dense false, NaN
    points kept); `fields` are (name, offset, datatype, count) for the library's PointField."""
    return {
        "height": cloud.height,
        "width": cloud.width,
        "fields": list(cloud.fields),
        "is_bigendian": cloud.is_bigendian,
        "point_step": cloud.point_step,
        "row_step": cloud.row_step,
        "data": _u8(cloud.data),
        "is_dense": cloud.is_dense,
    }


def scene_json(stamp: Any, frame_id: str, decision: RangeDecision) -> str:
    """The /side/scene std_msgs/String payload: stamp {sec, nanosec}, frame_id, range, router, score (null when
    routing is fixed), plus the router's evidence (threshold, votes, ...).

    JSON in a String because no message type on hand carries a header, a label and a score (vision_msgs is not
    installable here) and every tool (`ros2 topic echo`, rosbags, Foxglove) reads it; the stamp inside ties the
    decision to its frame.
    """
    payload = {
        "stamp": {"sec": int(stamp.sec), "nanosec": int(stamp.nanosec)},
        "frame_id": frame_id,
        **decision.to_dict(),
    }
    return json.dumps(payload, separators=(",", ":"), default=str)


# ---------------------------------------------------------------------------------------------- reading back
def _raw(msg: Any) -> np.ndarray:
    data = msg.data
    return data.view(np.uint8).reshape(-1) if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)


def _rows(msg: Any, bytes_per_pixel: int) -> np.ndarray:
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    raw = _raw(msg)
    if step < w * bytes_per_pixel or raw.size < step * h:
        raise ValueError(f"{msg.encoding} image {w}x{h}: step {step} / {raw.size} bytes do not hold the pixels")
    return raw[: step * h].reshape(h, step)[:, : w * bytes_per_pixel]


def image_depth(msg: Any) -> np.ndarray:
    """A depth Image -> (H, W) float32 metres, NaN invalid: 32FC1 metres, or 16UC1 millimetres with 0 invalid."""
    if msg.encoding == "32FC1":
        order = ">f4" if msg.is_bigendian else "<f4"
        d = np.ascontiguousarray(_rows(msg, 4)).view(order).astype(np.float32)
        d[~np.isfinite(d) | (d <= 0)] = np.nan
        return d
    if msg.encoding in ("16UC1", "mono16"):
        order = ">u2" if msg.is_bigendian else "<u2"
        mm = np.ascontiguousarray(_rows(msg, 2)).view(order)
        return np.where(mm > 0, mm.astype(np.float32) / 1000.0, np.float32(np.nan))
    raise ValueError(f"not a depth image encoding: {msg.encoding!r} (expected 32FC1 or 16UC1)")


def cloud_array(msg: Any) -> np.ndarray:
    """PointCloud2 -> (height, width) structured array read through the message's own fields (as
    sensor_msgs_py.point_cloud2.read_points does), so a wrong offset or step shows up as wrong values."""
    fields = [(f.name, int(f.offset), int(f.datatype), int(f.count)) for f in msg.fields]
    dtype = geometry.cloud_dtype(fields, int(msg.point_step), bool(msg.is_bigendian))
    h, w, row_step = int(msg.height), int(msg.width), int(msg.row_step)
    raw = _raw(msg)
    if raw.size < row_step * h or row_step < w * int(msg.point_step):
        raise ValueError(f"PointCloud2 {w}x{h}: {raw.size} bytes with row_step {row_step} cannot hold the points")
    rows = raw[: row_step * h].reshape(h, row_step)[:, : w * int(msg.point_step)]
    return np.ascontiguousarray(rows).view(dtype).reshape(h, w)


def cloud_xyz(msg: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """PointCloud2 -> ((N, 3) float32 x, y, z of every point (NaN kept), (N, 3) uint8 RGB or None)."""
    arr = cloud_array(msg).reshape(-1)
    names = arr.dtype.names or ()
    if not {"x", "y", "z"} <= set(names):
        raise ValueError(f"PointCloud2 without x, y, z fields (has {', '.join(names) or 'none'})")
    xyz = np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float32)
    rgb = geometry.unpack_rgb(arr["rgb"].astype("<f4")) if "rgb" in names else None
    return xyz, rgb


def diagnostic_values(msg: Any, name_contains: str = "depth estimation") -> dict[str, str]:
    """The KeyValues of the first status in a DiagnosticArray whose name contains `name_contains` (the node's),
    plus `_level` ("0" OK .. "3" stale) and `_message`; {} when there is none."""
    for status in msg.status:
        if name_contains in status.name:
            out = {kv.key: kv.value for kv in status.values}
            level = status.level
            out["_level"] = str(int.from_bytes(level, "little") if isinstance(level, bytes) else int(level))
            out["_message"] = status.message
            return out
    return {}

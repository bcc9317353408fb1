"""Building the node's output messages from NumPy arrays (copy once into the message, nothing per pixel in Python).

`sensor_msgs_py` and `cv_bridge` are not installable from PyPI, so this is the small part of them the node needs:
32FC1 depth (REP 118), bgr8 images, PointCloud2 from side_ros.geometry's packed layout, the scene decision and
diagnostics.
"""

from __future__ import annotations

import array
import json
import sys
from collections.abc import Mapping

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header, String

from side_ros.geometry import PackedCloud
from side_ros.routing.decision import RangeDecision

LITTLE_ENDIAN_HOST = sys.byteorder == "little"


def _bytes_of(arr: np.ndarray) -> array.array:
    """The array's bytes as the array.array('B') rclpy stores uint8[] fields in (one copy, no per-byte checks)."""
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return out


def copy_header(header: Header) -> Header:
    """A new Header with the input's stamp and frame_id (outputs describe the same instant and optical frame)."""
    out = Header()
    out.stamp.sec = header.stamp.sec
    out.stamp.nanosec = header.stamp.nanosec
    out.frame_id = header.frame_id
    return out


def depth_image(header: Header, depth: np.ndarray) -> Image:
    """(H, W) metres -> 32FC1 Image, NaN where invalid (REP 118), in the host's byte order as the message says."""
    d = np.ascontiguousarray(depth, dtype=np.float32)
    msg = Image()
    msg.header = copy_header(header)
    msg.height, msg.width = int(d.shape[0]), int(d.shape[1])
    msg.encoding = "32FC1"
    msg.is_bigendian = not LITTLE_ENDIAN_HOST
    msg.step = msg.width * 4
    msg.data = _bytes_of(d)
    return msg


def bgr_image(header: Header, bgr: np.ndarray) -> Image:
    """(H, W, 3) uint8 in B, G, R order -> bgr8 Image."""
    msg = Image()
    msg.header = copy_header(header)
    msg.height, msg.width = int(bgr.shape[0]), int(bgr.shape[1])
    msg.encoding = "bgr8"
    msg.is_bigendian = False
    msg.step = msg.width * 3
    msg.data = _bytes_of(bgr)
    return msg


def point_cloud(header: Header, cloud: PackedCloud) -> PointCloud2:
    """Packed organized cloud -> PointCloud2 with depth_image_proc's fields (is_dense false: NaN points kept)."""
    msg = PointCloud2()
    msg.header = copy_header(header)
    msg.height, msg.width = cloud.height, cloud.width
    msg.fields = [PointField(name=n, offset=o, datatype=t, count=c) for n, o, t, c in cloud.fields]
    msg.is_bigendian = cloud.is_bigendian
    msg.point_step = cloud.point_step
    msg.row_step = cloud.row_step
    msg.is_dense = cloud.is_dense
    msg.data = _bytes_of(cloud.data)
    return msg


def scene_message(header: Header, decision: RangeDecision) -> String:
    """The routing decision as std_msgs/String JSON, stamped with the image's stamp and frame.

    JSON in a String because no message type on hand carries a header, a label and a score (vision_msgs is not
    installable here) and every tool (`ros2 topic echo`, rosbags, Foxglove) reads it; the stamp inside ties the
    decision to its frame. Fields: stamp {sec, nanosec}, frame_id, range, router, score (null when routing is
    fixed), plus the router's evidence (threshold, votes, ...).
    """
    payload = {"stamp": {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)},
               "frame_id": header.frame_id, **json.loads(decision.to_json())}
    return String(data=json.dumps(payload, separators=(",", ":"), default=str))


def diagnostic_status(name: str, hardware_id: str, level: bytes, message: str,
                      values: Mapping[str, object]) -> DiagnosticStatus:
    """One DiagnosticStatus; values become KeyValue strings (floats with 4 significant digits)."""
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=fmt(v)) for k, v in values.items()])


def diagnostic_array(stamp: Time, statuses: list[DiagnosticStatus]) -> DiagnosticArray:
    """The /diagnostics message: one array, stamped now, with the node's statuses."""
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = statuses
    return msg

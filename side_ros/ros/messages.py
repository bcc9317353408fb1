"""Building the node's output messages from NumPy arrays (copy once into the message, nothing per pixel in Python).

`sensor_msgs_py` and `cv_bridge` are not installable from PyPI, so this is the small part of them the node needs:
the field values come from side_ros.payloads (which the bag tools fill their rosbags messages from, so both write
the same bytes); here they go into rclpy messages, plus the diagnostics messages.
"""

from __future__ import annotations

import array
from collections.abc import Mapping
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header, String

from side_ros import payloads
from side_ros.geometry import PackedCloud
from side_ros.routing.decision import RangeDecision


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


def _filled(msg: Any, header: Header, fields: dict[str, Any]) -> Any:
    msg.header = copy_header(header)
    for name, value in fields.items():
        setattr(msg, name, _bytes_of(value) if name == "data" else value)
    return msg


def depth_image(header: Header, depth: np.ndarray) -> Image:
    """(H, W) metres -> 32FC1 Image, NaN where invalid (REP 118), in the host's byte order as the message says."""
    return _filled(Image(), header, payloads.depth_fields(depth))


def depth_camera_info(header: Header, info: CameraInfo, height: int, width: int) -> CameraInfo:
    """The CameraInfo of a depth image computed on the pixel grid of the image `info` belongs to: the camera's
    calibration (K, D, R, P, binning, ROI) under the depth's header, as depth_image_proc and
    depthimage_to_laserscan pair them. A driver's 0 x 0 size becomes the depth's (without binning or ROI the
    calibrated size is the image's)."""
    out = CameraInfo(
        height=info.height,
        width=info.width,
        distortion_model=info.distortion_model,
        binning_x=info.binning_x,
        binning_y=info.binning_y,
    )
    out.header = copy_header(header)
    out.d, out.k, out.r, out.p = list(info.d), list(info.k), list(info.r), list(info.p)
    out.roi.x_offset, out.roi.y_offset = info.roi.x_offset, info.roi.y_offset
    out.roi.width, out.roi.height, out.roi.do_rectify = info.roi.width, info.roi.height, info.roi.do_rectify
    plain = max(info.binning_x, 1) == 1 and max(info.binning_y, 1) == 1 and not (info.roi.width and info.roi.height)
    if plain and not (info.width and info.height):
        out.width, out.height = width, height
    return out


def bgr_image(header: Header, bgr: np.ndarray) -> Image:
    """(H, W, 3) uint8 in B, G, R order -> bgr8 Image."""
    return _filled(Image(), header, payloads.color_fields(bgr, "bgr8"))


def point_cloud(header: Header, cloud: PackedCloud) -> PointCloud2:
    """Packed organized cloud -> PointCloud2 with depth_image_proc's fields (is_dense false: NaN points kept)."""
    fields = payloads.cloud_fields(cloud)
    fields["fields"] = [PointField(name=n, offset=o, datatype=t, count=c) for n, o, t, c in fields["fields"]]
    return _filled(PointCloud2(), header, fields)


def scene_message(header: Header, decision: RangeDecision) -> String:
    """The routing decision as std_msgs/String JSON, stamped with the image's stamp and frame (payloads.scene_json
    says why JSON and what it holds)."""
    return String(data=payloads.scene_json(header.stamp, header.frame_id, decision))


def diagnostic_status(
    name: str, hardware_id: str, level: bytes, message: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """One DiagnosticStatus; values become KeyValue strings (floats with 4 significant digits)."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=fmt(v)) for k, v in values.items()],
    )


def diagnostic_array(stamp: Time, statuses: list[DiagnosticStatus]) -> DiagnosticArray:
    """The /diagnostics message: one array, stamped now, with the node's statuses."""
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = statuses
    return msg

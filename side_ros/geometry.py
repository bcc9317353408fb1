"""Depth geometry without ROS: pinhole back-projection, PointCloud2 byte packing, depth colour maps and PLY files.

The node publishes through these functions and the offline tools (images, bags) reuse them, so a cloud written to
a bag, a PLY file or a topic is the same cloud. The byte layout is depth_image_proc's (point_cloud_xyz /
point_cloud_xyzrgb): organized (height x width of the image), NaN x/y/z for invalid pixels, little-endian float32
x, y, z at offsets 0/4/8 with point_step 16, plus a float32 `rgb` field at offset 16 (bytes b, g, r, 0) with
point_step 32 for colour clouds. Coordinates follow REP 103's optical frame: z forward, x right, y down.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

# sensor_msgs/PointField datatype constants (the numbers are part of the message definition).
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)

POINT_STEP_XYZ = 16
POINT_STEP_XYZRGB = 32


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the image the depth belongs to (after binning and ROI)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(
                f"camera intrinsics must be finite, got fx={self.fx} fy={self.fy} cx={self.cx} cy={self.cy}"
            )
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(
                f"focal lengths must be positive, got fx={self.fx} fy={self.fy} "
                "(an all-zero P means the camera is not calibrated)"
            )

    @classmethod
    def from_projection(
        cls, p: Sequence[float], *, binning: tuple[int, int] = (1, 1), roi_offset: tuple[int, int] = (0, 0)
    ) -> Intrinsics:
        """From CameraInfo's row-major 3x4 P (rectified intrinsics, as depth_image_proc uses), adjusted for binning
        and ROI the way image_geometry's PinholeCameraModel does, so a binned or cropped stream still projects right.
        """
        arr = np.asarray(p, dtype=np.float64).ravel()
        if arr.size != 12:
            raise ValueError(f"P must have 12 elements (3x4 row-major), got {arr.size}")
        bx = max(1, int(binning[0]))
        by = max(1, int(binning[1]))
        return cls(
            fx=float(arr[0]) / bx,
            fy=float(arr[5]) / by,
            cx=(float(arr[2]) - roi_offset[0]) / bx,
            cy=(float(arr[6]) - roi_offset[1]) / by,
        )

    def scaled(self, sx: float, sy: float) -> Intrinsics:
        """Intrinsics of the same camera resized by (sx, sy) (pixel centres at integer coordinates)."""
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)


class CameraInfoError(ValueError):
    """A CameraInfo that cannot give intrinsics for an image; `reason` is a short key (as the node counts)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def camera_intrinsics(info: Any, height: int, width: int) -> Intrinsics:
    """Intrinsics for an image of (height, width) from a CameraInfo (rclpy or rosbags message alike).

    P's fx, fy, cx, cy (rectified, as depth_image_proc), adjusted for binning and ROI; a CameraInfo describing
    another image size is refused ('camera_info_size_mismatch'), an all-zero or NaN P too ('invalid_camera_info').
    """
    roi = info.roi
    bx, by = max(1, int(info.binning_x)), max(1, int(info.binning_y))
    has_roi = int(roi.width) > 0 and int(roi.height) > 0
    full_w, full_h = (int(roi.width), int(roi.height)) if has_roi else (int(info.width), int(info.height))
    if info.width and info.height and (full_w // bx, full_h // by) != (width, height):
        raise CameraInfoError(
            "camera_info_size_mismatch",
            f"CameraInfo describes a {full_w // bx}x{full_h // by} image, the image is {width}x{height}",
        )
    try:
        return Intrinsics.from_projection(
            list(info.p), binning=(bx, by), roi_offset=(int(roi.x_offset), int(roi.y_offset)) if has_roi else (0, 0)
        )
    except ValueError as exc:
        raise CameraInfoError("invalid_camera_info", f"unusable CameraInfo P: {exc}") from exc


def camera_focal(info: Any | None, height: int, width: int) -> tuple[float, float] | None:
    """(fx, fy) of the matched CameraInfo for an image of this size (metric scale of canonical-focal networks),
    None without a usable one (the pipeline then assumes its training camera)."""
    if info is None:
        return None
    try:
        intr = camera_intrinsics(info, height, width)
    except CameraInfoError:
        return None
    return (intr.fx, intr.fy)


@lru_cache(maxsize=16)
def _rays(height: int, width: int, intr: Intrinsics, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(u - cx)/fx per sampled column and (v - cy)/fy per sampled row; cached because they change only with the
    camera, and recomputing them is a third of the per-frame cost."""
    u = np.arange(0, width, stride, dtype=np.float32)
    v = np.arange(0, height, stride, dtype=np.float32)
    ray_x = ((u - np.float32(intr.cx)) / np.float32(intr.fx))[None, :]
    ray_y = ((v - np.float32(intr.cy)) / np.float32(intr.fy))[:, None]
    ray_x.flags.writeable = False
    ray_y.flags.writeable = False
    return ray_x, ray_y


def _check_depth(depth: np.ndarray) -> np.ndarray:
    if not isinstance(depth, np.ndarray) or depth.ndim != 2:
        raise ValueError(f"depth must be an (H, W) array, got {getattr(depth, 'shape', type(depth).__name__)}")
    if depth.shape[0] == 0 or depth.shape[1] == 0:
        raise ValueError(f"depth is empty ({depth.shape[0]}x{depth.shape[1]})")
    return depth.astype(np.float32, copy=False)


def _check_stride(stride: int) -> int:
    if isinstance(stride, bool) or int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    return int(stride)


def valid_depth(depth: np.ndarray, min_depth: float = 0.0, max_depth: float = 0.0) -> np.ndarray:
    """Mask of usable depths: finite, > 0, >= min_depth and (when max_depth > 0) <= max_depth.

    REP 118 marks invalid pixels NaN, too close -Inf and no return +Inf; none of them is a point.
    """
    d = _check_depth(depth)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(d) & (d > 0) & (d >= min_depth)
        if max_depth > 0:
            ok &= d <= max_depth
    return ok


def depth_to_points(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    *,
    stride: int = 1,
    min_depth: float = 0.0,
    max_depth: float = 0.0,
    confidence: np.ndarray | None = None,
    min_confidence: float = 0.0,
) -> np.ndarray:
    """Organized (H', W', 3) float32 XYZ in the optical frame, NaN where the depth is unusable.

    X = (u - cx) Z / fx, Y = (v - cy) Z / fy at pixel (u, v) (depth_image_proc's convention: pixel centres at
    integer coordinates). `stride` keeps every stride-th row and column (H' = ceil(H / stride)); depths outside
    [min_depth, max_depth] (max_depth 0 = no limit), and with a per-pixel `confidence` (H, W) those below
    `min_confidence`, become NaN points (the cloud stays organized).
    """
    d = _check_depth(depth)
    s = _check_stride(stride)
    ds = d[::s, ::s]
    ray_x, ray_y = _rays(d.shape[0], d.shape[1], intrinsics, s)
    keep = valid_depth(ds, min_depth, max_depth)
    if confidence is not None and min_confidence > 0:
        if confidence.shape != d.shape:
            raise ValueError(f"confidence {confidence.shape} and depth {d.shape} differ in size")
        keep &= confidence[::s, ::s] >= min_confidence
    z = np.where(keep, ds, np.float32(np.nan))
    out = np.empty((*ds.shape, 3), dtype=np.float32)
    np.multiply(ray_x, z, out=out[..., 0])
    np.multiply(ray_y, z, out=out[..., 1])
    out[..., 2] = z
    return out


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...,) uint32 0x00RRGGBB, i.e. little-endian bytes b, g, r, 0: PCL's and
    depth_image_proc's `rgb` field, read by RViz's RGB8 colour transformer."""
    if rgb.dtype != np.uint8 or rgb.shape[-1] != 3:
        raise ValueError(f"colours must be (..., 3) uint8 RGB, got {rgb.dtype} {rgb.shape}")
    c = rgb.astype(np.uint32)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


@dataclass(frozen=True)
class PackedCloud:
    """A PointCloud2 payload: fill a sensor_msgs/PointCloud2 with these fields as they are.

    fields: (name, offset, datatype, count) per PointField; data: row-major bytes, row_step = point_step * width.
    """

    data: np.ndarray
    height: int
    width: int
    fields: tuple[tuple[str, int, int, int], ...]
    point_step: int
    row_step: int
    is_bigendian: bool = False
    is_dense: bool = False


XYZ_FIELDS = (("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1))
XYZRGB_FIELDS = XYZ_FIELDS + (("rgb", 16, FLOAT32, 1),)


def pack_points(points: np.ndarray, rgb: np.ndarray | None = None) -> PackedCloud:
    """Organized (H, W, 3) float32 XYZ (+ (H, W, 3) uint8 RGB) -> depth_image_proc's PointCloud2 byte layout.

    Written straight into one preallocated buffer with NumPy (no per-point Python); padding bytes are zero so
    clouds are reproducible byte for byte. Little-endian on every host, as the message says.
    """
    if points.ndim != 3 or points.shape[2] != 3:
        raise ValueError(f"points must be (H, W, 3), got {points.shape}")
    h, w = points.shape[:2]
    if rgb is not None and rgb.shape[:2] != (h, w):
        raise ValueError(f"colours {rgb.shape[:2]} do not match points {(h, w)}")
    step = POINT_STEP_XYZ if rgb is None else POINT_STEP_XYZRGB
    words = step // 4
    buf = np.zeros((h, w, words), dtype="<f4")
    buf[..., 0:3] = points
    if rgb is not None:
        buf.view("<u4")[..., 4] = pack_rgb(rgb)
    return PackedCloud(
        data=buf.reshape(-1).view(np.uint8),
        height=h,
        width=w,
        fields=XYZ_FIELDS if rgb is None else XYZRGB_FIELDS,
        point_step=step,
        row_step=step * w,
    )


def depth_to_cloud(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    rgb: np.ndarray | None = None,
    *,
    stride: int = 1,
    min_depth: float = 0.0,
    max_depth: float = 0.0,
    confidence: np.ndarray | None = None,
    min_confidence: float = 0.0,
) -> PackedCloud:
    """Depth (+ the image's colours) -> packed organized cloud; the one call the node and the bag tool make."""
    pts = depth_to_points(
        depth,
        intrinsics,
        stride=stride,
        min_depth=min_depth,
        max_depth=max_depth,
        confidence=confidence,
        min_confidence=min_confidence,
    )
    colours = None
    if rgb is not None:
        if rgb.shape[:2] != depth.shape:
            raise ValueError(f"colour image {rgb.shape[:2]} and depth {depth.shape} differ in size")
        colours = rgb[::stride, ::stride]
    return pack_points(pts, colours)


def cloud_dtype(fields: Sequence[tuple[str, int, int, int]], point_step: int, bigendian: bool = False) -> np.dtype:
    """Structured dtype reading a PointCloud2 payload as its fields say (what sensor_msgs_py.read_points does)."""
    kinds = {
        INT8: "i1",
        UINT8: "u1",
        INT16: "i2",
        UINT16: "u2",
        INT32: "i4",
        UINT32: "u4",
        FLOAT32: "f4",
        FLOAT64: "f8",
    }
    order = ">" if bigendian else "<"
    names, formats, offsets = [], [], []
    for name, offset, datatype, count in fields:
        if datatype not in kinds:
            raise ValueError(f"field {name!r}: unknown PointField datatype {datatype}")
        names.append(name)
        formats.append((order + kinds[datatype], (count,)) if count > 1 else order + kinds[datatype])
        offsets.append(offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})


def unpack_rgb(rgb_field: np.ndarray) -> np.ndarray:
    """Float32 (or uint32) `rgb` field -> (..., 3) uint8 RGB."""
    v = np.ascontiguousarray(rgb_field).view(np.uint32)
    return np.stack([(v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF], axis=-1).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- colour maps
# Turbo (Google, Apache-2.0): the published polynomial approximation, evaluated once into a 256-entry table.
_TURBO_R = (0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943)
_TURBO_G = (0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604)
_TURBO_B = (0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973)


def _turbo_table() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    powers = np.stack([x**i for i in range(6)], axis=1)
    rgb = np.stack([powers @ np.array(c) for c in (_TURBO_R, _TURBO_G, _TURBO_B)], axis=1)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


TURBO_RGB = _turbo_table()


def depth_limits(depth: np.ndarray, min_depth: float = 0.0, max_depth: float = 0.0) -> tuple[float, float]:
    """The depth span a colour map covers: given limits, or (for 0) the frame's finite positive min / max."""
    d = _check_depth(depth)
    ok = valid_depth(d)
    lo, hi = float(min_depth), float(max_depth)
    if (lo <= 0 or hi <= 0) and ok.any():
        finite = d[ok]
        lo = lo if lo > 0 else float(finite.min())
        hi = hi if hi > 0 else float(finite.max())
    if not (hi > lo):
        hi = lo + 1e-3 if lo > 0 else 1.0
    return lo, hi


def colorize_depth(
    depth: np.ndarray, min_depth: float = 0.0, max_depth: float = 0.0, *, order: str = "bgr"
) -> np.ndarray:
    """Depth (H, W) metres -> (H, W, 3) uint8 turbo colour map for people: near blue, far red, invalid black.

    Limits of 0 are taken from the frame. `order` "bgr" matches a bgr8 Image (what image viewers expect),
    "rgb" a PNG or rgb8.
    """
    if order not in ("bgr", "rgb"):
        raise ValueError(f"order must be 'bgr' or 'rgb', got {order!r}")
    d = _check_depth(depth)
    lo, hi = depth_limits(d, min_depth, max_depth)
    ok = valid_depth(d)
    with np.errstate(invalid="ignore"):
        idx = np.clip((d - np.float32(lo)) * np.float32(255.0 / (hi - lo)), 0, 255)
    idx = np.where(ok, idx, 0).astype(np.uint8)
    table = TURBO_RGB if order == "rgb" else TURBO_RGB[:, ::-1]
    out = np.ascontiguousarray(table)[idx]
    out[~ok] = 0
    return out


# ---------------------------------------------------------------------------------------------- PLY
def write_ply(path: str | os.PathLike, points: np.ndarray, colors: np.ndarray | None = None) -> int:
    """Write the valid points (finite x, y, z) as a binary little-endian PLY; returns how many were written.

    points: (..., 3) float (organized or not); colors: (..., 3) uint8 RGB of the same layout. Readers (MeshLab,
    CloudCompare, Open3D) take float x/y/z and uchar red/green/blue, which is what is written.
    """
    pts = np.asarray(points)
    if pts.shape[-1] != 3:
        raise ValueError(f"points must be (..., 3), got {pts.shape}")
    pts = pts.reshape(-1, 3).astype("<f4", copy=False)
    keep = np.isfinite(pts).all(axis=1)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        cols = np.asarray(colors)
        if cols.dtype != np.uint8 or cols.shape[-1] != 3 or cols.reshape(-1, 3).shape[0] != pts.shape[0]:
            raise ValueError(f"colors must be uint8 (..., 3) matching points, got {cols.dtype} {cols.shape}")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    rec = np.empty(int(keep.sum()), dtype=fields)
    for i, axis in enumerate("xyz"):
        rec[axis] = pts[keep, i]
    if colors is not None:
        flat = np.asarray(colors).reshape(-1, 3)[keep]
        rec["red"], rec["green"], rec["blue"] = flat[:, 0], flat[:, 1], flat[:, 2]
    header = [
        "ply",
        "format binary_little_endian 1.0",
        "comment written by side_ros",
        f"element vertex {rec.shape[0]}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(rec.tobytes())
    return int(rec.shape[0])


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read the vertices of a binary little-endian PLY: x/y/z as (N, 3) float32, red/green/blue as (N, 3) uint8
    or None.

    The counterpart of write_ply, for checks and tools. Any scalar property types are read (write_ply writes float
    and uchar); other layouts (ASCII or big-endian files, list properties, another element before the vertices,
    no x/y/z) get a ValueError that says which.
    """
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise ValueError(f"{path}: only binary_little_endian PLY is supported")
    elements = [i for i, line in enumerate(header) if line.startswith("element ")]
    if not elements or header[elements[0]].split()[:2] != ["element", "vertex"]:
        raise ValueError(f"{path}: the first element must be 'vertex'")
    try:
        count = int(header[elements[0]].split()[2])
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{path}: bad line {header[elements[0]]!r}") from exc
    stop = elements[1] if len(elements) > 1 else len(header)
    props = []
    for line in header[elements[0] + 1 : stop]:
        parts = line.split()
        if not parts or parts[0] != "property":
            continue
        if len(parts) != 3 or parts[1] not in _PLY_TYPES:
            raise ValueError(f"{path}: unsupported vertex property {line!r} (scalar {', '.join(_PLY_TYPES)} only)")
        props.append((parts[2], _PLY_TYPES[parts[1]]))
    names = [n for n, _ in props]
    if not {"x", "y", "z"} <= set(names):
        raise ValueError(f"{path}: vertices without x, y, z (properties: {', '.join(names) or 'none'})")
    try:
        rec = np.frombuffer(data, dtype=props, count=count, offset=end + len(b"end_header\n"))
    except ValueError as exc:
        raise ValueError(f"{path}: {count} vertices announced, the file is shorter") from exc
    pts = np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float32)
    has_rgb = {"red", "green", "blue"} <= set(names)
    cols = np.stack([rec["red"], rec["green"], rec["blue"]], axis=1).astype(np.uint8) if has_rgb else None
    return pts, cols


# PLY scalar types (and their sized aliases) as little-endian NumPy types
_PLY_TYPES = {
    "char": "i1",
    "uchar": "u1",
    "short": "<i2",
    "ushort": "<u2",
    "int": "<i4",
    "uint": "<u4",
    "float": "<f4",
    "double": "<f8",
    "int8": "i1",
    "uint8": "u1",
    "int16": "<i2",
    "uint16": "<u2",
    "int32": "<i4",
    "uint32": "<u4",
    "float32": "<f4",
    "float64": "<f8",
}

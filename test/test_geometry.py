"""side_ros.geometry: pinhole back-projection, depth_image_proc's PointCloud2 byte layout, colour maps, PLY."""

import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from side_ros import geometry
from side_ros.geometry import Intrinsics

REPO = Path(__file__).resolve().parent.parent


def test_geometry_imports_without_ros():
    code = (
        "import sys, side_ros.geometry; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs', 'cv2')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})


def test_intrinsics_from_projection_binning_and_roi():
    p = [500.0, 0, 320.0, 0, 0, 400.0, 240.0, 0, 0, 0, 1, 0]
    assert Intrinsics.from_projection(p) == Intrinsics(500.0, 400.0, 320.0, 240.0)
    # image_geometry: binning divides focal lengths and centre, ROI shifts the centre first
    assert Intrinsics.from_projection(p, binning=(2, 4), roi_offset=(20, 40)) == Intrinsics(250.0, 100.0, 150.0, 50.0)


@pytest.mark.parametrize(
    "p, match",
    [
        ([float("nan")] + [0.0] * 11, "finite"),
        ([0.0] * 12, "not calibrated"),
        ([500.0, 0, 320.0, 0, 0, -1.0, 240.0, 0, 0, 0, 1, 0], "positive"),
        ([1.0] * 9, "12 elements"),
    ],
)
def test_intrinsics_refuse_unusable_p(p, match):
    with pytest.raises(ValueError, match=match):
        Intrinsics.from_projection(p)


def test_points_follow_pinhole_model_for_known_depth():
    h, w = 48, 64
    intr = Intrinsics(fx=50.0, fy=40.0, cx=30.0, cy=20.0)
    v, u = np.mgrid[0:h, 0:w]
    depth = (1.0 + 0.05 * u + 0.02 * v).astype(np.float32)  # a slanted plane
    pts = geometry.depth_to_points(depth, intr)
    assert pts.shape == (h, w, 3) and pts.dtype == np.float32
    # hand-checked pixel: u=40, v=10 -> Z = 1 + 2 + 0.2 = 3.2, X = (40-30)*3.2/50, Y = (10-20)*3.2/40
    np.testing.assert_allclose(pts[10, 40], [0.64, -0.8, 3.2], rtol=1e-6)
    np.testing.assert_allclose(pts[..., 0], (u - 30.0) * depth / 50.0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pts[..., 1], (v - 20.0) * depth / 40.0, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pts[..., 2], depth)
    # projecting back lands on the pixel it came from
    np.testing.assert_allclose(pts[..., 0] / pts[..., 2] * 50.0 + 30.0, u, atol=1e-4)


def test_invalid_depths_become_nan_points_and_range_limits_apply():
    depth = np.array([[1.0, np.nan, 0.0, -np.inf], [np.inf, 2.0, 5.0, -1.0]], np.float32)
    intr = Intrinsics(10.0, 10.0, 1.5, 0.5)
    pts = geometry.depth_to_points(depth, intr)
    valid = np.isfinite(pts).all(axis=2)
    np.testing.assert_array_equal(valid, [[True, False, False, False], [False, True, True, False]])
    assert np.isnan(pts[~valid]).all()  # all three coordinates NaN, as depth_image_proc writes them
    limited = geometry.depth_to_points(depth, intr, min_depth=1.5, max_depth=4.0)
    np.testing.assert_array_equal(np.isfinite(limited[..., 2]), [[False] * 4, [False, True, False, False]])


def test_low_confidence_points_become_nan_and_the_cloud_stays_organized():
    depth = np.full((2, 4), 3.0, np.float32)
    depth[1, 3] = np.nan
    confidence = np.array([[0.9, 0.2, 0.5, 0.49], [1.0, 0.0, 0.7, 0.9]], np.float32)
    intr = Intrinsics(10.0, 10.0, 1.5, 0.5)
    pts = geometry.depth_to_points(depth, intr, confidence=confidence, min_confidence=0.5)
    assert pts.shape == (2, 4, 3)
    np.testing.assert_array_equal(np.isfinite(pts[..., 2]), [[True, False, True, False], [True, False, True, False]])
    np.testing.assert_array_equal(
        geometry.depth_to_points(depth, intr, confidence=confidence), geometry.depth_to_points(depth, intr)
    )  # 0: every point kept
    strided = geometry.depth_to_points(depth, intr, stride=2, confidence=confidence, min_confidence=0.5)
    np.testing.assert_array_equal(strided, pts[::2, ::2])
    with pytest.raises(ValueError, match="confidence"):
        geometry.depth_to_points(depth, intr, confidence=confidence[:, :3], min_confidence=0.5)


def test_stride_keeps_every_nth_pixel_with_its_own_coordinates():
    depth = np.random.default_rng(0).uniform(1, 5, (7, 9)).astype(np.float32)
    intr = Intrinsics(20.0, 20.0, 4.0, 3.0)
    full = geometry.depth_to_points(depth, intr)
    strided = geometry.depth_to_points(depth, intr, stride=3)
    assert strided.shape == (3, 3, 3)
    np.testing.assert_array_equal(strided, full[::3, ::3])
    with pytest.raises(ValueError, match="stride"):
        geometry.depth_to_points(depth, intr, stride=0)


def test_xyz_cloud_layout_matches_depth_image_proc():
    pts = np.array([[[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]]], np.float32)
    cloud = geometry.pack_points(pts)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 2, 16, 32)
    assert cloud.fields == (("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1))
    assert not cloud.is_dense and not cloud.is_bigendian
    raw = cloud.data.tobytes()
    assert len(raw) == 32
    assert struct.unpack_from("<3f", raw, 0) == (1.0, 2.0, 3.0)
    assert all(math.isnan(v) for v in struct.unpack_from("<3f", raw, 16))
    assert raw[12:16] == b"\0\0\0\0"  # padding is zero


def test_xyzrgb_cloud_layout_and_colour_bytes():
    pts = np.array([[[0.5, -0.5, 2.0]]], np.float32)
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    cloud = geometry.pack_points(pts, rgb)
    assert (cloud.point_step, cloud.row_step) == (32, 32)
    assert cloud.fields[-1] == ("rgb", 16, geometry.FLOAT32, 1)
    raw = cloud.data.tobytes()
    assert struct.unpack_from("<3f", raw, 0) == (0.5, -0.5, 2.0)
    assert raw[16:20] == bytes([30, 20, 10, 0])  # b, g, r, 0 little-endian
    assert raw[20:32] == bytes(12)


def test_reading_through_fields_round_trips():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 10, (6, 5)).astype(np.float32)
    depth[2, 3] = np.nan
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    intr = Intrinsics(30.0, 30.0, 2.0, 3.0)
    cloud = geometry.depth_to_cloud(depth, intr, rgb)
    arr = cloud.data.view(geometry.cloud_dtype(cloud.fields, cloud.point_step)).reshape(cloud.height, cloud.width)
    pts = geometry.depth_to_points(depth, intr)
    np.testing.assert_array_equal(arr["x"], pts[..., 0])
    np.testing.assert_array_equal(arr["z"], pts[..., 2])
    np.testing.assert_array_equal(geometry.unpack_rgb(arr["rgb"]), rgb)
    with pytest.raises(ValueError, match="differ in size"):
        geometry.depth_to_cloud(depth, intr, rgb[:5])


def test_colorize_depth_turbo_near_blue_far_red_invalid_black():
    depth = np.array([[1.0, 2.0, 11.0, np.nan]], np.float32)
    bgr = geometry.colorize_depth(depth)
    assert bgr.shape == (1, 4, 3) and bgr.dtype == np.uint8
    b, _, r = bgr[0, 1].astype(int)
    assert b > r + 100  # near (10 % of the span): blue part of turbo
    b, _, r = bgr[0, 2].astype(int)
    assert r > b + 100  # far: red end
    np.testing.assert_array_equal(bgr[0, 3], [0, 0, 0])
    np.testing.assert_array_equal(geometry.colorize_depth(depth, order="rgb"), bgr[..., ::-1])
    # fixed limits: values beyond them saturate, the same colour every frame
    fixed = geometry.colorize_depth(np.array([[0.5, 1.0, 50.0, 100.0]], np.float32), 1.0, 50.0)
    np.testing.assert_array_equal(fixed[0, 0], fixed[0, 1])
    np.testing.assert_array_equal(fixed[0, 2], fixed[0, 3])
    assert not np.array_equal(fixed[0, 1], fixed[0, 2])
    assert geometry.colorize_depth(np.full((2, 2), np.nan, np.float32)).max() == 0


def test_ply_round_trip_skips_invalid_points(tmp_path):
    depth = np.array([[1.0, np.nan], [2.0, 4.0]], np.float32)
    pts = geometry.depth_to_points(depth, Intrinsics(2.0, 2.0, 0.5, 0.5))
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [9, 8, 7]]], np.uint8)
    n = geometry.write_ply(tmp_path / "c.ply", pts, rgb)
    assert n == 3
    head = (tmp_path / "c.ply").read_bytes()[:200]
    assert head.startswith(b"ply\nformat binary_little_endian 1.0\n") and b"element vertex 3\n" in head
    back, cols = geometry.read_ply(tmp_path / "c.ply")
    np.testing.assert_array_equal(back, pts.reshape(-1, 3)[[0, 2, 3]])
    np.testing.assert_array_equal(cols, rgb.reshape(-1, 3)[[0, 2, 3]])
    geometry.write_ply(tmp_path / "xyz.ply", pts)
    back, cols = geometry.read_ply(tmp_path / "xyz.ply")
    assert cols is None and back.shape == (3, 3)


def _ply(path, header_lines, payload=b""):
    header = "\n".join(["ply", "format binary_little_endian 1.0", *header_lines, "end_header"]) + "\n"
    path.write_bytes(header.encode() + payload)
    return path


def test_ply_of_other_layouts_is_read_or_refused_with_the_reason(tmp_path):
    """Double-precision vertices (Open3D's default) are read; layouts that cannot be read get a ValueError that
    names what is wrong, never a bare KeyError."""
    xyz = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    rec = np.empty(2, dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("intensity", "<u2")])
    rec["x"], rec["y"], rec["z"], rec["intensity"] = xyz[:, 0], xyz[:, 1], xyz[:, 2], 7
    doubles = _ply(
        tmp_path / "d.ply",
        [
            "element vertex 2",
            "property double x",
            "property double y",
            "property double z",
            "property ushort intensity",
            "element face 0",
            "property list uchar int vertex_indices",
        ],
        rec.tobytes(),
    )
    pts, cols = geometry.read_ply(doubles)
    assert pts.dtype == np.float32 and cols is None
    np.testing.assert_array_equal(pts, xyz.astype(np.float32))
    cases = {
        "list": (["element vertex 1", "property list uchar int idx"], "unsupported vertex property"),
        "noxyz": (["element vertex 1", "property float u"], "without x, y, z"),
        "face_first": (
            ["element face 1", "property uchar n", "element vertex 1", "property float x"],
            "first element must be 'vertex'",
        ),
        "short": (
            ["element vertex 5", "property float x", "property float y", "property float z"],
            "5 vertices announced",
        ),
    }
    for name, (lines, reason) in cases.items():
        with pytest.raises(ValueError, match=reason):
            geometry.read_ply(_ply(tmp_path / f"{name}.ply", lines, b"\0" * 12))


def test_bad_arrays_get_clear_errors():
    intr = Intrinsics(1.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="empty"):
        geometry.depth_to_points(np.zeros((0, 4), np.float32), intr)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        geometry.depth_to_points(np.zeros((2, 2, 2), np.float32), intr)
    with pytest.raises(ValueError, match="uint8"):
        geometry.pack_rgb(np.zeros((2, 3), np.float32))

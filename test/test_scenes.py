"""Procedural scenes: exact depth for known geometry, determinism, labels, ranges, sparse LiDAR, arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from side_ros.scenes import (
    KITTI_CAMERA,
    NYU_CAMERA,
    Camera,
    Material,
    PointLight,
    ProceduralDataset,
    Scene,
    Tex,
    camera_from_angles,
    default_intrinsics,
    lidar_mask,
    render,
    render_scene,
)


def _K(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _rays(cam: Camera) -> np.ndarray:
    """World-frame ray directions (H, W, 3) in float64, scaled so their camera-frame z is 1."""
    K = cam.K
    u, v = np.meshgrid(np.arange(cam.width, dtype=np.float64), np.arange(cam.height, dtype=np.float64))
    rc = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    return rc @ cam.rotation.T


def _plane_depth(cam: Camera, point: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Analytic Z of a plane per pixel (0 where the plane is behind the camera)."""
    den = _rays(cam) @ normal
    with np.errstate(divide="ignore"):
        t = float((point - cam.position) @ normal) / den
    return np.where(t > 0, t, 0.0)


def _flat(color: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> Material:
    return Material(Tex.FLAT, color, roughness=0.0)


def test_fronto_parallel_plane_has_exact_depth_in_every_pixel():
    rng = np.random.default_rng(3)
    for d in (0.7, 3.25, 41.0):
        cam = camera_from_angles(
            40,
            30,
            _K(35.0, 37.0, 19.3, 14.6),
            rng.uniform(-5, 5, 3),
            heading=rng.uniform(0, 2 * math.pi),
            pitch=rng.uniform(-0.5, 0.5),
            roll=rng.uniform(-0.3, 0.3),
        )
        fwd = cam.rotation[:, 2]
        scene = Scene()
        scene.add_plane(cam.position + d * fwd, -fwd, Material(Tex.CHECKER, scale=0.2))
        depth = render(scene, cam).depth.numpy()
        np.testing.assert_allclose(depth, d, rtol=1e-6)


def test_floor_and_tilted_plane_depth_match_the_analytic_z_per_pixel():
    cam = camera_from_angles(48, 32, _K(40.0, 40.0, 23.5, 15.5), (0.3, -1.0, 1.6), heading=1.4, pitch=-0.35, roll=0.05)
    floor = Scene()
    floor.add_plane((0, 0, 0), (0, 0, 1), _flat())
    expected = _plane_depth(cam, np.zeros(3), np.array([0.0, 0.0, 1.0]))
    got = render(floor, cam).depth.numpy()
    assert (expected == 0).any() and (expected > 0).any(), "the view must contain the horizon"
    np.testing.assert_array_equal(got == 0, expected == 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)

    n = np.array([0.3, -0.8, 0.2])
    n /= np.linalg.norm(n)
    q = np.array([0.5, 4.0, 1.0])
    tilted = Scene()
    tilted.add_plane(q, n, _flat())
    expected = _plane_depth(cam, q, n)
    np.testing.assert_allclose(render(tilted, cam).depth.numpy(), expected, rtol=1e-5)


def test_box_face_at_known_distance():
    d, hx, hz = 2.5, 0.6, 0.4
    cam = camera_from_angles(64, 48, _K(50.0, 50.0, 31.5, 23.5), (0.0, 0.0, 1.0), heading=math.pi / 2)
    scene = Scene(max_depth=50.0)
    scene.add_box((0.0, d + 0.3, 1.0), (hx, 0.3, hz), _flat((0.8, 0.2, 0.2)))
    scene.add_plane((0, 20.0, 0), (0, -1, 0), _flat())  # background wall
    depth = render(scene, cam).depth.numpy()
    u, v = np.meshgrid(np.arange(64.0), np.arange(48.0))
    X, Y = (u - 31.5) / 50.0 * d, (v - 23.5) / 50.0 * d  # where each pixel's ray meets the face plane
    inside = (np.abs(X) < hx - 1e-3) & (np.abs(Y) < hz - 1e-3)
    outside = (np.abs(X) > hx + 1e-3) | (np.abs(Y) > hz + 1e-3)
    assert inside.sum() > 100 and outside.sum() > 100
    np.testing.assert_allclose(depth[inside], d, rtol=1e-6)
    np.testing.assert_allclose(depth[outside], 20.0, rtol=1e-6)


def test_rotated_box_sphere_and_cylinder_depth_match_analytic_intersections():
    cam = camera_from_angles(40, 30, _K(30.0, 30.0, 19.5, 14.5), (0.1, 0.0, 1.2), heading=math.pi / 2 + 0.1, pitch=-0.1)
    rays = _rays(cam)
    o = cam.position

    def analytic(kind: str) -> np.ndarray:
        if kind == "sphere":
            c, r = np.array([0.3, 4.0, 1.0]), 0.9
            oc = o - c
            a, b, cc = (rays * rays).sum(-1), rays @ oc, oc @ oc - r * r
            disc = b * b - a * cc
            t = (-b - np.sqrt(np.maximum(disc, 0))) / a
            return np.where(disc >= 0, t, 0.0)
        if kind == "cylinder":  # vertical, radius 0.5, from z=0 to z=3 at (-0.4, 5): side or top cap
            c, r, z0, z1 = np.array([-0.4, 5.0]), 0.5, 0.0, 3.0
            oc = o[:2] - c
            dxy = rays[..., :2]
            a, b, cc = (dxy * dxy).sum(-1), dxy @ oc, oc @ oc - r * r
            disc = b * b - a * cc
            t = (-b - np.sqrt(np.maximum(disc, 0))) / a
            z = o[2] + t * rays[..., 2]
            return np.where((disc >= 0) & (z >= z0) & (z <= z1), t, 0.0)
        # box yawed by 0.5 rad: slab test in its frame
        ctr, h, yaw = np.array([0.0, 3.0, 0.8]), np.array([0.5, 0.3, 0.6]), 0.5
        R = np.array([[math.cos(yaw), math.sin(yaw), 0], [-math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
        lo, ld = R @ (o - ctr), rays @ R.T
        with np.errstate(divide="ignore"):
            t1, t2 = (-h - lo) / ld, (h - lo) / ld
        tmin, tmax = np.minimum(t1, t2).max(-1), np.maximum(t1, t2).min(-1)
        return np.where((tmax >= tmin) & (tmin > 0), tmin, 0.0)

    for kind in ("sphere", "cylinder", "box"):
        scene = Scene()
        if kind == "sphere":
            scene.add_ellipsoid((0.3, 4.0, 1.0), (0.9, 0.9, 0.9), _flat())
        elif kind == "cylinder":
            scene.add_cylinder((-0.4, 5.0, 0.0), 0.5, 3.0, _flat())
        else:
            scene.add_box((0.0, 3.0, 0.8), (0.5, 0.3, 0.6), _flat(), yaw=0.5)
        expected = analytic(kind)
        got = render(scene, cam).depth.numpy()
        assert (expected > 0).sum() > 20, kind
        edge = np.abs(np.diff(expected > 0, axis=0, prepend=False)) | np.abs(
            np.diff(expected > 0, axis=1, prepend=False)
        )
        ok = ~edge  # silhouette pixels may flip with float32 rounding
        np.testing.assert_allclose(got[ok], expected[ok], rtol=2e-5, err_msg=kind)


def test_texture_is_fixed_to_the_surface_so_it_scales_with_distance():
    """A plane twice as far seen with twice the focal length gives the same image (surface coordinates)."""
    images = []
    for d, f in ((2.0, 30.0), (4.0, 60.0)):
        cam = camera_from_angles(48, 36, _K(f, f, 23.5, 17.5), (0, 0, 1), heading=math.pi / 2)
        scene = Scene(ambient=(1.0, 1.0, 1.0))
        scene.add_plane(
            (0, d, 0), (0, -1, 0), Material(Tex.CHECKER, (0.9, 0.9, 0.9), (0.1, 0.1, 0.1), 0.25, roughness=0.0)
        )
        images.append(render(scene, cam).rgb.numpy().astype(int))
    assert images[0].std() > 25, "the checkerboard must be visible"
    assert np.abs(images[0] - images[1]).max() <= 2


def test_point_light_casts_a_shadow():
    cam = camera_from_angles(64, 48, _K(40.0, 40.0, 31.5, 23.5), (0, -3, 4), heading=math.pi / 2, pitch=-0.9)
    scene = Scene(ambient=(0.05, 0.05, 0.05))
    scene.add_plane((0, 0, 0), (0, 0, 1), _flat((0.6, 0.6, 0.6)))
    scene.add_box((-0.6, 0.0, 1.0), (0.3, 0.3, 0.05), _flat())  # floating slab left of the light
    scene.lights.append(PointLight((0.0, 0.0, 2.5), (5.0, 5.0, 5.0)))
    out = render(scene, cam)
    # floor points mirrored about the light: (-1.2, 0) is behind the slab as seen from the light, (1.2, 0) is not
    lum = out.rgb.numpy().astype(float).mean(-1)
    R, K = cam.rotation, cam.K

    def pixel(p: tuple[float, float, float]) -> tuple[int, int]:
        pc = R.T @ (np.array(p) - cam.position)
        return int(round(K[1, 1] * pc[1] / pc[2] + K[1, 2])), int(round(K[0, 0] * pc[0] / pc[2] + K[0, 2]))

    shaded, lit = lum[pixel((-1.2, 0.0, 0.0))], lum[pixel((1.2, 0.0, 0.0))]
    assert lit > 2 * shaded, (lit, shaded)


@pytest.mark.parametrize("kind", ["indoor", "outdoor"])
def test_same_seed_is_bit_identical_and_seeds_differ(kind: str):
    a = render_scene(7, kind, 96, 48)
    b = render_scene(7, kind, 96, 48)
    c = render_scene(8, kind, 96, 48)
    assert a.rgb.dtype == np.uint8 and a.rgb.shape == (48, 96, 3)
    assert a.depth.dtype == np.float32 and a.depth.shape == (48, 96)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
    assert np.array_equal(a.intrinsics, b.intrinsics)
    assert not np.array_equal(a.rgb, c.rgb) and not np.array_equal(a.depth, c.depth)
    assert a.seed == 7 and a.kind == kind


def test_range_labels_and_intrinsics_scaled_to_the_size():
    for kind, label, ref in (("indoor", "low", NYU_CAMERA), ("outdoor", "high", KITTI_CAMERA)):
        for w, h in ((64, 48), (160, 50)):
            s = render_scene(5, kind, w, h)
            assert s.range_label == label and s.kind == kind
            K = s.intrinsics
            assert K.shape == (3, 3) and K.dtype == np.float64
            np.testing.assert_array_equal(K[2], [0, 0, 1])
            assert K[0, 1] == K[1, 0] == 0
            fx0, fy0, cx0, cy0, w0, h0 = ref
            assert 0.89 <= K[0, 0] / (fx0 * w / w0) <= 1.11
            assert 0.89 <= K[1, 1] / (fy0 * h / h0) <= 1.11
            assert K[0, 0] / K[1, 1] == pytest.approx((fx0 * w / w0) / (fy0 * h / h0))
            assert abs(K[0, 2] - ((cx0 + 0.5) * w / w0 - 0.5)) <= 0.021 * w
            assert abs(K[1, 2] - ((cy0 + 0.5) * h / h0 - 0.5)) <= 0.021 * h
    # without jitter the scaling is exact
    K = default_intrinsics("outdoor", 621, 375)
    assert K[0, 0] == pytest.approx(KITTI_CAMERA[0] / 2) and K[1, 1] == pytest.approx(KITTI_CAMERA[1])


def test_indoor_depth_is_mostly_under_10_m():
    depths = np.stack([render_scene(s, "indoor", 64, 48).depth for s in range(10)])
    valid = depths > 0
    assert depths.max() <= 10.0
    assert valid.mean() > 0.95, "rooms are closed: few pixels beyond the 10 m cap"
    assert np.median(depths[valid]) < 6.0
    assert depths[valid].min() > 0.05


def test_outdoor_depth_reaches_far_and_sky_is_invalid():
    for s in range(4):
        d = render_scene(s, "outdoor", 128, 40).depth
        assert d.max() <= 80.0
        assert (d > 20.0).mean() > 0.02, "a street seen along its length has far depth"
        assert (d[:4] == 0).any(), "the top rows show sky (invalid)"
        assert (d[-4:] > 0).all(), "the bottom rows show the road"
        assert np.median(d[-4:]) < 10.0


@pytest.mark.parametrize("kind", ["indoor", "outdoor"])
def test_sparse_lidar_keeps_a_few_percent_of_the_dense_depth(kind: str):
    dense = render_scene(2, kind, 208, 64)
    sparse = render_scene(2, kind, 208, 64, sparse_lidar=True)
    kept = sparse.depth > 0
    assert 0.01 <= kept.mean() <= 0.15, kept.mean()
    assert np.all(dense.depth[kept] > 0)
    np.testing.assert_array_equal(sparse.depth[kept], dense.depth[kept])
    assert np.array_equal(sparse.rgb, dense.rgb)
    # LiDAR returns are organized in scan lines: many rows hold no sample at all
    assert (kept.sum(1) == 0).mean() > 0.2


def test_lidar_mask_of_a_floor_follows_the_beams():
    cam = camera_from_angles(400, 120, _K(240.0, 240.0, 199.5, 59.5), (0, 0, 1.65), heading=math.pi / 2)
    floor = Scene()
    floor.add_plane((0, 0, 0), (0, 0, 1), _flat())
    depth = render(floor, cam).depth
    mask = lidar_mask(depth, cam).numpy()
    assert not mask[:60].any(), "nothing above the horizon (no floor there)"
    rows = np.nonzero(mask.any(1))[0]
    assert len(rows) >= 10
    # a level LiDAR sees the floor along rings: each beam is one image row band near the centre column
    assert mask.mean() < 0.15


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="kind"):
        render_scene(0, "forest", 32, 24)
    with pytest.raises(ValueError, match="width"):
        render_scene(0, "indoor", 0, 24)
    with pytest.raises(ValueError, match="height"):
        render_scene(0, "outdoor", 32, -5)
    with pytest.raises(ValueError, match="seed"):
        render_scene(-1, "indoor", 32, 24)
    with pytest.raises(ValueError, match="device"):
        render_scene(0, "indoor", 32, 24, device="warp-drive")
    with pytest.raises(ValueError, match="kind"):
        ProceduralDataset(range(2), kinds=("indoor", "forest"))
    with pytest.raises(ValueError, match="size"):
        ProceduralDataset(range(2), size=(32,))
    with pytest.raises(ValueError, match="empty"):
        render(Scene(), camera_from_angles(8, 8, _K(8, 8, 3.5, 3.5), (0, 0, 0), 0.0))


def test_dataset_yields_the_shared_sample_convention():
    ds = ProceduralDataset(range(10, 13), size=(64, 32), sparse_lidar=False)
    assert len(ds) == 3
    kinds = [ds.kind_of(i) for i in range(3)]
    assert kinds == ["indoor", "outdoor", "indoor"]
    for i in range(3):
        item = ds[i]
        assert set(item) == {"rgb", "depth", "intrinsics", "range", "name"}
        assert item["rgb"].shape == (3, 32, 64) and item["rgb"].dtype == torch.float32
        assert 0.0 <= float(item["rgb"].min()) and float(item["rgb"].max()) <= 1.0
        assert item["depth"].shape == (1, 32, 64) and item["depth"].dtype == torch.float32
        assert item["intrinsics"].shape == (3, 3) and item["intrinsics"].dtype == torch.float32
        assert item["range"] == (0 if kinds[i] == "indoor" else 1)
        assert str(10 + i) in item["name"] and kinds[i] in item["name"]
    direct = render_scene(11, "outdoor", 64, 32)
    assert np.array_equal(ds[1]["depth"][0].numpy(), direct.depth)
    with pytest.raises(IndexError):
        ds[3]


def test_dataset_default_sizes_per_kind():
    ds = ProceduralDataset([0], kinds=("indoor",))
    assert ds[0]["rgb"].shape == (3, 240, 320)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_render_matches_cpu_depth():
    cpu = render_scene(4, "outdoor", 208, 64)
    gpu = render_scene(4, "outdoor", 208, 64, device="cuda")
    close = np.isclose(cpu.depth, gpu.depth, rtol=1e-5, atol=0)
    assert close.mean() > 0.999

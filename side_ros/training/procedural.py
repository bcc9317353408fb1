"""Procedural indoor rooms and outdoor streets with exact metric depth, ray cast in torch.

Why: the package must train and test its networks without downloading a dataset, and tests need depth that is
known exactly.  Scenes are made of analytic primitives (planes, yaw-rotated boxes, vertical cylinders,
axis-aligned ellipsoids); every pixel's nearest hit is found in closed form, so depth is exact up to float32
rounding.  Layout, textures, colours, lights, camera pose and intrinsics are drawn from one seed, so a network
has to learn geometry rather than memorize a few images, and the same seed always gives the same image.

Conventions
- World frame: z up, x right and y forward for a camera with zero heading (right-handed).
- Camera frame (REP 103 optical): x right, y down, z forward.  A pixel (u, v) (integer = pixel centre, the
  OpenCV convention of K) looks along K^-1 (u, v, 1); scaled so its camera-frame z component is 1, the ray
  parameter t *is* the depth Z along the optical axis (not the ray length), which is what is stored.
- Depth 0 means invalid: sky, anything beyond the kind's maximum range, and (in sparse mode) pixels that the
  simulated LiDAR does not sample.

Rendering is vectorized: primitives of one type are intersected together with every pixel inside their
projected bounding rectangles (one flat tensor of (pixel, primitive) pairs, reduced with a scatter-min), so
the work follows the covered area and there is no Python loop over pixels or primitives.  Textures are
computed from each hit's surface coordinates in metres (so they scale correctly with distance) and are
box-filtered by the pixel footprint, so distant stripes fade to their mean instead of aliasing.  Shadows use
shadow maps rendered with the same tracer.  On the CPU one torch thread renders a 320x240 room or a 416x128
street in roughly 40-60 ms.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "KINDS",
    "Camera",
    "DirectionalLight",
    "Material",
    "PointLight",
    "PostFX",
    "ProceduralDataset",
    "ProceduralSample",
    "RenderOutput",
    "Scene",
    "Sky",
    "Tex",
    "build_indoor_scene",
    "build_outdoor_scene",
    "camera_from_angles",
    "default_intrinsics",
    "focal_scale_of",
    "lidar_mask",
    "render",
    "render_scene",
]

KINDS = ("indoor", "outdoor")
RANGE_LABELS = {"indoor": "low", "outdoor": "high"}
RANGE_INDEX = {"low": 0, "high": 1}
# Default sizes: the low-range network's 320x240 input, the high-range network's zero-padded KITTI input.
DEFAULT_SIZES = {"indoor": (320, 240), "outdoor": (1248, 384)}
# Indoor: a Kinect-like range cap as in NYU; outdoor: the KITTI benchmark's 80 m cap.
MAX_DEPTH = {"indoor": 10.0, "outdoor": 80.0}
# (fx, fy, cx, cy, width, height) of the reference cameras.
NYU_CAMERA = (518.8579, 519.4696, 325.5824, 253.7362, 640, 480)
KITTI_CAMERA = (721.5377, 721.5377, 609.5593, 172.854, 1242, 375)
FOCAL_JITTER = 0.10
CENTER_JITTER = 0.02
# HDL-64E-like LiDAR as mounted on the KITTI car: 64 beams from +2 to -24.8 deg, ~0.17 deg azimuth steps at
# 10 Hz, 0.08 m above and 0.27 m behind the camera.  The sampling test uses the angular size of a full-
# resolution KITTI pixel, so a frame rendered at a lower resolution keeps what nearest-neighbour downsampling
# of full-resolution ground truth would keep (about 5% of pixels at any size).
LIDAR_ELEVATION_RANGE_DEG = (2.0, -24.8)
LIDAR_BEAMS = 64
LIDAR_AZIMUTH_STEP_DEG = 0.1728
LIDAR_OFFSET = (0.0, -0.27, 0.08)  # (right, forward, up) from the camera in the level vehicle frame, metres
LIDAR_MAX_RANGE = 120.0
_REFERENCE_PIXEL_RAD = 1.0 / KITTI_CAMERA[0]

_EPS = 1e-4
_INF = float("inf")

PLANE, BOX, CYLINDER, ELLIPSOID = 0, 1, 2, 3


class Tex(IntEnum):
    """Procedural texture families; the meaning of a Material's `scale` and `params` depends on it."""

    FLAT = 0  # colour, with the material's broad brightness variation only
    NOISE = 1  # fractal value noise between color and color2; params[0] = contrast
    STRIPES = 2  # scale = period (m); params = (angle rad, duty)
    CHECKER = 3  # scale = square size (m)
    TILES = 4  # scale = tile width, params = (tile height, grout width, row offset fraction, per-tile variation)
    WOOD = 5  # planks: scale = plank width, params = (plank length, grain rings per m)
    ROAD = 6  # asphalt + lane markings: params = (half width, lanes, dash length, crosswalk position or -1)
    FACADE = 7  # windows: scale = column spacing, params = (storey height, window width frac, height frac, bricks)
    FOLIAGE = 8  # leafy high-contrast noise; scale = leaf cluster size
    BOOKS = 9  # book spines on a shelf: scale = mean spine width; params[0] = shelf height


@dataclass(frozen=True)
class Material:
    """Surface appearance; colours are linear RGB albedo in [0, 1]."""

    tex: int = Tex.FLAT
    color: tuple[float, float, float] = (0.5, 0.5, 0.5)
    color2: tuple[float, float, float] = (0.2, 0.2, 0.2)
    scale: float = 1.0
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    seed: int = 0
    roughness: float = 0.08  # amplitude of the broad brightness variation ("dirt")
    specular: float = 0.0
    emission: float = 0.0

    def row(self) -> list[float]:
        p = tuple(self.params) + (0.0,) * (4 - len(self.params))
        return [float(self.tex), *self.color, *self.color2, self.scale, *p[:4], float(self.seed % 65536),
                self.roughness, self.specular, self.emission]


@dataclass(frozen=True)
class PointLight:
    """A point light; `color` is RGB intensity, falling off as 1 / (1 + d^2)."""

    position: tuple[float, float, float]
    color: tuple[float, float, float]
    shadow: bool = True


@dataclass(frozen=True)
class DirectionalLight:
    """The sun: `direction` points from the scene towards the light."""

    direction: tuple[float, float, float]
    color: tuple[float, float, float]
    shadow: bool = True


@dataclass(frozen=True)
class Sky:
    """Sky radiance for rays that hit nothing (outdoor); also the haze colour."""

    zenith: tuple[float, float, float] = (0.25, 0.45, 0.9)
    horizon: tuple[float, float, float] = (0.8, 0.85, 0.95)
    cloud: tuple[float, float, float] = (1.0, 1.0, 1.0)
    cloudiness: float = 0.3
    seed: int = 0


@dataclass(frozen=True)
class PostFX:
    """Camera effects applied after shading; the defaults are neutral (plain tone mapping, no noise)."""

    exposure_key: float = 0.2  # target geometric-mean brightness before tone mapping
    noise_sigma: float = 0.0
    blur: float = 0.0  # 0..1 mix with a 3x3 binomial blur (softens the ray caster's jagged edges)
    vignette: float = 0.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    seed: int = 0


@dataclass
class _Prim:
    kind: int
    geom: list[float]  # 16 floats, layout per kind (see Scene.add_*)
    corners: np.ndarray | None  # (n, 3) points whose convex hull bounds the primitive; None = unbounded
    material: int


@dataclass
class Scene:
    """Primitives, materials and lights in the z-up world frame; build with the add_* methods."""

    prims: list[_Prim] = field(default_factory=list)
    materials: list[Material] = field(default_factory=list)
    lights: list[PointLight | DirectionalLight] = field(default_factory=list)
    ambient: tuple[float, float, float] = (0.3, 0.3, 0.3)
    sky: Sky | None = None
    haze_distance: float = _INF
    max_depth: float = _INF
    post: PostFX = field(default_factory=PostFX)
    shadow_region: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None  # sun map bounds

    def _material(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def add_plane(self, point: Sequence[float], normal: Sequence[float], material: Material,
                  axis_u: Sequence[float] | None = None,
                  half_extent: tuple[float, float] = (_INF, _INF)) -> int:
        """A plane (or a rectangle, with finite half extents along axis_u and normal x axis_u)."""
        n = _unit(normal)
        if axis_u is None:
            axis_u = (1.0, 0.0, 0.0) if abs(n[0]) < 0.9 else (0.0, 1.0, 0.0)
        a1 = np.asarray(axis_u, dtype=np.float64)
        a1 = _unit(a1 - n * float(a1 @ n))
        a2 = np.cross(n, a1)
        q = np.asarray(point, dtype=np.float64)
        e1, e2 = float(half_extent[0]), float(half_extent[1])
        corners = None
        if math.isfinite(e1) and math.isfinite(e2):
            corners = np.array([q + s1 * e1 * a1 + s2 * e2 * a2 for s1 in (-1, 1) for s2 in (-1, 1)])
        geom = [*q, *n, *a1, *a2, e1, e2]
        self.prims.append(_Prim(PLANE, _pad(geom), corners, self._material(material)))
        return len(self.prims) - 1

    def add_box(self, center: Sequence[float], half_size: Sequence[float], material: Material,
                yaw: float = 0.0) -> int:
        """A box rotated by `yaw` (rad) about the vertical axis; local x = (cos, sin, 0)."""
        c, s = math.cos(yaw), math.sin(yaw)
        ctr = np.asarray(center, dtype=np.float64)
        h = np.abs(np.asarray(half_size, dtype=np.float64))
        if h.shape != (3,) or not np.all(h > 0):
            raise ValueError(f"a box needs three positive half sizes, got {half_size!r}")
        ax, ay = np.array([c, s, 0.0]), np.array([-s, c, 0.0])
        corners = np.array([ctr + i * h[0] * ax + j * h[1] * ay + k * np.array([0, 0, h[2]])
                            for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])
        self.prims.append(_Prim(BOX, _pad([*ctr, *h, c, s]), corners, self._material(material)))
        return len(self.prims) - 1

    def add_cylinder(self, base: Sequence[float], radius: float, height: float, material: Material) -> int:
        """A closed vertical cylinder standing on `base` (x, y, z)."""
        if not (radius > 0 and height > 0):
            raise ValueError(f"a cylinder needs a positive radius and height, got {radius}, {height}")
        x, y, z0 = (float(v) for v in base)
        z1 = z0 + float(height)
        corners = np.array([[x + i * radius, y + j * radius, z] for i in (-1, 1) for j in (-1, 1)
                            for z in (z0, z1)])
        self.prims.append(_Prim(CYLINDER, _pad([x, y, z0, z1, float(radius)]), corners, self._material(material)))
        return len(self.prims) - 1

    def add_ellipsoid(self, center: Sequence[float], radii: Sequence[float], material: Material) -> int:
        """An axis-aligned ellipsoid (a sphere when the radii are equal)."""
        c = np.asarray(center, dtype=np.float64)
        r = np.abs(np.asarray(radii, dtype=np.float64))
        if r.shape != (3,) or not np.all(r > 0):
            raise ValueError(f"an ellipsoid needs three positive radii, got {radii!r}")
        corners = np.array([c + r * np.array([i, j, k]) for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])
        self.prims.append(_Prim(ELLIPSOID, _pad([*c, *r]), corners, self._material(material)))
        return len(self.prims) - 1


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: K (3x3), rotation whose columns are the camera x, y, z axes in the world, position."""

    width: int
    height: int
    K: np.ndarray
    rotation: np.ndarray
    position: np.ndarray


@dataclass
class RenderOutput:
    """Rendered tensors on the render device: rgb (H, W, 3) uint8, depth (H, W) float32 (0 = invalid)."""

    rgb: torch.Tensor
    depth: torch.Tensor
    prim_index: torch.Tensor  # (H, W) int64, -1 where nothing was hit


@dataclass
class ProceduralSample:
    """One rendered scene, as numpy arrays."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, 0 = invalid (sky / beyond max / not hit by LiDAR)
    intrinsics: np.ndarray  # (3, 3) float64 K matrix
    range_label: str  # "low" (indoor) or "high" (outdoor)
    kind: str  # "indoor" | "outdoor"
    seed: int


# ----------------------------------------------------------------------------------------------------------
# small helpers


def _pad(values: Sequence[float], n: int = 16) -> list[float]:
    out = [float(v) for v in values]
    return out + [0.0] * (n - len(out))


def _unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        raise ValueError("a direction vector must not be zero")
    return a / norm


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer number of pixels, got {value!r}")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc


def default_intrinsics(kind: str, width: int, height: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """K of the kind's reference camera (NYU or KITTI) rescaled to width x height, optionally jittered.

    Scaling x and y separately is what resizing a real image does; the jitter (focal +-10%, principal point
    +-2% of the size) keeps a network from tying depth to one field of view.
    """
    _check_kind(kind)
    _check_size(width, height)
    fx0, fy0, cx0, cy0, w0, h0 = NYU_CAMERA if kind == "indoor" else KITTI_CAMERA
    sx, sy = width / w0, height / h0
    fx, fy = fx0 * sx, fy0 * sy
    cx, cy = (cx0 + 0.5) * sx - 0.5, (cy0 + 0.5) * sy - 0.5
    if rng is not None:
        f = 1.0 + rng.uniform(-FOCAL_JITTER, FOCAL_JITTER)
        fx, fy = fx * f, fy * f
        cx += rng.uniform(-CENTER_JITTER, CENTER_JITTER) * width
        cy += rng.uniform(-CENTER_JITTER, CENTER_JITTER) * height
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def _zoomed(K: np.ndarray, focal_scale: float) -> np.ndarray:
    """K with both focal lengths multiplied (a zoom about the principal point): the same scene seen by a
    narrower (> 1) or wider (< 1) lens, for canonical-focal training and the focal test."""
    if not (math.isfinite(focal_scale) and focal_scale > 0):
        raise ValueError(f"focal_scale must be a positive number, got {focal_scale!r}")
    K = K.copy()
    K[0, 0] *= focal_scale
    K[1, 1] *= focal_scale
    return K


def focal_scale_of(seed: int, focal_range: tuple[float, float]) -> float:
    """The focal multiplier of training scene `seed`: log-uniform in focal_range, fixed per seed (so a cached
    render and a fresh one agree) and independent of the scene's own random stream."""
    lo, hi = float(focal_range[0]), float(focal_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"focal_range must be (low, high) with 0 < low <= high, got {focal_range!r}")
    u = np.random.default_rng((int(seed), 0x51DE)).random()
    return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))


def camera_from_angles(width: int, height: int, K: np.ndarray, position: Sequence[float], heading: float,
                       pitch: float = 0.0, roll: float = 0.0) -> Camera:
    """A camera at `position` looking along `heading` (rad from +x towards +y), pitched up by `pitch`, rolled.

    Heading pi/2 with zero pitch and roll looks along +y with image x = world +x and image y = world -z.
    """
    _check_size(width, height)
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must be a 3x3 camera matrix with positive focal lengths, got {K!r}")
    fwd = np.array([math.cos(heading) * math.cos(pitch), math.sin(heading) * math.cos(pitch), math.sin(pitch)])
    right = _unit(np.cross(fwd, [0.0, 0.0, 1.0])) if abs(fwd[2]) < 0.999 else np.array([1.0, 0.0, 0.0])
    down = np.cross(fwd, right)
    c, s = math.cos(roll), math.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    R = np.stack([right, down, fwd], axis=1)
    return Camera(int(width), int(height), K, R, np.asarray(position, dtype=np.float64))


# ----------------------------------------------------------------------------------------------------------
# ray-primitive intersection.  g is the primitive's 16 geometry values, each a float (one primitive for all
# rays) or a tensor (one primitive per ray); o and d are 3-tuples of floats or tensors that broadcast.
# Each returns t (the ray parameter) where the ray enters the primitive, +inf where it misses.


def _hit_plane(g: Sequence, o: tuple, d: tuple) -> torch.Tensor:
    qx, qy, qz, nx, ny, nz, ax, ay, az, bx, by, bz, e1, e2 = g[:14]
    ox, oy, oz = o
    dx, dy, dz = d
    den = dx * nx + dy * ny + dz * nz
    t = ((qx - ox) * nx + (qy - oy) * ny + (qz - oz) * nz) / den
    ok = t > _EPS
    if isinstance(e1, torch.Tensor) or math.isfinite(e1):
        rx, ry, rz = ox - qx + t * dx, oy - qy + t * dy, oz - qz + t * dz
        ok = ok & ((rx * ax + ry * ay + rz * az).abs() <= e1) & ((rx * bx + ry * by + rz * bz).abs() <= e2)
    return torch.where(ok, t, _INF)


def _slab(lo: Any, d: Any, h: Any) -> tuple[torch.Tensor, torch.Tensor]:
    # A ray parallel to a face and exactly in its plane gives 0/0 = NaN and counts as a miss (a grazing ray);
    # torch.fmin/fmax would avoid that but cost ten times more than minimum/maximum on the CPU.
    inv = 1.0 / d
    t1 = (-h - lo) * inv
    t2 = (h - lo) * inv
    return torch.minimum(t1, t2), torch.maximum(t1, t2)


def _hit_box(g: Sequence, o: tuple, d: tuple) -> torch.Tensor:
    cx, cy, cz, hx, hy, hz, c, s = g[:8]
    px, py, pz = o[0] - cx, o[1] - cy, o[2] - cz
    dx, dy, dz = d
    a0, b0 = _slab(c * px + s * py, c * dx + s * dy, hx)
    a1, b1 = _slab(-s * px + c * py, -s * dx + c * dy, hy)
    a2, b2 = _slab(pz, dz, hz)
    tmin = torch.maximum(torch.maximum(a0, a1), a2)
    tmax = torch.minimum(torch.minimum(b0, b1), b2)
    return torch.where((tmax >= tmin) & (tmin > _EPS), tmin, _INF)


def _hit_cylinder(g: Sequence, o: tuple, d: tuple) -> torch.Tensor:
    cx, cy, z0, z1, r = g[:5]
    px, py, oz = o[0] - cx, o[1] - cy, o[2]
    dx, dy, dz = d
    a = dx * dx + dy * dy
    b = px * dx + py * dy
    c = px * px + py * py - r * r
    disc = b * b - a * c
    t = (-b - torch.as_tensor(disc).clamp(min=0.0).sqrt()) / a
    z = oz + t * dz
    best = torch.where((disc >= 0) & (t > _EPS) & (z >= z0) & (z <= z1), t, _INF)
    r2 = r * r
    for zc in (z0, z1):
        tc = (zc - oz) / dz
        x, y = px + tc * dx, py + tc * dy
        best = torch.where((tc > _EPS) & (x * x + y * y <= r2) & (tc < best), tc, best)
    return best


def _hit_ellipsoid(g: Sequence, o: tuple, d: tuple) -> torch.Tensor:
    cx, cy, cz, rx, ry, rz = g[:6]
    px, py, pz = (o[0] - cx) / rx, (o[1] - cy) / ry, (o[2] - cz) / rz
    dx, dy, dz = d[0] / rx, d[1] / ry, d[2] / rz
    a = dx * dx + dy * dy + dz * dz
    b = px * dx + py * dy + pz * dz
    c = px * px + py * py + pz * pz - 1.0
    disc = b * b - a * c
    t = (-b - torch.as_tensor(disc).clamp(min=0.0).sqrt()) / a
    return torch.where((disc >= 0) & (t > _EPS), t, _INF)


_HIT = {PLANE: _hit_plane, BOX: _hit_box, CYLINDER: _hit_cylinder, ELLIPSOID: _hit_ellipsoid}


# ----------------------------------------------------------------------------------------------------------
# views: a perspective camera (one origin) or an orthographic grid (the sun's shadow map).  Both give flat
# (H*W,) ray tensors and the pixel rectangle that bounds the projection of a set of points.


# the 12 edges of a hull given as 8 corners ordered i * 4 + j * 2 + k over (i, j, k) in {0, 1}^3
_CUBE_EDGES = np.array([(a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit])


def _rects(u: np.ndarray, v: np.ndarray, width: int, height: int) -> np.ndarray:
    """(P, 4) int64 [v0, v1, u0, u1] pixel rectangles (half open) around projected points (P, C), NaN = ignore."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (culled later)
        lo_u, hi_u, lo_v, hi_v = np.nanmin(u, 1), np.nanmax(u, 1), np.nanmin(v, 1), np.nanmax(v, 1)
    u0 = np.clip(np.floor(np.nan_to_num(lo_u, nan=0.0)) - 1, 0, width)
    u1 = np.clip(np.floor(np.nan_to_num(hi_u, nan=-2.0)) + 2, 0, width)
    v0 = np.clip(np.floor(np.nan_to_num(lo_v, nan=0.0)) - 1, 0, height)
    v1 = np.clip(np.floor(np.nan_to_num(hi_v, nan=-2.0)) + 2, 0, height)
    return np.stack([v0, v1, u0, u1], 1).astype(np.int64)


class _PerspectiveView:
    def __init__(self, camera: Camera, device: torch.device):
        K, R = camera.K, camera.rotation
        self.width, self.height = camera.width, camera.height
        self.K, self.R, self.pos = K, R, camera.position
        u = torch.arange(camera.width, device=device, dtype=torch.float64)
        v = torch.arange(camera.height, device=device, dtype=torch.float64)
        xc = ((u - K[0, 2]) / K[0, 0])[None, :]
        yc = ((v - K[1, 2]) / K[1, 1])[:, None]
        self.d = tuple((R[i, 0] * xc + R[i, 1] * yc + R[i, 2]).float().reshape(-1) for i in range(3))
        self.o = tuple(float(x) for x in camera.position)

    def rects(self, corners: np.ndarray) -> np.ndarray:
        """Pixel rectangles bounding box-shaped hulls (P, 8, 3), clipped against the near plane.

        The hull's part in front of the camera is the convex hull of its corners in front and of the points
        where its edges cross the near plane; those project far outside the image, and the clip to the image
        keeps the rectangle tight on the other sides (a kerb running past the camera covers only a corner).
        """
        near = 1e-3
        pc = np.einsum("pcj,jk->pck", corners - self.pos, self.R)
        a, b = pc[:, _CUBE_EDGES[:, 0]], pc[:, _CUBE_EDGES[:, 1]]
        za, zb = a[..., 2], b[..., 2]
        cross = (za - near) * (zb - near) < 0
        frac = np.where(cross, (near - za) / np.where(cross, zb - za, 1.0), 0.0)
        x = np.concatenate([pc, a + frac[..., None] * (b - a)], axis=1)
        ok = np.concatenate([pc[..., 2] > near, cross], axis=1)
        z = np.where(ok, np.maximum(x[..., 2], near), 1.0)
        u = np.clip(self.K[0, 0] * x[..., 0] / z + self.K[0, 2], -1e7, 1e7)
        v = np.clip(self.K[1, 1] * x[..., 1] / z + self.K[1, 2], -1e7, 1e7)
        out = _rects(np.where(ok, u, np.nan), np.where(ok, v, np.nan), self.width, self.height)
        out[~ok.any(1)] = 0  # wholly behind the camera
        return out

    def origin(self, pix: torch.Tensor | None) -> tuple:
        return self.o

    def direction(self, pix: torch.Tensor | None) -> tuple:
        return self.d if pix is None else tuple(c.index_select(0, pix) for c in self.d)


class _OrthoView:
    """Parallel rays along `forward` from a plane spanned by right/down: the sun's shadow map."""

    def __init__(self, forward: np.ndarray, region_lo: np.ndarray, region_hi: np.ndarray, texels: int,
                 device: torch.device):
        f = _unit(forward)
        up = np.array([0.0, 0.0, 1.0]) if abs(f[2]) < 0.95 else np.array([1.0, 0.0, 0.0])
        right = _unit(np.cross(f, up))
        down = np.cross(f, right)
        corners = np.array([[x, y, z] for x in (region_lo[0], region_hi[0]) for y in (region_lo[1], region_hi[1])
                            for z in (region_lo[2], region_hi[2])])
        a, b, c = corners @ right, corners @ down, corners @ f
        span = max(a.max() - a.min(), 1e-3), max(b.max() - b.min(), 1e-3)
        texel = math.sqrt(span[0] * span[1] / texels)
        self.width = max(2, min(1024, math.ceil(span[0] / texel)))
        self.height = max(2, min(1024, math.ceil(span[1] / texel)))
        self.texel = max(span[0] / self.width, span[1] / self.height)
        self.origin_point = right * a.min() + down * b.min() + f * (c.min() - 300.0)  # behind any occluder
        self.right, self.down, self.forward = right, down, f
        i = torch.arange(self.width, device=device, dtype=torch.float64)[None, :]
        j = torch.arange(self.height, device=device, dtype=torch.float64)[:, None]
        self.o = tuple((self.origin_point[k] + right[k] * (i + 0.5) * self.texel
                        + down[k] * (j + 0.5) * self.texel).float().reshape(-1) for k in range(3))
        self.d = tuple(torch.tensor(float(f[k]), device=device) for k in range(3))

    def rects(self, corners: np.ndarray) -> np.ndarray:
        rel = corners - self.origin_point
        out = _rects(rel @ self.right / self.texel - 0.5, rel @ self.down / self.texel - 0.5, self.width,
                     self.height)
        out[np.all(rel @ self.forward < 0, axis=1)] = 0
        return out

    def origin(self, pix: torch.Tensor | None) -> tuple:
        return self.o if pix is None else tuple(c.index_select(0, pix) for c in self.o)

    def direction(self, pix: torch.Tensor | None) -> tuple:
        return self.d


_GEOM_SIZE = {PLANE: 14, BOX: 8, CYLINDER: 5, ELLIPSOID: 6}  # geometry values each intersection reads
_PAIR_CHUNK = 1 << 16  # pairs per batch: small enough to stay in cache
_NO_PRIM = (1 << 20) - 1


def _key(t: torch.Tensor, prim: torch.Tensor | int) -> torch.Tensor:
    """Sortable int64 packing t (>= 0, so its float32 bits order like it) above a 20-bit primitive index."""
    return (t.float().contiguous().view(torch.int32).long() << 20) | prim


def _trace(prims: Sequence[_Prim], view: _PerspectiveView | _OrthoView,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest hit per pixel: t (H, W) (inf = miss) and primitive index (H, W) (-1 = miss).

    Unbounded planes are tested against every pixel.  Bounded primitives are batched per type: every
    (pixel, primitive) pair inside the primitive's projected bounding rectangle is one element of a flat tensor,
    and the nearest hit per pixel is a scatter-min of (t, index) keys, so the work is proportional to the
    covered area and there is no Python loop over primitives.
    """
    if len(prims) > _NO_PRIM:
        raise ValueError(f"a scene may hold at most {_NO_PRIM} primitives, got {len(prims)}")
    n = view.height * view.width
    key = torch.full((n,), (int(np.float32(np.inf).view(np.int32)) << 20) | _NO_PRIM, dtype=torch.int64,
                     device=device)
    for i, pr in enumerate(prims):
        if pr.corners is None:
            t = _HIT[pr.kind](pr.geom, view.origin(None), view.direction(None))
            key = torch.minimum(key, _key(t.expand(n), i))
    for kind in (PLANE, BOX, CYLINDER, ELLIPSOID):
        ids = [i for i, pr in enumerate(prims) if pr.corners is not None and pr.kind == kind]
        if not ids:
            continue
        corners = np.stack([np.resize(prims[i].corners, (8, 3)) for i in ids])
        rect = view.rects(corners)
        w = rect[:, 3] - rect[:, 2]
        count = np.where((w > 0) & (rect[:, 1] > rect[:, 0]), w * (rect[:, 1] - rect[:, 0]), 0)
        total = int(count.sum())
        if total == 0:
            continue
        end = torch.as_tensor(np.cumsum(count), device=device)
        start = end - torch.as_tensor(count, device=device)
        # per primitive: first pixel index, rectangle width, pair offset; geometry rows (16, P)
        first = torch.as_tensor(rect[:, 0] * view.width + rect[:, 2], device=device)
        wt = torch.as_tensor(np.maximum(w, 1), device=device)
        G = torch.tensor([prims[i].geom[:_GEOM_SIZE[kind]] for i in ids], device=device,
                         dtype=torch.float32).T.contiguous()
        gid = torch.as_tensor(ids, device=device, dtype=torch.int64)
        for a in range(0, total, _PAIR_CHUNK):
            k = torch.arange(a, min(total, a + _PAIR_CHUNK), device=device)
            p = torch.searchsorted(end, k, right=True)
            local = k - start.index_select(0, p)
            ww = wt.index_select(0, p)
            row = torch.div(local, ww, rounding_mode="floor")
            pix = first.index_select(0, p) + row * view.width + (local - row * ww)
            t = _HIT[kind](G.index_select(1, p), view.origin(pix), view.direction(pix))
            key.scatter_reduce_(0, pix, _key(t, gid.index_select(0, p)), "amin")
    t = (key >> 20).to(torch.int32).view(torch.float32).reshape(view.height, view.width)
    idx = key & _NO_PRIM
    idx = torch.where((idx == _NO_PRIM) | torch.isinf(t.reshape(-1)), -1, idx).reshape(view.height, view.width)
    return t, idx


# ----------------------------------------------------------------------------------------------------------
# shading works on flat per-hit tensors, vectors channel-first (3, n) so that components are contiguous rows;
# gathers use index_select, which is much cheaper than advanced indexing on the CPU.


def _groups(labels: torch.Tensor, count: int) -> list[tuple[int, torch.Tensor | None]]:
    """(label, indices) for each label present; indices None when every element has that label."""
    present = torch.bincount(labels, minlength=count).nonzero().squeeze(1).tolist()
    if len(present) == 1:
        return [(present[0], None)]
    return [(k, (labels == k).nonzero().squeeze(1)) for k in present]


def _sel(x: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    return x if m is None else x.index_select(-1, m)


def _put(out: torch.Tensor, m: torch.Tensor | None, value: torch.Tensor) -> None:
    if m is None:
        out.copy_(value)
    else:
        out.index_copy_(out.dim() - 1, m, value)


def _surface(kind: torch.Tensor, G: torch.Tensor, p: torch.Tensor, d: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit normal (3, n) facing the viewer and texture coordinates s, t (metres) of hits p on primitives G."""
    n = p.shape[1]
    N = torch.empty((3, n), device=p.device)
    S = torch.empty(n, device=p.device)
    T = torch.empty(n, device=p.device)
    for k, m in _groups(kind, 4):
        g, q = _sel(G, m), _sel(p, m)
        if k == PLANE:
            rel = q - g[0:3]
            nn = g[3:6]
            s, t = (rel * g[6:9]).sum(0), (rel * g[9:12]).sum(0)
        elif k == BOX:
            rel = q - g[0:3]
            h, c, sn = g[3:6], g[6], g[7]
            lx, ly, lz = c * rel[0] + sn * rel[1], -sn * rel[0] + c * rel[1], rel[2]
            ax, ay, az = lx.abs() / h[0], ly.abs() / h[1], lz.abs() / h[2]
            on_x = (ax >= ay) & (ax >= az)
            on_z = ~on_x & (az > ay)
            on_y = ~on_x & ~on_z
            sx, sy = torch.sign(lx), torch.sign(ly)
            nn = torch.stack([torch.where(on_x, c * sx, torch.where(on_y, -sn * sy, 0.0)),
                              torch.where(on_x, sn * sx, torch.where(on_y, c * sy, 0.0)),
                              torch.where(on_z, torch.sign(lz), 0.0)])
            s = torch.where(on_x, ly + h[1], lx + h[0])
            t = torch.where(on_z, ly + h[1], lz + h[2])
        elif k == CYLINDER:
            rx, ry, z = q[0] - g[0], q[1] - g[1], q[2]
            z0, z1, r = g[2], g[3], g[4]
            rho = torch.sqrt(rx * rx + ry * ry).clamp(min=1e-9)
            dt, db = (z - z1).abs(), (z - z0).abs()
            cap = torch.minimum(dt, db) < (rho - r).abs()
            nn = torch.stack([torch.where(cap, 0.0, rx / rho), torch.where(cap, 0.0, ry / rho),
                              torch.where(cap, torch.where(dt < db, 1.0, -1.0), 0.0)])
            s = torch.where(cap, rx, torch.atan2(ry, rx) * r)
            t = torch.where(cap, ry, z - z0)
        else:
            rel = q - g[0:3]
            r = g[3:6]
            nn = rel / (r * r)
            nn = nn * _norm(nn).clamp(min=1e-9).reciprocal()
            s = torch.atan2(rel[1], rel[0]) * 0.5 * (r[0] + r[1])
            t = rel[2]
        _put(N, m, nn)
        _put(S, m, s)
        _put(T, m, t)
    flip = (N * d).sum(0) > 0  # face the viewer (planes have two sides)
    return torch.where(flip, -N, N), S, T


# ----------------------------------------------------------------------------------------------------------
# textures: functions of the material rows M (16, n) and surface coordinates; they return albedo (3, n).
# M rows: 0 texture, 1-3 colour, 4-6 colour2, 7 scale, 8-11 params, 12 seed, 13 roughness, 14 specular,
# 15 emission.

_TABLES: dict[str, torch.Tensor] = {}


def _table(device: torch.device) -> torch.Tensor:
    """A fixed 256x256 table of uniform random values: the lattice of the value noise and the cell hash."""
    key = str(device)
    if key not in _TABLES:
        gen = torch.Generator().manual_seed(20240607)
        _TABLES[key] = torch.rand(65536, generator=gen, dtype=torch.float32).to(device)
    return _TABLES[key]


def _cell_hash(i: torch.Tensor, j: torch.Tensor, seed: torch.Tensor | int = 0) -> torch.Tensor:
    """A uniform [0, 1) value per integer cell (i, j), decorrelated between seeds."""
    idx = (i * 40503 + j * 2654435 + seed * 9973 + 12345) & 65535
    return _table(i.device).index_select(0, idx)


def _vnoise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Value noise in [0, 1] with lattice spacing 1 (bilinear on a smoothstep)."""
    tab = _table(x.device)
    xf, yf = torch.floor(x), torch.floor(y)
    fx, fy = x - xf, y - yf
    ix, iy = xf.long(), yf.long()
    ux, uy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    r0 = (iy & 255) << 8
    r1 = ((iy + 1) & 255) << 8
    c0 = ix & 255
    c1 = (ix + 1) & 255
    a, b = tab.index_select(0, r0 | c0), tab.index_select(0, r0 | c1)
    c, e = tab.index_select(0, r1 | c0), tab.index_select(0, r1 | c1)
    top = torch.lerp(a, b, ux)
    return torch.lerp(top, torch.lerp(c, e, ux), uy)


def _fade(period_px: torch.Tensor) -> torch.Tensor:
    """Contrast kept for a pattern whose period covers `period_px` pixels: full at >= 4 px, none at <= 2 px."""
    return ((period_px - 2.0) * 0.5).clamp(0.0, 1.0)


def _fbm(x: torch.Tensor, y: torch.Tensor, fp: torch.Tensor, octaves: int = 3) -> torch.Tensor:
    """Fractal noise, zero-mean (about +-0.5), with octaves finer than the pixel footprint faded out."""
    out = torch.zeros_like(x)
    amp, freq, norm = 1.0, 1.0, 0.0
    for k in range(octaves):
        off = 17.31 * k
        out = out + amp * _fade(1.0 / (freq * fp)) * (_vnoise(x * freq + off, y * freq - off) - 0.5)
        norm += amp
        amp *= 0.5
        freq *= 2.0
    return out * (1.6 / norm)


def _cover(d: torch.Tensor, width: torch.Tensor | float, fp: torch.Tensor) -> torch.Tensor:
    """Fraction of a pixel footprint `fp` centred at signed distance d that lies inside a band of `width`."""
    half = 0.5 * width
    hf = 0.5 * fp
    lo = torch.maximum(d - hf, torch.as_tensor(-half, device=d.device))
    hi = torch.minimum(d + hf, torch.as_tensor(half, device=d.device))
    return ((hi - lo).clamp(min=0.0) / fp).clamp(max=1.0)


def _lerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * w


def _texture(M: torch.Tensor, s: torch.Tensor, t: torch.Tensor, fs: torch.Tensor, ft: torch.Tensor
             ) -> torch.Tensor:
    """Albedo (3, n) of hits with material rows M at surface coordinates (s, t) metres, footprints (fs, ft)."""
    albedo = torch.empty((3, s.shape[0]), device=s.device)
    for k, m in _groups(M[0].long(), len(_TEXTURES)):
        _put(albedo, m, _TEXTURES[k](_sel(M, m), _sel(s, m), _sel(t, m), _sel(fs, m), _sel(ft, m)))
    # broad brightness variation ("dirt"), the same for every texture family
    seed = M[12]
    dirt = _fbm(s * 0.8 + seed * 3.1, t * 0.8 - seed * 1.7, torch.minimum(fs, ft) * 0.8, octaves=2)
    return (albedo * (1.0 + 2.0 * M[13] * dirt)).clamp(0.0, 1.0)


def _tex_flat(M, s, t, fs, ft):  # noqa: ANN001, ANN202 - internal texture kernel
    return M[1:4]


def _tex_noise(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    sc, contrast, seed = M[7], M[8], M[12]
    contrast = torch.where(contrast > 0, contrast, 1.0)
    n = _fbm(s / sc + seed * 7.7, t / sc + seed * 3.3, torch.minimum(fs, ft) / sc, octaves=4)
    return _lerp(M[1:4], M[4:7], (0.5 + contrast * n).clamp(0.0, 1.0))


def _tex_stripes(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    sc, ang, duty = M[7], M[8], M[9]
    duty = torch.where(duty > 0, duty, 0.5)
    ca, sa = torch.cos(ang), torch.sin(ang)
    x = (s * ca + t * sa) / sc
    fp = ((ca.abs() * fs + sa.abs() * ft) / sc).clamp(min=1e-4)
    d = x - torch.floor(x) - 0.5 * duty
    d = d - torch.round(d)  # distance to the nearest stripe centre, in periods
    w = _cover(d, duty, fp)
    w = duty + (w - duty) * _fade(1.0 / fp)
    return _lerp(M[1:4], M[4:7], w)


def _tex_checker(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    sc = M[7]
    par = (torch.floor(s / sc) + torch.floor(t / sc)) % 2.0
    w = 0.5 + (par - 0.5) * _fade(sc / torch.maximum(fs, ft))
    return _lerp(M[1:4], M[4:7], w)


def _tex_tiles(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    sw, sh, grout, offset, var, seed = M[7], M[8], M[9], M[10], M[11], M[12]
    fs, ft = fs.clamp(min=1e-5), ft.clamp(min=1e-5)
    sh = torch.where(sh > 0, sh, sw)
    row = torch.floor(t / sh)
    s2 = s + row * offset * sw
    col = torch.floor(s2 / sw)
    inside = _cover(s2 - (col + 0.5) * sw, sw - grout, fs) * _cover(t - (row + 0.5) * sh, sh - grout, ft)
    mean_in = (1 - grout / sw) * (1 - grout / sh)
    f = torch.minimum(_fade(sw / fs), _fade(sh / ft))
    inside = mean_in + (inside - mean_in) * f
    h = _cell_hash(col.long(), row.long(), seed.long())
    tile = M[1:4] * (1.0 + var * (2.0 * h - 1.0) * f)
    return _lerp(M[4:7], tile, inside)


def _tex_wood(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    pw, pl, rings, seed = M[7], M[8], M[9], M[12]
    fs, ft = fs.clamp(min=1e-5), ft.clamp(min=1e-5)
    pl = torch.where(pl > 0, pl, 1.5)
    rings = torch.where(rings > 0, rings, 25.0)
    plank = torch.floor(s / pw)
    pk, sk = plank.long(), seed.long()
    t2 = t + _cell_hash(pk, sk, 7) * pl
    end = torch.floor(t2 / pl)
    n = _vnoise(s * 6.0 + plank * 3.7, t2 * 0.35 + seed)
    grain = torch.sin((2 * math.pi) * (s * rings + 2.0 * n))
    base = _lerp(M[1:4], M[4:7], 0.5 + 0.5 * grain * _fade(1.0 / (rings * fs)))
    var = 1.0 + 0.3 * (_cell_hash(pk, end.long(), sk) - 0.5)
    gap = 0.004
    ds = s - (plank + 0.5) * pw  # distance from the plank's centre line; seams at +-pw/2
    dt = t2 - (end + 0.5) * pl
    seam = 1.0 - _cover(ds, pw - gap, fs) * _cover(dt, pl - gap, ft)
    return base * (var * (1.0 - 0.6 * seam))


def _tex_road(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    half, lanes, dash, cross, seed = M[8], M[9], M[10], M[11], M[12]
    fs, ft = fs.clamp(min=1e-4), ft.clamp(min=1e-4)
    lane_w = 2 * half / lanes.clamp(min=1)
    k = torch.minimum(torch.round((s + half) / lane_w).clamp(min=1.0), (lanes - 1).clamp(min=1.0))
    d_lane = s - (k * lane_w - half)
    period = 3.0 * dash
    on_t = _cover(t - (torch.floor(t / period) + 0.5) * period, dash, ft)
    on_t = 1.0 / 3.0 + (on_t - 1.0 / 3.0) * _fade(period / ft)
    lane_line = _cover(d_lane, 0.15, fs) * on_t * (lanes > 1.5)
    edge = _cover(s.abs() - (half + 0.1), 0.15, fs)  # solid line just outside the driving lanes
    zebra_s = _cover(s - (torch.floor(s) + 0.5), 0.5, fs)
    zebra_s = 0.5 + (zebra_s - 0.5) * _fade(1.0 / fs)
    zebra = zebra_s * _cover(t - cross - 2.0, 4.0, ft) * (cross > 0) * (s.abs() < half + 1.5)
    wear = 0.75 + 0.5 * _vnoise(s * 3 + seed, t * 0.7)
    mark = (torch.maximum(torch.maximum(lane_line, edge), zebra) * wear).clamp(0.0, 1.0)
    fp = torch.minimum(fs, ft)
    asphalt = 1.0 + 0.5 * _fbm(s * 12.0, t * 12.0, fp * 12.0, octaves=2) + 0.5 * _fbm(
        s * 0.25 + seed, t * 0.12, fp * 0.25, octaves=3)
    return _lerp(M[1:4] * asphalt, M[4:7], mark)


def _tex_facade(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    sx, fh, wf, hf, bricks, seed = M[7], M[8], M[9], M[10], M[11], M[12]
    fs, ft = fs.clamp(min=1e-4), ft.clamp(min=1e-4)
    col, storey = torch.floor(s / sx), torch.floor(t / fh)
    sk = seed.long()
    ground = (storey < 0.5) & (seed % 3 >= 1)  # shop windows on two buildings in three
    wf_g = torch.where(ground, 0.8, wf)
    hf_g = torch.where(ground, 0.65, hf)
    sill = torch.where(ground, 0.1, 0.3)
    ds = s - (col + 0.5) * sx
    dt = t - (storey + sill + 0.5 * hf_g) * fh
    f = torch.minimum(_fade(sx / fs), _fade(fh / ft))
    glass = _cover(ds, wf_g * sx, fs) * _cover(dt, hf_g * fh, ft)
    frame = _cover(ds, wf_g * sx + 0.16, fs) * _cover(dt, hf_g * fh + 0.16, ft)
    mean_glass = wf * hf
    mean_frame = (wf * sx + 0.16) * (hf * fh + 0.16) / (sx * fh)
    glass = mean_glass + (glass - mean_glass) * f
    frame = (mean_frame + (frame - mean_frame) * f - glass).clamp(min=0.0)
    # wall: plaster noise or running-bond bricks
    fp = torch.minimum(fs, ft)
    wall = M[1:4] * (1.0 + 0.3 * _fbm(s * 2.0 + seed, t * 2.0, fp * 2.0, octaves=2))
    if bool((bricks > 0.5).any()):
        brick_row = torch.floor(t / 0.075)
        brick_s = s + 0.11 * (brick_row % 2)
        brick_col = torch.floor(brick_s / 0.22)
        fb = torch.minimum(_fade(0.22 / fs), _fade(0.075 / ft))
        mortar = 1.0 - _cover(brick_s - (brick_col + 0.5) * 0.22, 0.2, fs) * _cover(
            t - (brick_row + 0.5) * 0.075, 0.065, ft)
        mortar = 0.21 + (mortar - 0.21) * fb
        bvar = 1.0 + 0.35 * (_cell_hash(brick_col.long(), brick_row.long(), sk) - 0.5) * fb
        wall = torch.where(bricks > 0.5, _lerp(M[1:4] * bvar, M[1:4] * 0.4 + 0.45, mortar), wall)
    lit = _cell_hash(col.long(), storey.long(), sk)
    gl = M[4:7] * ((0.5 + 0.9 * lit) * (0.8 + 0.4 * (dt / (hf_g * fh)).clamp(-0.5, 0.5)))
    warm = torch.tensor([[0.9], [0.75], [0.45]], device=M.device)
    gl = torch.where(lit > 0.93, warm, gl)
    frame_col = torch.where(seed % 2 < 1, M[1:4] * 0.55, 0.8)
    return wall * (1.0 - glass - frame) + gl * glass + frame_col * frame


def _tex_foliage(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    sc, seed = M[7], M[12]
    n = _fbm(s / sc + seed * 5.1, t / sc - seed * 2.3, torch.minimum(fs, ft) / sc, octaves=4)
    return _lerp(M[1:4], M[4:7], (0.5 + 1.8 * n).clamp(0.0, 1.0))


def _tex_books(M, s, t, fs, ft):  # noqa: ANN001, ANN202
    bw, shelf_h, seed = M[7], M[8], M[12]
    book = torch.floor(s / bw)
    bk, sk = book.long(), seed.long()
    h1, h2, h3 = _cell_hash(bk, sk, 3), _cell_hash(bk, sk, 5), _cell_hash(bk, sk, 11)
    hue = torch.stack([h1, h2, h3])
    colour = (0.08 + 0.6 * hue * hue) * (0.5 + 0.5 * h1)
    spine = _cover(s - (book + 0.5) * bw, bw * 0.92, fs.clamp(min=1e-5)) * (t < shelf_h * (0.7 + 0.28 * h2))
    f = _fade(bw / fs.clamp(min=1e-5))
    spine = 0.75 + (spine - 0.75) * f
    return _lerp(M[4:7], _lerp(M[1:4], colour, f), spine)


_TEXTURES = {Tex.FLAT: _tex_flat, Tex.NOISE: _tex_noise, Tex.STRIPES: _tex_stripes, Tex.CHECKER: _tex_checker,
             Tex.TILES: _tex_tiles, Tex.WOOD: _tex_wood, Tex.ROAD: _tex_road, Tex.FACADE: _tex_facade,
             Tex.FOLIAGE: _tex_foliage, Tex.BOOKS: _tex_books}


def _footprints(S: torch.Tensor, T: torch.Tensor, idx: torch.Tensor, fallback: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface extent (metres) of one pixel along s and t, from differences with same-primitive neighbours.

    Like a GPU's ddx/ddy: the smaller of the forward and backward difference, so an edge of the primitive
    does not inflate it; where no neighbour shares the primitive, `fallback` (an isotropic estimate) is used.
    """
    def deriv(X: torch.Tensor, dim: int) -> torch.Tensor:
        n = X.shape[dim]
        same = idx.narrow(dim, 1, n - 1) == idx.narrow(dim, 0, n - 1)
        diff = torch.where(same, (X.narrow(dim, 1, n - 1) - X.narrow(dim, 0, n - 1)).abs(), _INF)
        pad_shape = list(X.shape)
        pad_shape[dim] = 1
        pad = torch.full(pad_shape, _INF, device=X.device)
        return torch.minimum(torch.cat([diff, pad], dim), torch.cat([pad, diff], dim))

    out = []
    for X in (S, T):
        if X.shape[0] < 2 or X.shape[1] < 2:
            out.append(fallback)
            continue
        du, dv = deriv(X, 1), deriv(X, 0)
        du = torch.where(du < _INF, du, fallback)
        dv = torch.where(dv < _INF, dv, fallback)
        out.append(torch.minimum(du + dv, 4 * fallback).clamp(min=1e-6))
    return out[0], out[1]


# ----------------------------------------------------------------------------------------------------------
# lighting


def _casters(scene: Scene) -> list[_Prim]:
    """Primitives that cast shadows: bounded ones reaching higher than 0.3 m above the ground plane z = 0.

    Unbounded planes are the room shell or the ground, which never stand between a light inside the scene and a
    visible surface; things lying on the ground (kerbs, pavements, rugs, baseboards) would only cast slivers,
    and leaving them out keeps the shadow maps cheap.
    """
    return [pr for pr in scene.prims if pr.corners is not None and pr.corners[:, 2].max() > 0.3]


def _pcf(depth_map: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor, bias: torch.Tensor
         ) -> torch.Tensor:
    """Bilinearly weighted 2x2 shadow test (percentage-closer filtering): soft-ish, alias-free shadow edges."""
    H, W = depth_map.shape
    iu = torch.floor(u).clamp(0, W - 2)
    iv = torch.floor(v).clamp(0, H - 2)
    fu, fv = (u - iu).clamp(0.0, 1.0), (v - iv).clamp(0.0, 1.0)
    base = iv.long() * W + iu.long()
    flat = depth_map.reshape(-1)
    zb = z - bias
    a, b = (zb <= flat.index_select(0, base)).float(), (zb <= flat.index_select(0, base + 1)).float()
    c, e = (zb <= flat.index_select(0, base + W)).float(), (zb <= flat.index_select(0, base + W + 1)).float()
    return torch.lerp(torch.lerp(a, b, fu), torch.lerp(c, e, fu), fv)


def _shadow_point(scene: Scene, light: PointLight, p: torch.Tensor, cos: torch.Tensor, device: torch.device,
                  size: int) -> torch.Tensor:
    """Visibility (0..1) of a ceiling light from hits p (3, n): a 140-degree downward shadow map."""
    f = size / 2.0 / math.tan(math.radians(70.0))
    c0 = (size - 1) / 2
    K = np.array([[f, 0, c0], [0, f, c0], [0, 0, 1.0]])
    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # right = +x, down = -y, forward = -z
    cam = Camera(size, size, K, R, np.asarray(light.position, dtype=np.float64))
    depth_map, _ = _trace(_casters(scene), _PerspectiveView(cam, device), device)
    lx, ly, lz = light.position
    x, y, z = p[0] - lx, ly - p[1], lz - p[2]
    zc = z.clamp(min=1e-3)
    u, v = x * (f / zc) + c0, y * (f / zc) + c0
    cos = cos.clamp(min=0.05)
    bias = 0.01 + zc * ((1.5 + 1.5 * torch.sqrt(1 - cos * cos) / cos).clamp(max=12.0) / f)
    vis = _pcf(depth_map, u, v, zc, bias)
    inside = (z > 1e-3) & (u >= 0) & (u <= size - 1) & (v >= 0) & (v <= size - 1)
    return torch.where(inside, vis, 1.0)


def _shadow_sun(scene: Scene, light: DirectionalLight, p: torch.Tensor, cos: torch.Tensor, device: torch.device,
                texels: int) -> torch.Tensor:
    """Visibility of the sun from hits p (3, n) through an orthographic shadow map over the shadow region."""
    if scene.shadow_region is None:
        return torch.ones(p.shape[1], device=device)
    lo, hi = (np.asarray(x, dtype=np.float64) for x in scene.shadow_region)
    view = _OrthoView(-np.asarray(light.direction, dtype=np.float64), lo, hi, texels, device)
    depth_map, _ = _trace(_casters(scene), view, device)
    rel = p.double() - torch.tensor(view.origin_point, device=device)[:, None]

    def along(axis: np.ndarray) -> torch.Tensor:
        return (rel * torch.tensor(axis, device=device)[:, None]).sum(0).float()

    u, v, z = along(view.right) / view.texel - 0.5, along(view.down) / view.texel - 0.5, along(view.forward)
    cos = cos.clamp(min=0.05)
    bias = 0.03 + view.texel * (1.0 + 1.5 * torch.sqrt(1 - cos * cos) / cos).clamp(max=12.0)
    vis = _pcf(depth_map, u, v, z, bias)
    inside = (u >= 0) & (u <= view.width - 1) & (v >= 0) & (v <= view.height - 1)
    return torch.where(inside, vis, 1.0)


def _sky(sky: Sky, d: torch.Tensor, sun: torch.Tensor | None) -> torch.Tensor:
    """Sky radiance (3, n) along unit directions d (3, n): gradient, clouds on a plane, a glow around the sun."""
    dev = d.device
    zen, hor = torch.tensor(sky.zenith, device=dev)[:, None], torch.tensor(sky.horizon, device=dev)[:, None]
    col = _lerp(hor, zen, d[2].clamp(min=0.0).sqrt())
    if sky.cloudiness > 0:
        ez = d[2].clamp(min=0.02)
        x, y = d[0] / ez, d[1] / ez
        n = _fbm(x * 1.5 + sky.seed % 97, y * 1.5, torch.full_like(x, 1e-3), octaves=4)
        cover = ((n + 0.5 - (1.0 - sky.cloudiness)) * 3.0).clamp(0.0, 1.0) * (d[2] > 0)
        cloud = torch.tensor(sky.cloud, device=dev)[:, None] * (0.85 + 0.3 * n)
        col = _lerp(col, cloud, cover * (1.0 - (-ez * 8).exp() * 0.5))
    if sun is not None:
        g = (d * sun[:, None]).sum(0).clamp(min=0.0)
        g8 = _pow2k(g, 3)
        col = col + (_pow2k(g8, 3) * 2.0 + g8 * 0.15)
    return col


def _norm(v: torch.Tensor) -> torch.Tensor:
    """Length of the columns of a (3, n) tensor (Tensor.norm over dim 0 is very slow on the CPU)."""
    return (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()


def _pow2k(x: torch.Tensor, k: int) -> torch.Tensor:
    """x ** (2 ** k) by repeated squaring (much cheaper than pow with a float exponent)."""
    for _ in range(k):
        x = x * x
    return x


def _shade(scene: Scene, view: _PerspectiveView, t: torch.Tensor, idx: torch.Tensor, device: torch.device
           ) -> torch.Tensor:
    """Linear radiance (3, H, W) of the image."""
    H, W = t.shape
    n_pix = H * W
    d_all = torch.stack(view.d)
    hit = (idx >= 0).reshape(-1)
    sel = hit.nonzero().squeeze(1)
    out = torch.zeros((3, n_pix), device=device)
    sun = next((L for L in scene.lights if isinstance(L, DirectionalLight)), None)
    sun_dir = torch.tensor(_unit(sun.direction), device=device, dtype=torch.float32) if sun is not None else None
    if scene.sky is not None and sel.numel() < n_pix:
        miss = (~hit).nonzero().squeeze(1)
        dm = d_all.index_select(1, miss)
        out.index_copy_(1, miss, _sky(scene.sky, dm / _norm(dm), sun_dir))
    if sel.numel() == 0:
        return out.reshape(3, H, W)

    G = torch.tensor([pr.geom for pr in scene.prims], device=device, dtype=torch.float32).T.contiguous()
    kinds = torch.tensor([pr.kind for pr in scene.prims], device=device)
    mat_of = torch.tensor([pr.material for pr in scene.prims], device=device)
    Mtab = torch.tensor([m.row() for m in scene.materials], device=device, dtype=torch.float32).T.contiguous()
    pid = idx.reshape(-1).index_select(0, sel)
    tt = t.reshape(-1).index_select(0, sel)
    d = d_all.index_select(1, sel)
    dlen = _norm(d)
    du = d / dlen
    p = torch.tensor(view.o, device=device, dtype=torch.float32)[:, None] + tt * d
    N, S, T = _surface(kinds.index_select(0, pid), G.index_select(1, pid), p, d)
    # pixel footprint: isotropic estimate as fallback, screen-space differences where possible
    f = 0.5 * (view.K[0, 0] + view.K[1, 1])
    ndv = -(N * du).sum(0)
    iso = tt * dlen / (f * ndv.clamp(min=0.05))
    blank = torch.zeros(n_pix, device=device)

    def as_img(x: torch.Tensor) -> torch.Tensor:
        return blank.index_copy(0, sel, x).reshape(H, W)

    fs, ft = _footprints(as_img(S), as_img(T), idx, as_img(iso))
    fs, ft = fs.reshape(-1).index_select(0, sel), ft.reshape(-1).index_select(0, sel)
    M = Mtab.index_select(1, mat_of.index_select(0, pid))
    albedo = _texture(M, S, T, fs, ft)

    amb = torch.tensor(scene.ambient, device=device)[:, None]
    light = amb * (0.85 + 0.15 * N[2])  # sky / bounce light: a little more from above
    ks = M[14]
    shiny = bool((ks > 0).any())
    spec = torch.zeros_like(light) if shiny else None
    for L in scene.lights:
        col = torch.tensor(L.color, device=device, dtype=torch.float32)[:, None]
        if isinstance(L, DirectionalLight):
            ldir = sun_dir[:, None]
            ndl = (N * ldir).sum(0)
            att = 1.0
            vis = _shadow_sun(scene, L, p, ndl, device, texels=min(max(n_pix, 128 * 128), 512 * 512)) \
                if L.shadow else 1.0
        else:
            lvec = torch.tensor(L.position, device=device, dtype=torch.float32)[:, None] - p
            dist2 = (lvec * lvec).sum(0)
            ldir = lvec * dist2.rsqrt()
            ndl = (N * ldir).sum(0)
            att = 1.0 / (1.0 + dist2)
            size = int(min(256, max(48, math.sqrt(n_pix) * 0.45)))
            vis = _shadow_point(scene, L, p, ndl, device, size) if L.shadow else 1.0
        ndl = ndl.clamp(min=0.0)
        w = ndl * att * vis
        light = light + col * w
        if shiny:
            hv = ldir - du
            hn = (N * hv).sum(0).clamp(min=0.0) * (hv * hv).sum(0).clamp(min=1e-12).rsqrt()
            spec = spec + col * (_pow2k(hn, 5) * (ndl > 0) * att * vis)
    rad = albedo * (light + M[15])
    if spec is not None:
        rad = rad + ks * spec
    if scene.sky is not None and math.isfinite(scene.haze_distance):
        haze = 1.0 - torch.exp(-(tt * dlen) / scene.haze_distance)
        rad = _lerp(rad, torch.tensor(scene.sky.horizon, device=device)[:, None], haze)
    out.index_copy_(1, sel, rad)
    return out.reshape(3, H, W)


def _post(rad: torch.Tensor, post: PostFX) -> torch.Tensor:
    """Auto exposure, tone mapping, white balance, vignette, blur, noise, 8-bit quantization -> (H, W, 3)."""
    dev = rad.device
    _, H, W = rad.shape
    lum = rad[0] * 0.2126 + rad[1] * 0.7152 + rad[2] * 0.0722
    # float64 mean: the same exposure whatever the thread count splits the sum into (bit-identical output)
    logavg = torch.exp(torch.log(lum + 1e-4).double().mean()).float()
    x = rad * (torch.tensor(post.white_balance, device=dev)[:, None, None] * (post.exposure_key / logavg))
    x = x * (1.0 + x * 0.25) / (1.0 + x)  # extended Reinhard, white point 2
    if post.vignette > 0:
        yy = torch.linspace(-1, 1, H, device=dev)[:, None]
        xx = torch.linspace(-1, 1, W, device=dev)[None, :]
        x = x * (1.0 - post.vignette * 0.5 * (xx * xx + yy * yy))
    x = x.clamp(0.0, 1.0) ** (1.0 / 2.2)
    if post.blur > 0 and H > 2 and W > 2:
        xp = torch.nn.functional.pad(x[None], (1, 1, 1, 1), mode="replicate")[0]
        xh = 0.25 * (xp[:, :, :-2] + xp[:, :, 2:]) + 0.5 * xp[:, :, 1:-1]
        b = 0.25 * (xh[:, :-2] + xh[:, 2:]) + 0.5 * xh[:, 1:-1]
        x = torch.lerp(x, b, post.blur)
    if post.noise_sigma > 0:
        gen = torch.Generator().manual_seed(int(post.seed))
        x = x + post.noise_sigma * torch.randn((3, H, W), generator=gen).to(dev)
    return (x.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous()


def render(scene: Scene, camera: Camera, device: str | torch.device = "cpu") -> RenderOutput:
    """Ray cast `scene` from `camera`: 8-bit RGB, depth Z along the optical axis (0 where invalid)."""
    dev = _device(device)
    _check_size(camera.width, camera.height)
    if not scene.prims and scene.sky is None:
        raise ValueError("the scene is empty: add primitives (or a sky) before rendering")
    view = _PerspectiveView(camera, dev)
    t, idx = _trace(scene.prims, view, dev)
    valid = (idx >= 0) & (t <= scene.max_depth)
    depth = torch.where(valid, t, 0.0)
    rgb = _post(_shade(scene, view, t, idx, dev), scene.post)
    return RenderOutput(rgb=rgb, depth=depth, prim_index=idx)


# ----------------------------------------------------------------------------------------------------------
# simulated LiDAR


def lidar_mask(depth: torch.Tensor, camera: Camera) -> torch.Tensor:
    """Pixels whose 3D point an HDL-64E-like LiDAR on the camera's vehicle would sample (KITTI-style sparse GT).

    Each valid pixel is back-projected, expressed in a level LiDAR frame that shares the camera's heading and
    sits LIDAR_OFFSET from it, and kept when the pixel's angular footprint (at most that of a full-resolution
    KITTI pixel) contains one of the 64 beam elevations and a multiple of the azimuth step.  Vectorized; no
    ray casting, so a kept pixel's depth is exactly the dense depth.
    """
    dev = depth.device
    H, W = depth.shape
    K, R = camera.K, camera.rotation
    u = torch.arange(W, device=dev, dtype=torch.float64)[None, :]
    v = torch.arange(H, device=dev, dtype=torch.float64)[:, None]
    z = depth.double()
    xc, yc = (u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z
    fwd = R[:, 2]
    heading = math.atan2(fwd[1], fwd[0])
    right_l = np.array([math.sin(heading), -math.cos(heading), 0.0])
    fwd_l = np.array([math.cos(heading), math.sin(heading), 0.0])
    up_l = np.array([0.0, 0.0, 1.0])
    origin = camera.position + LIDAR_OFFSET[0] * right_l + LIDAR_OFFSET[1] * fwd_l + LIDAR_OFFSET[2] * up_l
    off = camera.position - origin
    comps = []
    for axis in (right_l, fwd_l, up_l):
        a = R.T @ axis  # the LiDAR axis in camera coordinates
        comps.append(a[0] * xc + a[1] * yc + a[2] * z + float(off @ axis))
    qx, qy, qz = comps
    rho = torch.sqrt(qx * qx + qy * qy)
    elev = torch.atan2(qz, rho)
    azim = torch.atan2(qx, qy)
    top, bottom = (math.radians(a) for a in LIDAR_ELEVATION_RANGE_DEG)
    step_e = (top - bottom) / (LIDAR_BEAMS - 1)
    beam = torch.round((top - elev) / step_e)
    d_elev = (elev - (top - beam * step_e)).abs()
    step_a = math.radians(LIDAR_AZIMUTH_STEP_DEG)
    d_az = (azim / step_a - torch.round(azim / step_a)).abs() * step_a
    tol_v = min(1.0 / K[1, 1], _REFERENCE_PIXEL_RAD) * 0.5
    tol_h = min(1.0 / K[0, 0], _REFERENCE_PIXEL_RAD) * 0.5
    rng = torch.sqrt(rho * rho + qz * qz)
    return ((depth > 0) & (beam >= 0) & (beam <= LIDAR_BEAMS - 1) & (d_elev <= tol_v) & (d_az <= tol_h)
            & (rng <= LIDAR_MAX_RANGE))


# ----------------------------------------------------------------------------------------------------------
# scene generators


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _rand_color(rng: np.random.Generator, hue: tuple[float, float] = (0.0, 1.0), sat: tuple[float, float] = (0, 1),
                val: tuple[float, float] = (0, 1)) -> tuple[float, float, float]:
    h = rng.uniform(*hue) % 1.0
    return _hsv(h, rng.uniform(*sat), rng.uniform(*val))


def _scale_color(c: Sequence[float], k: float) -> tuple[float, float, float]:
    return tuple(float(min(1.0, max(0.0, x * k))) for x in c)  # type: ignore[return-value]


class _Placer:
    """Rejection sampling of furniture footprints (oriented rectangles tested as discs) in a room."""

    def __init__(self, keep_out: list[tuple[float, float, float]]):
        self.discs = list(keep_out)

    def free(self, x: float, y: float, r: float) -> bool:
        return all((x - a) ** 2 + (y - b) ** 2 >= (r + c) ** 2 for a, b, c in self.discs)

    def take(self, x: float, y: float, r: float) -> None:
        self.discs.append((x, y, r))


def _wood_material(rng: np.random.Generator, seed: int) -> Material:
    base = _rand_color(rng, (0.04, 0.11), (0.35, 0.75), (0.25, 0.75))
    return Material(Tex.WOOD, base, _scale_color(base, rng.uniform(0.55, 0.8)), rng.uniform(0.08, 0.25),
                    (rng.uniform(0.8, 2.5), rng.uniform(10, 40), 0, 0), seed, 0.06, rng.uniform(0.0, 0.25))


def _furniture_material(rng: np.random.Generator, seed: int) -> Material:
    r = rng.uniform()
    if r < 0.4:
        return _wood_material(rng, seed)
    if r < 0.7:
        c = _rand_color(rng, (0, 1), (0.0, 0.15), (0.05, 0.9))  # white / grey / black
        return Material(Tex.FLAT, c, c, 1.0, (0, 0, 0, 0), seed, 0.04, rng.uniform(0.0, 0.4))
    c = _rand_color(rng, (0, 1), (0.3, 0.8), (0.2, 0.8))  # painted / fabric
    return Material(Tex.NOISE, c, _scale_color(c, 0.8), 0.05, (0.6, 0, 0, 0), seed, 0.06, 0.05)


def _fabric_material(rng: np.random.Generator, seed: int) -> Material:
    c = _rand_color(rng, (0, 1), (0.1, 0.7), (0.2, 0.9))
    if rng.uniform() < 0.4:
        c2 = _rand_color(rng, (0, 1), (0.1, 0.7), (0.2, 0.9))
        return Material(Tex.STRIPES, c, c2, rng.uniform(0.05, 0.4), (rng.uniform(0, math.pi), 0.5, 0, 0), seed,
                        0.05)
    if rng.uniform() < 0.2:
        c2 = _rand_color(rng, (0, 1), (0.1, 0.7), (0.2, 0.9))
        return Material(Tex.CHECKER, c, c2, rng.uniform(0.05, 0.3), (0, 0, 0, 0), seed, 0.05)
    return Material(Tex.NOISE, c, _scale_color(c, 0.75), 0.03, (0.8, 0, 0, 0), seed, 0.08)


def _add_parts(scene: Scene, parts: list[tuple], x: float, y: float, yaw: float) -> None:
    """Add furniture parts given in the item frame (origin on the floor at its centre) at (x, y, yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)
    for part in parts:
        kind, ctr = part[0], part[1]
        wx, wy = x + c * ctr[0] - s * ctr[1], y + s * ctr[0] + c * ctr[1]
        if kind == "box":
            scene.add_box((wx, wy, ctr[2]), part[2], part[3], yaw)
        elif kind == "cyl":
            scene.add_cylinder((wx, wy, ctr[2]), part[2], part[3], part[4])
        else:
            scene.add_ellipsoid((wx, wy, ctr[2]), part[2], part[3])


def _item_table(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d, h = rng.uniform(0.7, 1.8), rng.uniform(0.5, 1.0), rng.uniform(0.68, 0.78)
    top_t, leg = rng.uniform(0.025, 0.05), rng.uniform(0.035, 0.07)
    mat = _furniture_material(rng, sd)
    legs_mat = mat if rng.uniform() < 0.6 else Material(Tex.FLAT, _rand_color(rng, (0, 1), (0, 0.2), (0.05, 0.8)),
                                                        seed=sd + 1, specular=0.3)
    parts: list[tuple] = [("box", (0, 0, h - top_t / 2), (w / 2, d / 2, top_t / 2), mat)]
    for i in (-1, 1):
        for j in (-1, 1):
            parts.append(("box", (i * (w / 2 - leg), j * (d / 2 - leg), (h - top_t) / 2),
                          (leg / 2, leg / 2, (h - top_t) / 2), legs_mat))
    for _ in range(rng.integers(0, 4)):  # things on the table
        ox, oy = rng.uniform(-w / 2 + 0.15, w / 2 - 0.15), rng.uniform(-d / 2 + 0.12, d / 2 - 0.12)
        col = _rand_color(rng, (0, 1), (0.0, 0.8), (0.1, 0.9))
        m = Material(Tex.FLAT, col, col, seed=sd + 7, specular=rng.uniform(0, 0.5))
        if rng.uniform() < 0.5:
            parts.append(("cyl", (ox, oy, h), rng.uniform(0.03, 0.08), rng.uniform(0.06, 0.3), m))
        elif rng.uniform() < 0.5:
            sw, sh = rng.uniform(0.2, 0.35), rng.uniform(0.15, 0.25)
            parts.append(("box", (ox, oy, h + 0.05 + sh), (sw, 0.015, sh), Material(Tex.FLAT, (0.03, 0.03, 0.035),
                                                                                    seed=sd, specular=0.6)))
            parts.append(("box", (ox, oy, h + 0.025), (0.08, 0.06, 0.025), Material(Tex.FLAT, (0.05, 0.05, 0.05))))
        else:
            parts.append(("box", (ox, oy, h + 0.03), (rng.uniform(0.08, 0.2), rng.uniform(0.06, 0.15), 0.03), m))
    return parts, w, d


def _item_chair(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w = rng.uniform(0.4, 0.5)
    sh, back = rng.uniform(0.42, 0.48), rng.uniform(0.35, 0.5)
    mat, leg = _furniture_material(rng, sd), rng.uniform(0.025, 0.04)
    parts: list[tuple] = [("box", (0, 0, sh - 0.02), (w / 2, w / 2, 0.02), mat),
                          ("box", (0, w / 2 - 0.02, sh + back / 2), (w / 2, 0.02, back / 2), mat)]
    for i in (-1, 1):
        for j in (-1, 1):
            parts.append(("box", (i * (w / 2 - leg), j * (w / 2 - leg), (sh - 0.04) / 2), (leg / 2, leg / 2,
                                                                                           (sh - 0.04) / 2), mat))
    return parts, w, w


def _item_shelf(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.25, 0.4), rng.uniform(0.9, 2.2)
    mat, th = _furniture_material(rng, sd), 0.02
    n = int(rng.integers(2, 6))
    gap = (h - th) / n
    parts: list[tuple] = [("box", (-w / 2 + th / 2, 0, h / 2), (th / 2, d / 2, h / 2), mat),
                          ("box", (w / 2 - th / 2, 0, h / 2), (th / 2, d / 2, h / 2), mat),
                          ("box", (0, d / 2 - th / 2, h / 2), (w / 2, th / 2, h / 2), mat)]
    for k in range(n + 1):
        parts.append(("box", (0, 0, k * gap + th / 2), (w / 2 - th, d / 2, th / 2), mat))
    books = Material(Tex.BOOKS, (0.4, 0.3, 0.2), (0.02, 0.02, 0.02), rng.uniform(0.025, 0.05),
                     (gap - th - 0.01, 0, 0, 0), sd + 3, 0.05)
    for k in range(n):
        if rng.uniform() < 0.75:
            bh = gap - th - 0.005
            parts.append(("box", (0, 0.01, k * gap + th + bh / 2), (w / 2 - th - 0.005, d / 2 - 0.04, bh / 2), books))
    return parts, w, d


def _item_bed(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, length = rng.uniform(0.9, 1.8), rng.uniform(1.9, 2.1)
    frame = _furniture_material(rng, sd)
    sheet = _fabric_material(rng, sd + 1)
    pillow = Material(Tex.NOISE, _rand_color(rng, (0, 1), (0, 0.3), (0.6, 0.95)), (0.7, 0.7, 0.7), 0.05,
                      (0.3, 0, 0, 0), sd + 2)
    base_h, mat_h = rng.uniform(0.25, 0.4), rng.uniform(0.15, 0.25)
    head_h = rng.uniform(0.8, 1.2)
    parts: list[tuple] = [("box", (0, 0, base_h / 2), (w / 2, length / 2, base_h / 2), frame),
                          ("box", (0, -0.02, base_h + mat_h / 2), (w / 2 - 0.02, length / 2 - 0.04, mat_h / 2), sheet),
                          ("box", (0, length / 2 - 0.03, head_h / 2), (w / 2 + 0.02, 0.03, head_h / 2), frame),
                          ("box", (0, length / 2 - 0.3, base_h + mat_h + 0.07), (w / 2 - 0.1, 0.2, 0.07), pillow)]
    return parts, w, length


def _item_sofa(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d = rng.uniform(1.4, 2.4), rng.uniform(0.8, 0.95)
    fab = _fabric_material(rng, sd)
    seat_h, back_h, arm = rng.uniform(0.38, 0.46), rng.uniform(0.75, 0.95), rng.uniform(0.12, 0.22)
    parts: list[tuple] = [("box", (0, -0.05, seat_h / 2), (w / 2 - arm, d / 2 - 0.05, seat_h / 2), fab),
                          ("box", (0, d / 2 - 0.1, back_h / 2), (w / 2, 0.1, back_h / 2), fab),
                          ("box", (-w / 2 + arm / 2, 0, 0.3), (arm / 2, d / 2, 0.3), fab),
                          ("box", (w / 2 - arm / 2, 0, 0.3), (arm / 2, d / 2, 0.3), fab)]
    return parts, w, d


def _item_cabinet(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d = rng.uniform(0.5, 2.0), rng.uniform(0.4, 0.65)
    h = rng.uniform(0.5, 1.2) if rng.uniform() < 0.6 else rng.uniform(1.7, 2.3)
    c = _rand_color(rng, (0, 1), (0.0, 0.5), (0.1, 0.95))
    rows = int(rng.integers(1, 5))
    mat = Material(Tex.TILES, c, _scale_color(c, 0.35), w / int(rng.integers(1, 4)),
                   (h / rows, 0.012, 0.0, 0.0), sd, 0.05, rng.uniform(0, 0.3))
    if rng.uniform() < 0.4:
        mat = _wood_material(rng, sd)
    parts: list[tuple] = [("box", (0, 0, h / 2), (w / 2, d / 2, h / 2), mat)]
    if h < 1.3 and rng.uniform() < 0.5:  # a TV or a lamp on top
        if rng.uniform() < 0.5:
            tw = min(w / 2, rng.uniform(0.3, 0.7))
            parts.append(("box", (0, 0, h + 0.05 + tw * 0.6), (tw, 0.025, tw * 0.58),
                          Material(Tex.FLAT, (0.02, 0.02, 0.025), specular=0.8)))
            parts.append(("box", (0, 0, h + 0.025), (0.15, 0.1, 0.025), Material(Tex.FLAT, (0.03, 0.03, 0.03))))
        else:
            parts.append(("cyl", (0, 0, h), 0.06, 0.3, Material(Tex.FLAT, _rand_color(rng), specular=0.4)))
            parts.append(("cyl", (0, 0, h + 0.3), 0.16, 0.2, Material(Tex.FLAT, (0.95, 0.9, 0.8), emission=0.5)))
    return parts, w, d


def _item_crates(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    parts: list[tuple] = []
    w, d = rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.7)
    z = 0.0
    for k in range(int(rng.integers(1, 4))):
        bw, bd, bh = w * rng.uniform(0.6, 1.0), d * rng.uniform(0.6, 1.0), rng.uniform(0.2, 0.5)
        c = _rand_color(rng, (0.07, 0.12), (0.3, 0.6), (0.35, 0.75)) if rng.uniform() < 0.6 else _rand_color(rng)
        parts.append(("box", (rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), z + bh / 2), (bw / 2, bd / 2, bh / 2),
                      Material(Tex.NOISE, c, _scale_color(c, 0.85), 0.1, (0.5, 0, 0, 0), sd + k)))
        z += bh
    return parts, w, d


def _item_plant(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    r, h = rng.uniform(0.1, 0.25), rng.uniform(0.2, 0.5)
    pot = Material(Tex.FLAT, _rand_color(rng, (0, 1), (0, 0.6), (0.2, 0.9)), specular=0.3)
    leaves = Material(Tex.FOLIAGE, _rand_color(rng, (0.22, 0.38), (0.5, 0.9), (0.05, 0.2)),
                      _rand_color(rng, (0.2, 0.35), (0.4, 0.8), (0.3, 0.6)), rng.uniform(0.04, 0.1), seed=sd)
    fr, fz = r * rng.uniform(1.3, 2.5), r * rng.uniform(1.5, 4.0)
    return [("cyl", (0, 0, 0), r, h, pot), ("ell", (0, 0, h + fz * 0.8), (fr, fr, fz), leaves)], 2 * fr, 2 * fr


def _item_lamp(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    h = rng.uniform(1.3, 1.8)
    metal = Material(Tex.FLAT, _rand_color(rng, (0, 1), (0, 0.2), (0.05, 0.8)), specular=0.7)
    shade = Material(Tex.NOISE, _rand_color(rng, (0.05, 0.15), (0.0, 0.4), (0.7, 0.95)), (0.8, 0.75, 0.6), 0.05,
                     (0.2, 0, 0, 0), sd, emission=0.6)
    return [("cyl", (0, 0, 0), 0.15, 0.03, metal), ("cyl", (0, 0, 0.03), 0.015, h, metal),
            ("cyl", (0, 0, h - 0.05), rng.uniform(0.15, 0.25), rng.uniform(0.2, 0.3), shade)], 0.4, 0.4


_INDOOR_ITEMS = ((_item_table, 3), (_item_chair, 2), (_item_shelf, 2), (_item_bed, 1), (_item_sofa, 1),
                 (_item_cabinet, 3), (_item_crates, 2), (_item_plant, 1), (_item_lamp, 1))


# walls x = 0, x = width, y = 0 (behind the camera), y = depth
_WALL_ODDS = (0.3, 0.3, 0.05, 0.35)


def build_indoor_scene(seed: int, width: int, height: int, focal_scale: float = 1.0) -> tuple[Scene, Camera]:
    """A random room: walls, floor, ceiling, furniture, wall decorations, 1-3 ceiling lights; NYU-like camera."""
    _check_seed(seed)
    _check_size(width, height)
    rng = np.random.default_rng([int(seed), 0x1D00])
    sc = Scene(max_depth=MAX_DEPTH["indoor"])
    rw, rd, rh = rng.uniform(2.6, 6.5), rng.uniform(3.0, 7.5), rng.uniform(2.3, 3.1)

    # room shell: floor, ceiling, four walls (infinite planes; inside a convex room the nearest is right)
    fl = rng.uniform()
    if fl < 0.4:
        floor = _wood_material(rng, seed)
        floor = Material(Tex.WOOD, floor.color, floor.color2, rng.uniform(0.08, 0.22), floor.params, seed, 0.08,
                         rng.uniform(0.05, 0.3))
    elif fl < 0.65:
        c = _rand_color(rng, (0, 1), (0.0, 0.3), (0.4, 0.95))
        tile = rng.uniform(0.2, 0.8)
        floor = Material(Tex.TILES, c, _scale_color(c, rng.uniform(0.5, 0.8)), tile,
                         (tile * rng.choice([1.0, 1.0, 0.5, 2.0]), rng.uniform(0.003, 0.012), 0.0,
                          rng.uniform(0.0, 0.2)), seed, 0.08, rng.uniform(0.05, 0.4))
    elif fl < 0.75:
        c, c2 = _rand_color(rng, val=(0.4, 0.9), sat=(0, 0.4)), _rand_color(rng, val=(0.05, 0.5), sat=(0, 0.4))
        floor = Material(Tex.CHECKER, c, c2, rng.uniform(0.2, 0.5), seed=seed, specular=0.2)
    else:
        c = _rand_color(rng, (0, 1), (0.05, 0.5), (0.15, 0.7))
        floor = Material(Tex.NOISE, c, _scale_color(c, 0.7), rng.uniform(0.02, 0.3), (rng.uniform(0.3, 1.0), 0, 0, 0),
                         seed, 0.1)
    sc.add_plane((0, 0, 0), (0, 0, 1), floor, axis_u=(1, 0, 0))
    ceil_c = _rand_color(rng, (0, 1), (0.0, 0.08), (0.75, 0.95))
    sc.add_plane((0, 0, rh), (0, 0, -1), Material(Tex.NOISE, ceil_c, _scale_color(ceil_c, 0.92), 0.5,
                                                    (0.3, 0, 0, 0), seed + 1, 0.03), axis_u=(1, 0, 0))
    wall_c = _rand_color(rng, (0.0, 1.0), (0.0, 0.35), (0.45, 0.95))
    # axis_u = up x normal, so every wall's second texture axis points up
    walls = [((0, 0, 0), (1, 0, 0), (0, 1, 0)), ((rw, 0, 0), (-1, 0, 0), (0, -1, 0)),
             ((0, 0, 0), (0, 1, 0), (-1, 0, 0)), ((0, rd, 0), (0, -1, 0), (1, 0, 0))]
    for k, (q, n, a) in enumerate(walls):
        c = wall_c if rng.uniform() < 0.7 else _rand_color(rng, (0, 1), (0.0, 0.7), (0.2, 0.95))
        r = rng.uniform()
        if r < 0.55:
            m = Material(Tex.NOISE, c, _scale_color(c, 0.9), rng.uniform(0.1, 1.0), (0.4, 0, 0, 0), seed + 10 + k,
                         0.05)
        elif r < 0.75:
            m = Material(Tex.STRIPES, c, _scale_color(c, rng.uniform(0.6, 0.9)), rng.uniform(0.05, 0.4),
                         (0.0, rng.uniform(0.2, 0.6), 0, 0), seed + 10 + k, 0.05)
        elif r < 0.87:
            bc = _rand_color(rng, (0.0, 0.08), (0.3, 0.7), (0.25, 0.7))
            m = Material(Tex.TILES, bc, (0.7, 0.68, 0.62), 0.23, (0.075, 0.012, 0.5, 0.3), seed + 10 + k, 0.1)
        else:
            m = Material(Tex.TILES, c, _scale_color(c, 0.7), rng.uniform(0.1, 0.3), (0, 0.004, 0, 0.05),
                         seed + 10 + k, 0.05, 0.2)
        sc.add_plane(q, n, m, axis_u=a)

    # camera: in the back part of the room, looking into it
    cx, cy = rng.uniform(0.5, rw - 0.5), rng.uniform(0.3, max(0.35, 0.3 * rd))
    cz = rng.uniform(1.0, min(1.8, rh - 0.3))
    heading = math.pi / 2 + rng.uniform(-0.7, 0.7)
    pitch, roll = rng.uniform(-0.45, 0.1), rng.uniform(-0.07, 0.07)

    # wall decorations: baseboards, doors, windows, pictures, radiators (thin boxes against the walls)
    base_mat = Material(Tex.FLAT, _rand_color(rng, (0, 1), (0, 0.3), (0.1, 0.95)), seed=seed, specular=0.2)
    bh = rng.uniform(0.05, 0.12)
    if rng.uniform() < 0.7:
        sc.add_box((rw / 2, 0.008, bh / 2), (rw / 2, 0.008, bh / 2), base_mat)
        sc.add_box((rw / 2, rd - 0.008, bh / 2), (rw / 2, 0.008, bh / 2), base_mat)
        sc.add_box((0.008, rd / 2, bh / 2), (0.008, rd / 2, bh / 2), base_mat)
        sc.add_box((rw - 0.008, rd / 2, bh / 2), (0.008, rd / 2, bh / 2), base_mat)
    for _ in range(int(rng.integers(1, 7))):
        wall = int(rng.choice(4, p=_WALL_ODDS))
        length = rw if wall >= 2 else rd
        kind = rng.choice(["door", "window", "picture", "picture", "radiator"])
        if kind == "door":
            w, h, z0, depth = rng.uniform(0.75, 0.95), rng.uniform(1.95, 2.1), 0.0, 0.035
            if rng.uniform() < 0.5:
                m = _wood_material(rng, seed + 20)
            else:  # painted, two panels
                c = _rand_color(rng, sat=(0, 0.3), val=(0.3, 0.95))
                m = Material(Tex.TILES, c, _scale_color(c, 0.8), w, (h / 2, 0.01, 0, 0), seed)
        elif kind == "window":
            w, h, depth = rng.uniform(0.6, 1.8), rng.uniform(0.8, 1.5), 0.03
            z0 = rng.uniform(0.6, max(0.7, rh - h - 0.2))
            m = Material(Tex.TILES, (0.75, 0.85, 0.95), _rand_color(rng, sat=(0, 0.2), val=(0.2, 0.95)),
                         w / int(rng.integers(1, 4)), (h / int(rng.integers(1, 3)), 0.06, 0, 0.1), seed + 21,
                         0.02, 0.5, rng.uniform(0.5, 2.0))
        elif kind == "picture":
            w, h, depth = rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.9), 0.025
            z0 = rng.uniform(1.1, max(1.2, min(rh - h - 0.2, 1.9)))
            c1, c2 = _rand_color(rng), _rand_color(rng)
            m = Material(int(rng.choice([Tex.NOISE, Tex.STRIPES, Tex.CHECKER])), c1, c2, rng.uniform(0.03, 0.3),
                         (rng.uniform(0.5, 2), 0.5, 0, 0), seed + 22, 0.1, 0.3)
        else:
            w, h, z0, depth = rng.uniform(0.6, 1.4), rng.uniform(0.4, 0.6), 0.15, 0.08
            m = Material(Tex.STRIPES, (0.9, 0.9, 0.88), (0.6, 0.6, 0.6), 0.06, (0.0, 0.7, 0, 0), seed, 0.02, 0.3)
        if length < w + 0.4:
            continue
        pos = rng.uniform(w / 2 + 0.1, length - w / 2 - 0.1)
        if wall == 0:
            ctr, half = (depth / 2, pos, z0 + h / 2), (depth / 2, w / 2, h / 2)
        elif wall == 1:
            ctr, half = (rw - depth / 2, pos, z0 + h / 2), (depth / 2, w / 2, h / 2)
        elif wall == 2:
            ctr, half = (pos, depth / 2, z0 + h / 2), (w / 2, depth / 2, h / 2)
        else:
            ctr, half = (pos, rd - depth / 2, z0 + h / 2), (w / 2, depth / 2, h / 2)
        sc.add_box(ctr, half, m)

    # furniture: along walls (back to the wall) or free-standing, never on the camera
    placer = _Placer([(cx, cy, 0.9), (cx + 0.8 * math.cos(heading), cy + 0.8 * math.sin(heading), 0.5)])
    weights = np.array([w for _, w in _INDOOR_ITEMS], dtype=np.float64)
    for k in range(int(rng.integers(4, 14))):
        fn = _INDOOR_ITEMS[int(rng.choice(len(_INDOOR_ITEMS), p=weights / weights.sum()))][0]
        parts, w, d = fn(rng, seed * 31 + k)
        r = 0.5 * math.hypot(w, d)
        for _ in range(8):
            if rng.uniform() < 0.6:  # against a wall (rarely the one behind the camera), facing into the room
                wall = int(rng.choice(4, p=_WALL_ODDS))
                along = rw if wall >= 2 else rd
                if along < w + 0.1:
                    continue
                pos = rng.uniform(w / 2 + 0.05, along - w / 2 - 0.05)
                gap = d / 2 + 0.02
                x, y, yaw = {0: (gap, pos, math.pi / 2), 1: (rw - gap, pos, -math.pi / 2),
                             2: (pos, gap, math.pi), 3: (pos, rd - gap, 0.0)}[wall]
                rr = min(r, 0.5 * max(w, d) * 0.8)
            else:  # free-standing, mostly in the camera's view
                ang, dist = heading + rng.uniform(-0.6, 0.6), rng.uniform(1.2, 5.0)
                x = float(np.clip(cx + dist * math.cos(ang), r, max(r + 1e-3, rw - r)))
                y = float(np.clip(cy + dist * math.sin(ang), r, max(r + 1e-3, rd - r)))
                yaw, rr = rng.uniform(0, 2 * math.pi), r
            if placer.free(x, y, rr):
                placer.take(x, y, rr)
                _add_parts(sc, parts, x, y, yaw)
                break

    # lights: 1-3 ceiling lights with fixtures, warm to cool, plus ambient
    n_lights = int(rng.integers(1, 4))
    total = rng.uniform(3.0, 8.0)
    fixture = Material(Tex.FLAT, (1.0, 0.98, 0.92), emission=3.0)
    for _ in range(n_lights):
        lx, ly = rng.uniform(0.4, rw - 0.4), rng.uniform(0.4, rd - 0.4)
        warm = rng.uniform(0, 1)
        col = np.array([1.0, 0.88 + 0.1 * warm, 0.7 + 0.3 * warm]) * total / n_lights * rng.uniform(0.6, 1.4)
        lz = rh - rng.uniform(0.15, 0.5)
        sc.add_cylinder((lx, ly, lz + 0.05), rng.uniform(0.08, 0.25), rh - lz - 0.05, fixture)
        sc.lights.append(PointLight((lx, ly, lz), tuple(float(c) for c in col), shadow=True))
    amb = rng.uniform(0.15, 0.45)
    sc.ambient = tuple(float(amb * c) for c in (1.0, rng.uniform(0.95, 1.02), rng.uniform(0.9, 1.05)))
    sc.post = _random_post(rng, seed)

    K = _zoomed(default_intrinsics("indoor", width, height, rng), focal_scale)
    cam = camera_from_angles(width, height, K, (cx, cy, cz), heading, pitch, roll)
    return sc, cam


def _random_post(rng: np.random.Generator, seed: int) -> PostFX:
    return PostFX(exposure_key=rng.uniform(0.13, 0.3), noise_sigma=rng.uniform(0.002, 0.015),
                  blur=rng.uniform(0.2, 0.8), vignette=rng.uniform(0.0, 0.3),
                  white_balance=tuple(float(x) for x in rng.uniform(0.92, 1.08, 3)), seed=int(seed))


_CAR_COLORS = ((0.8, 0.8, 0.8), (0.5, 0.52, 0.55), (0.04, 0.04, 0.045), (0.55, 0.05, 0.04), (0.05, 0.12, 0.4),
               (0.25, 0.26, 0.28), (0.7, 0.68, 0.6), (0.1, 0.25, 0.12))


def _add_car(sc: Scene, rng: np.random.Generator, x: float, y: float, yaw: float, seed: int) -> None:
    if rng.uniform() < 0.12:  # van / small truck
        length, w, body_h, cab_h = rng.uniform(4.8, 6.5), rng.uniform(1.9, 2.2), rng.uniform(1.6, 2.2), 0.0
    else:
        length, w, body_h, cab_h = rng.uniform(3.7, 4.9), rng.uniform(1.65, 1.9), rng.uniform(0.6, 0.85), rng.uniform(
            0.4, 0.55)
    if rng.uniform() < 0.7:
        col = _CAR_COLORS[int(rng.integers(0, len(_CAR_COLORS)))]
    else:
        col = _rand_color(rng, (0, 1), (0.3, 0.9), (0.1, 0.8))
    paint = Material(Tex.FLAT, _scale_color(col, rng.uniform(0.85, 1.15)), seed=seed, roughness=0.03, specular=0.9)
    glass = Material(Tex.NOISE, (0.05, 0.06, 0.08), (0.2, 0.22, 0.25), 0.4, (0.5, 0, 0, 0), seed, 0.02, 1.2)
    tyre = Material(Tex.FLAT, (0.03, 0.03, 0.03), seed=seed)
    clear = 0.28
    sc.add_box((x, y, clear + body_h / 2), (w / 2, length / 2, body_h / 2), paint, yaw)
    c, s = math.cos(yaw), math.sin(yaw)
    if cab_h > 0:
        off = rng.uniform(-0.25, 0.05) * length
        cab_l = length * rng.uniform(0.45, 0.6)
        sc.add_box((x - s * off, y + c * off, clear + body_h + cab_h / 2), (w / 2 - 0.08, cab_l / 2, cab_h / 2),
                   glass, yaw)
    else:
        sc.add_box((x - s * (length / 2 - 0.02), y + c * (length / 2 - 0.02), clear + body_h * 0.7),
                   (w / 2 - 0.1, 0.03, body_h * 0.2), glass, yaw)
    for a in (-1, 1):  # axles: a dark box across the car reads as the pair of wheels
        off = a * (length / 2 - 0.85)
        sc.add_box((x - s * off, y + c * off, 0.32), (w / 2 + 0.01, 0.33, 0.32), tyre, yaw)


def build_outdoor_scene(seed: int, width: int, height: int, focal_scale: float = 1.0) -> tuple[Scene, Camera]:
    """A random street: road with markings, kerbs, pavements, façades, cars, poles, trees, sky; KITTI-like camera."""
    _check_seed(seed)
    _check_size(width, height)
    rng = np.random.default_rng([int(seed), 0x0D00])
    sc = Scene(max_depth=MAX_DEPTH["outdoor"])
    lanes = int(rng.choice([1, 2, 2, 3, 4]))
    lane_w = rng.uniform(2.9, 3.6)
    half = lanes * lane_w / 2  # driving lanes; parking strips or shoulders lie outside them
    cross = rng.uniform(12, 45) if rng.uniform() < 0.25 else -1.0
    asphalt = _rand_color(rng, (0.0, 1.0), (0.0, 0.08), (0.08, 0.25))
    paint = (0.85, 0.85, 0.82) if rng.uniform() < 0.8 else (0.85, 0.7, 0.2)
    sc.add_plane((0, 0, 0), (0, 0, 1), Material(Tex.ROAD, asphalt, paint, 1.0,
                                                (half, lanes, rng.uniform(2.0, 4.0), cross), seed, 0.1, 0.05),
                 axis_u=(1, 0, 0))
    y_min, y_max = -20.0, 260.0
    ylen, ymid = y_max - y_min, (y_max + y_min) / 2
    kerb_h = rng.uniform(0.1, 0.17)
    pave_c = _rand_color(rng, (0.0, 1.0), (0.0, 0.15), (0.3, 0.6))
    slab = rng.uniform(0.3, 1.0)
    pave = Material(Tex.TILES, pave_c, _scale_color(pave_c, 0.7), slab, (slab, 0.01, rng.choice([0.0, 0.5]), 0.15),
                    seed + 1, 0.12)
    kerb = Material(Tex.NOISE, (0.55, 0.55, 0.53), (0.4, 0.4, 0.4), 0.3, (0.4, 0, 0, 0), seed + 2)
    grass = Material(Tex.FOLIAGE, _rand_color(rng, (0.2, 0.3), (0.5, 0.8), (0.08, 0.2)),
                     _rand_color(rng, (0.18, 0.3), (0.4, 0.8), (0.2, 0.4)), 0.08, seed=seed + 3)
    city = rng.uniform() < 0.65
    sides = []  # (side, kerb offset from the road centre, pavement width, has parking)
    for side in (-1, 1):
        parking = rng.uniform() < 0.75
        edge = half + (rng.uniform(2.0, 2.6) if parking else rng.uniform(0.3, 0.8))
        pw = rng.uniform(2.0, 5.0)
        sc.add_box((side * (edge + 0.1), ymid, kerb_h / 2), (0.1, ylen / 2, kerb_h / 2), kerb)
        if rng.uniform() < 0.3:  # grass verge on the outer part
            gw = pw * rng.uniform(0.3, 0.6)
            sc.add_box((side * (edge + 0.2 + (pw - gw) / 2), ymid, kerb_h / 2), ((pw - gw) / 2, ylen / 2, kerb_h / 2),
                       pave)
            sc.add_box((side * (edge + 0.2 + pw - gw / 2), ymid, kerb_h / 2), (gw / 2, ylen / 2, kerb_h / 2), grass)
        else:
            sc.add_box((side * (edge + 0.2 + pw / 2), ymid, kerb_h / 2), (pw / 2, ylen / 2, kerb_h / 2), pave)
        sides.append((side, edge, pw, parking))

    # buildings along both sides, with gaps (side streets) and a second row behind
    for side, edge, pw, _ in sides:
        y = rng.uniform(-25.0, -5.0)
        front = edge + 0.2 + pw
        while y < 200.0:
            if rng.uniform() < 0.2:
                y += rng.uniform(6.0, 18.0)
                continue
            blen = rng.uniform(8.0, 30.0)
            setback = rng.uniform(0.0, 4.0) if rng.uniform() < 0.6 else 0.0
            depth = rng.uniform(8.0, 20.0)
            h = rng.uniform(8.0, 30.0) if city else rng.uniform(4.5, 10.0)
            _add_building(sc, rng, side * (front + setback + depth / 2), y + blen / 2, blen, depth, h)
            if setback > 1.0 and rng.uniform() < 0.5:  # front yard
                sc.add_box((side * (front + setback / 2), y + blen / 2, 0.05), (setback / 2, blen / 2, 0.05), grass)
            y += blen + rng.uniform(0.0, 1.5)
        for _ in range(int(rng.integers(2, 7))):
            _add_building(sc, rng, side * (front + rng.uniform(25.0, 60.0)), rng.uniform(0, 200), rng.uniform(15, 40),
                          rng.uniform(10, 25), rng.uniform(10.0, 45.0))
    if rng.uniform() < 0.45:  # the street ends at a building across it
        _add_building(sc, rng, rng.uniform(-10, 10), rng.uniform(80.0, 260.0), 20.0, rng.uniform(40, 80),
                      rng.uniform(8, 40))

    # cars: parked along the kerbs, some driving in the lanes (never on the camera)
    cam_lane = int(rng.integers(0, lanes))
    cam_x = -half + (cam_lane + 0.5) * lane_w + rng.uniform(-0.3, 0.3)
    for side, edge, _, parking in sides:
        if not parking:
            continue
        y = rng.uniform(-2.0, 8.0)
        while y < 90.0:
            length = rng.uniform(4.0, 5.0)
            if rng.uniform() < 0.75:
                _add_car(sc, rng, side * (edge - 1.05 - rng.uniform(0, 0.15)), y + length / 2,
                         rng.uniform(-0.04, 0.04), seed + int(y * 10))
            y += length + rng.uniform(0.6, 6.0)
    for _ in range(int(rng.integers(0, 6))):
        lane = int(rng.integers(0, lanes))
        yy = rng.uniform(8.0, 75.0)
        if lane == cam_lane and yy < 12.0:
            continue
        _add_car(sc, rng, -half + (lane + 0.5) * lane_w + rng.uniform(-0.3, 0.3), yy, rng.uniform(-0.05, 0.05),
                 seed + int(yy * 7))

    # street lights, sign posts, trees on the pavements
    metal = Material(Tex.FLAT, _rand_color(rng, (0, 1), (0, 0.3), (0.15, 0.5)), seed=seed, specular=0.4)
    for side, edge, pw, _ in sides:
        y = rng.uniform(0.0, 20.0)
        spacing = rng.uniform(18.0, 35.0)
        while y < 160.0:
            x = side * (edge + 0.6)
            hh = rng.uniform(6.0, 9.0)
            sc.add_cylinder((x, y, kerb_h), rng.uniform(0.07, 0.12), hh, metal)
            sc.add_box((x - side * 0.8, y, kerb_h + hh - 0.05), (0.8, 0.08, 0.06), metal)
            sc.add_box((x - side * 1.5, y, kerb_h + hh - 0.15), (0.3, 0.15, 0.06),
                       Material(Tex.FLAT, (0.9, 0.9, 0.85), emission=0.3))
            y += spacing
        for _ in range(int(rng.integers(0, 4))):
            y, x, sh = rng.uniform(3.0, 70.0), side * (edge + 0.5), rng.uniform(2.2, 3.0)
            sc.add_cylinder((x, y, kerb_h), 0.04, sh, metal)
            sign_c = [(0.8, 0.1, 0.1), (0.1, 0.2, 0.7), (0.9, 0.75, 0.1), (0.9, 0.9, 0.9)][int(rng.integers(0, 4))]
            sc.add_box((x, y - 0.05, kerb_h + sh + 0.25), (0.3, 0.02, 0.3),
                       Material(Tex.FLAT, sign_c, seed=seed, specular=0.3))
        if rng.uniform() < 0.7:
            y = rng.uniform(0.0, 12.0)
            step = rng.uniform(7.0, 16.0)
            trunk = Material(Tex.NOISE, (0.2, 0.14, 0.09), (0.1, 0.07, 0.05), 0.15, (0.8, 0, 0, 0), seed + 5)
            leaves = Material(Tex.FOLIAGE, _rand_color(rng, (0.2, 0.33), (0.5, 0.9), (0.04, 0.15)),
                              _rand_color(rng, (0.18, 0.3), (0.4, 0.8), (0.2, 0.45)), rng.uniform(0.2, 0.5),
                              seed=seed + 6)
            while y < 130.0:
                x = side * (edge + 0.2 + pw * rng.uniform(0.55, 0.8))
                th, tr = rng.uniform(2.0, 3.5), rng.uniform(0.1, 0.25)
                sc.add_cylinder((x, y, kerb_h), tr, th + 0.5, trunk)
                rx, rz = rng.uniform(1.2, 2.6), rng.uniform(1.4, 3.2)
                sc.add_ellipsoid((x, y, kerb_h + th + rz * 0.7), (rx, rx * rng.uniform(0.85, 1.15), rz), leaves)
                y += step * rng.uniform(0.8, 1.2)

    # sky, sun, haze
    overcast = rng.uniform() < 0.25
    if overcast:
        g = rng.uniform(0.6, 0.85)
        sky = Sky((g * 0.9, g * 0.92, g), (g, g, g * 1.02), (g * 1.05, g * 1.05, g * 1.05), rng.uniform(0.6, 1.0),
                  seed)
        sun_i, amb_i = rng.uniform(0.3, 0.8), rng.uniform(1.0, 1.4)
    else:
        zen = _rand_color(rng, (0.55, 0.62), (0.5, 0.8), (0.5, 0.85))
        sky = Sky(zen, (0.72, 0.8, 0.92), (1.0, 1.0, 1.0), rng.uniform(0.0, 0.6), seed)
        sun_i, amb_i = rng.uniform(3.0, 5.0), rng.uniform(0.45, 0.8)
    sc.sky = sky
    elev, azim = rng.uniform(math.radians(15), math.radians(65)), rng.uniform(0, 2 * math.pi)
    sun_dir = (math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev))
    warm = rng.uniform(0.85, 1.0)
    sc.lights.append(DirectionalLight(sun_dir, (sun_i, sun_i * warm, sun_i * warm * warm), shadow=not overcast))
    sc.ambient = tuple(float(amb_i * c) for c in np.asarray(sky.zenith) * 0.5 + 0.5 * np.asarray(sky.horizon))
    sc.haze_distance = rng.uniform(300.0, 1500.0)
    sc.shadow_region = ((cam_x - 45.0, -5.0, 0.0), (cam_x + 45.0, 85.0, 12.0))
    sc.post = _random_post(rng, seed)

    K = _zoomed(default_intrinsics("outdoor", width, height, rng), focal_scale)
    heading = math.pi / 2 + rng.uniform(-0.1, 0.1)
    cam = camera_from_angles(width, height, K, (cam_x, 0.0, rng.uniform(1.55, 1.75)), heading,
                             rng.uniform(-0.05, 0.03), rng.uniform(-0.025, 0.025))
    return sc, cam


def _add_building(sc: Scene, rng: np.random.Generator, x: float, y: float, length: float, depth: float,
                  height: float) -> None:
    """A box building, `length` along the street (y) and `depth` across it, with a window façade texture."""
    bricks = rng.uniform() < 0.35
    if bricks:
        wall = _rand_color(rng, (0.0, 0.07), (0.35, 0.7), (0.25, 0.6))
    else:
        wall = _rand_color(rng, (0.0, 1.0), (0.0, 0.35), (0.35, 0.9))
    glass = _rand_color(rng, (0.5, 0.65), (0.05, 0.4), (0.06, 0.25))
    storey = rng.uniform(2.8, 3.8)
    mat = Material(Tex.FACADE, wall, glass, rng.uniform(1.8, 4.0), (storey, rng.uniform(0.3, 0.65),
                                                                     rng.uniform(0.35, 0.6), float(bricks)),
                   int(rng.integers(0, 65536)), 0.08, 0.15)
    sc.add_box((x, y, height / 2), (depth / 2, length / 2, height / 2), mat)


# ----------------------------------------------------------------------------------------------------------
# public entry points


def render_scene(seed: int, kind: str, width: int, height: int, *, device: str | torch.device = "cpu",
                 sparse_lidar: bool = False, focal_scale: float = 1.0) -> ProceduralSample:
    """Render the procedural scene of `seed` and `kind` at width x height.

    Deterministic: the same arguments give bit-identical RGB and depth on the CPU.  `sparse_lidar` keeps depth
    only where the simulated 64-beam LiDAR samples (KITTI-like ground truth).  `focal_scale` zooms the camera
    (both focal lengths times it) without changing the scene.
    """
    _check_kind(kind)
    _check_seed(seed)
    _check_size(width, height)
    dev = _device(device)
    build = build_indoor_scene if kind == "indoor" else build_outdoor_scene
    scene, cam = build(int(seed), int(width), int(height), float(focal_scale))
    out = render(scene, cam, dev)
    depth = out.depth
    if sparse_lidar:
        depth = torch.where(lidar_mask(depth, cam), depth, 0.0)
    return ProceduralSample(rgb=out.rgb.cpu().numpy(), depth=depth.float().cpu().numpy(), intrinsics=cam.K.copy(),
                            range_label=RANGE_LABELS[kind], kind=kind, seed=int(seed))


class ProceduralDataset(Dataset):
    """Procedural scenes as training samples (the package's shared sample dict), rendered on each read.

    Sample i uses seed seeds[i] and kind kinds[i % len(kinds)]; size is (width, height) or None for the
    kind's default (indoor 320x240, outdoor 1248x384).  Tensors are returned on the CPU whatever the render
    device, so a DataLoader can collate them; render on "cuda" only with num_workers=0 (CUDA cannot be used
    in forked DataLoader workers).  `focal_range` (low, high) zooms each scene's camera by a log-uniform factor
    fixed per seed (canonical-focal training sees many fields of view); `focal_scale` zooms every scene by
    one factor (the focal test).
    """

    def __init__(self, seeds: Sequence[int] | range, kinds: Sequence[str] = ("indoor", "outdoor"),
                 size: tuple[int, int] | None = None, sparse_lidar: bool = False,
                 device: str | torch.device = "cpu", focal_range: Sequence[float] | None = None,
                 focal_scale: float = 1.0):
        if isinstance(kinds, str):
            kinds = (kinds,)
        if len(kinds) == 0:
            raise ValueError("kinds must name at least one of 'indoor', 'outdoor'")
        for k in kinds:
            _check_kind(k)
        self.seeds = list(seeds)
        for s in self.seeds:
            _check_seed(s)
        if size is not None:
            if len(size) != 2:
                raise ValueError(f"size must be (width, height), got {size!r}")
            _check_size(size[0], size[1])
            size = (int(size[0]), int(size[1]))
        self.kinds = tuple(kinds)
        self.size = size
        self.sparse_lidar = bool(sparse_lidar)
        self.device = _device(device)
        self.focal_range = None if focal_range is None else (float(focal_range[0]), float(focal_range[1]))
        if self.focal_range is not None:
            focal_scale_of(0, self.focal_range)  # validates the range
        _zoomed(np.eye(3), float(focal_scale))  # validates the scale
        self.focal_scale = float(focal_scale)

    def __len__(self) -> int:
        return len(self.seeds)

    def kind_of(self, i: int) -> str:
        """The kind of sample i (without rendering it)."""
        return self.kinds[i % len(self.kinds)]

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} procedural samples")
        i = i % len(self)
        kind = self.kind_of(i)
        w, h = self.size if self.size is not None else DEFAULT_SIZES[kind]
        zoom = self.focal_scale
        if self.focal_range is not None:
            zoom *= focal_scale_of(self.seeds[i], self.focal_range)
        s = render_scene(self.seeds[i], kind, w, h, device=self.device, sparse_lidar=self.sparse_lidar,
                         focal_scale=zoom)
        return {"rgb": torch.from_numpy(s.rgb).permute(2, 0, 1).float() / 255.0,
                "depth": torch.from_numpy(s.depth)[None],
                "intrinsics": torch.from_numpy(s.intrinsics).float(),
                "range": RANGE_INDEX[s.range_label],
                "name": f"procedural_{kind}_{s.seed:07d}"}

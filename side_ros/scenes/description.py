"""Scene description: what a procedural scene is made of, the reference cameras, and the argument checks.

Scenes are analytic primitives (planes, yaw-rotated boxes, vertical cylinders, axis-aligned ellipsoids) with
procedural materials, point lights or the sun, an optional sky, and camera effects.  A `Scene` is plain data built
with its add_* methods; nothing here renders (see raycast.py and shading.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import torch

KINDS = ("indoor", "outdoor")
# Indoor: a Kinect-like range cap as in NYU; outdoor: the KITTI benchmark's 80 m cap.
MAX_DEPTH = {"indoor": 10.0, "outdoor": 80.0}
SCENE_STREAM = {"indoor": 0x1D00, "outdoor": 0x0D00}  # each kind draws a seed's scene from its own random stream
# (fx, fy, cx, cy, width, height) of the reference cameras.
NYU_CAMERA = (518.8579, 519.4696, 325.5824, 253.7362, 640, 480)
KITTI_CAMERA = (721.5377, 721.5377, 609.5593, 172.854, 1242, 375)
FOCAL_JITTER = 0.10
CENTER_JITTER = 0.02

INF = float("inf")

PLANE, BOX, CYLINDER, ELLIPSOID = 0, 1, 2, 3  # primitive kinds (Prim.kind)


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
        return [
            float(self.tex),
            *self.color,
            *self.color2,
            self.scale,
            *p[:4],
            float(self.seed % 65536),
            self.roughness,
            self.specular,
            self.emission,
        ]


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
class Prim:
    """One primitive as the tracer reads it: kind, 16 geometry values, bounding corners, material index."""

    kind: int
    geom: list[float]  # 16 floats, layout per kind (see Scene.add_*)
    corners: np.ndarray | None  # (n, 3) points whose convex hull bounds the primitive; None = unbounded
    material: int


@dataclass
class Scene:
    """Primitives, materials and lights in the z-up world frame; build with the add_* methods."""

    prims: list[Prim] = field(default_factory=list)
    materials: list[Material] = field(default_factory=list)
    lights: list[PointLight | DirectionalLight] = field(default_factory=list)
    ambient: tuple[float, float, float] = (0.3, 0.3, 0.3)
    sky: Sky | None = None
    haze_distance: float = INF
    max_depth: float = INF
    post: PostFX = field(default_factory=PostFX)
    shadow_region: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None  # sun map bounds

    def _material(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def add_plane(
        self,
        point: Sequence[float],
        normal: Sequence[float],
        material: Material,
        axis_u: Sequence[float] | None = None,
        half_extent: tuple[float, float] = (INF, INF),
    ) -> int:
        """A plane (or a rectangle, with finite half extents along axis_u and normal x axis_u)."""
        n = unit(normal)
        if axis_u is None:
            axis_u = (1.0, 0.0, 0.0) if abs(n[0]) < 0.9 else (0.0, 1.0, 0.0)
        a1 = np.asarray(axis_u, dtype=np.float64)
        a1 = unit(a1 - n * float(a1 @ n))
        a2 = np.cross(n, a1)
        q = np.asarray(point, dtype=np.float64)
        e1, e2 = float(half_extent[0]), float(half_extent[1])
        corners = None
        if math.isfinite(e1) and math.isfinite(e2):
            corners = np.array([q + s1 * e1 * a1 + s2 * e2 * a2 for s1 in (-1, 1) for s2 in (-1, 1)])
        geom = [*q, *n, *a1, *a2, e1, e2]
        self.prims.append(Prim(PLANE, _pad(geom), corners, self._material(material)))
        return len(self.prims) - 1

    def add_box(self, center: Sequence[float], half_size: Sequence[float], material: Material, yaw: float = 0.0) -> int:
        """A box rotated by `yaw` (rad) about the vertical axis; local x = (cos, sin, 0)."""
        c, s = math.cos(yaw), math.sin(yaw)
        ctr = np.asarray(center, dtype=np.float64)
        h = np.abs(np.asarray(half_size, dtype=np.float64))
        if h.shape != (3,) or not np.all(h > 0):
            raise ValueError(f"a box needs three positive half sizes, got {half_size!r}")
        ax, ay = np.array([c, s, 0.0]), np.array([-s, c, 0.0])
        corners = np.array(
            [
                ctr + i * h[0] * ax + j * h[1] * ay + k * np.array([0, 0, h[2]])
                for i in (-1, 1)
                for j in (-1, 1)
                for k in (-1, 1)
            ]
        )
        self.prims.append(Prim(BOX, _pad([*ctr, *h, c, s]), corners, self._material(material)))
        return len(self.prims) - 1

    def add_cylinder(self, base: Sequence[float], radius: float, height: float, material: Material) -> int:
        """A closed vertical cylinder standing on `base` (x, y, z)."""
        if not (radius > 0 and height > 0):
            raise ValueError(f"a cylinder needs a positive radius and height, got {radius}, {height}")
        x, y, z0 = (float(v) for v in base)
        z1 = z0 + float(height)
        corners = np.array([[x + i * radius, y + j * radius, z] for i in (-1, 1) for j in (-1, 1) for z in (z0, z1)])
        self.prims.append(Prim(CYLINDER, _pad([x, y, z0, z1, float(radius)]), corners, self._material(material)))
        return len(self.prims) - 1

    def add_ellipsoid(self, center: Sequence[float], radii: Sequence[float], material: Material) -> int:
        """An axis-aligned ellipsoid (a sphere when the radii are equal)."""
        c = np.asarray(center, dtype=np.float64)
        r = np.abs(np.asarray(radii, dtype=np.float64))
        if r.shape != (3,) or not np.all(r > 0):
            raise ValueError(f"an ellipsoid needs three positive radii, got {radii!r}")
        corners = np.array([c + r * np.array([i, j, k]) for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)])
        self.prims.append(Prim(ELLIPSOID, _pad([*c, *r]), corners, self._material(material)))
        return len(self.prims) - 1


@dataclass(frozen=True)
class Camera:
    """Pinhole camera: K (3x3), rotation whose columns are the camera x, y, z axes in the world, position."""

    width: int
    height: int
    K: np.ndarray
    rotation: np.ndarray
    position: np.ndarray


# ----------------------------------------------------------------------------------------------------------
# argument checks and cameras


def _pad(values: Sequence[float], n: int = 16) -> list[float]:
    out = [float(v) for v in values]
    return out + [0.0] * (n - len(out))


def unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        raise ValueError("a direction vector must not be zero")
    return a / norm


def check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer number of pixels, got {value!r}")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def new_scene(kind: str, seed: int, width: int, height: int) -> tuple[Scene, np.random.Generator]:
    """How every builder begins: checked arguments, an empty scene of the kind, and the seed's random stream."""
    check_kind(kind)
    check_seed(seed)
    check_size(width, height)
    return Scene(max_depth=MAX_DEPTH[kind]), np.random.default_rng([int(seed), SCENE_STREAM[kind]])


def torch_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc


def default_intrinsics(kind: str, width: int, height: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """K of the kind's reference camera (NYU or KITTI) rescaled to width x height, optionally jittered.

    Scaling x and y separately is what resizing a real image does; the jitter (focal +-10%, principal point
    +-2% of the size) keeps a network from tying depth to one field of view.
    """
    check_kind(kind)
    check_size(width, height)
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


def zoomed(K: np.ndarray, focal_scale: float) -> np.ndarray:
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


def camera_from_angles(
    width: int,
    height: int,
    K: np.ndarray,
    position: Sequence[float],
    heading: float,
    pitch: float = 0.0,
    roll: float = 0.0,
) -> Camera:
    """A camera at `position` looking along `heading` (rad from +x towards +y), pitched up by `pitch`, rolled.

    Heading pi/2 with zero pitch and roll looks along +y with image x = world +x and image y = world -z.
    """
    check_size(width, height)
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must be a 3x3 camera matrix with positive focal lengths, got {K!r}")
    fwd = np.array([math.cos(heading) * math.cos(pitch), math.sin(heading) * math.cos(pitch), math.sin(pitch)])
    right = unit(np.cross(fwd, [0.0, 0.0, 1.0])) if abs(fwd[2]) < 0.999 else np.array([1.0, 0.0, 0.0])
    down = np.cross(fwd, right)
    c, s = math.cos(roll), math.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    R = np.stack([right, down, fwd], axis=1)
    return Camera(int(width), int(height), K, R, np.asarray(position, dtype=np.float64))

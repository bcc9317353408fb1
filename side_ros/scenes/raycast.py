"""Ray casting: the nearest primitive along every ray, vectorized over pixels and primitives.

Primitives of one type are intersected together with every pixel inside their projected bounding rectangles
(one flat tensor of (pixel, primitive) pairs, reduced with a scatter-min), so the work follows the covered area
and there is no Python loop over pixels or primitives.  A perspective view gives the camera image, an
orthographic one the sun's shadow map; both go through the same `trace`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from side_ros.scenes.description import BOX, CYLINDER, ELLIPSOID, INF, PLANE, Camera, Prim, unit

_EPS = 1e-4


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
    return torch.where(ok, t, INF)


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
    return torch.where((tmax >= tmin) & (tmin > _EPS), tmin, INF)


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
    best = torch.where((disc >= 0) & (t > _EPS) & (z >= z0) & (z <= z1), t, INF)
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
    return torch.where((disc >= 0) & (t > _EPS), t, INF)


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


class PerspectiveView:
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


class OrthoView:
    """Parallel rays along `forward` from a plane spanned by right/down: the sun's shadow map."""

    def __init__(
        self, forward: np.ndarray, region_lo: np.ndarray, region_hi: np.ndarray, texels: int, device: torch.device
    ):
        f = unit(forward)
        up = np.array([0.0, 0.0, 1.0]) if abs(f[2]) < 0.95 else np.array([1.0, 0.0, 0.0])
        right = unit(np.cross(f, up))
        down = np.cross(f, right)
        corners = np.array(
            [
                [x, y, z]
                for x in (region_lo[0], region_hi[0])
                for y in (region_lo[1], region_hi[1])
                for z in (region_lo[2], region_hi[2])
            ]
        )
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
        self.o = tuple(
            (self.origin_point[k] + right[k] * (i + 0.5) * self.texel + down[k] * (j + 0.5) * self.texel)
            .float()
            .reshape(-1)
            for k in range(3)
        )
        self.d = tuple(torch.tensor(float(f[k]), device=device) for k in range(3))

    def rects(self, corners: np.ndarray) -> np.ndarray:
        rel = corners - self.origin_point
        out = _rects(rel @ self.right / self.texel - 0.5, rel @ self.down / self.texel - 0.5, self.width, self.height)
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


def trace(
    prims: Sequence[Prim], view: PerspectiveView | OrthoView, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest hit per pixel: t (H, W) (inf = miss) and primitive index (H, W) (-1 = miss).

    Unbounded planes are tested against every pixel.  Bounded primitives are batched per type: every
    (pixel, primitive) pair inside the primitive's projected bounding rectangle is one element of a flat tensor,
    and the nearest hit per pixel is a scatter-min of (t, index) keys, so the work is proportional to the
    covered area and there is no Python loop over primitives.
    """
    if len(prims) > _NO_PRIM:
        raise ValueError(f"a scene may hold at most {_NO_PRIM} primitives, got {len(prims)}")
    n = view.height * view.width
    key = torch.full((n,), (int(np.float32(np.inf).view(np.int32)) << 20) | _NO_PRIM, dtype=torch.int64, device=device)
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
        G = torch.tensor(
            [prims[i].geom[: _GEOM_SIZE[kind]] for i in ids], device=device, dtype=torch.float32
        ).T.contiguous()
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

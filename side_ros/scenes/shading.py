"""Shading and rendering: surfaces, textures, lights with shadow maps, sky and haze, then the camera's effects.

Shading works on flat per-hit tensors, vectors channel-first (3, n) so that components are contiguous rows.
Shadows are shadow maps traced with the same ray caster (a downward perspective map per ceiling light, an
orthographic map over the scene's shadow region for the sun).  `render` is the one entry point: trace, shade,
post-process to 8-bit RGB, and depth Z along the optical axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from side_ros.scenes.description import (
    BOX,
    CYLINDER,
    PLANE,
    Camera,
    DirectionalLight,
    PointLight,
    PostFX,
    Prim,
    Scene,
    Sky,
    check_size,
    torch_device,
    unit,
)
from side_ros.scenes.raycast import OrthoView, PerspectiveView, trace
from side_ros.scenes.textures import fbm, footprints, groups, lerp, put, sel, texture


@dataclass
class RenderOutput:
    """Rendered tensors on the render device: rgb (H, W, 3) uint8, depth (H, W) float32 (0 = invalid)."""

    rgb: torch.Tensor
    depth: torch.Tensor
    prim_index: torch.Tensor  # (H, W) int64, -1 where nothing was hit


def _surface(
    kind: torch.Tensor, G: torch.Tensor, p: torch.Tensor, d: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit normal (3, n) facing the viewer and texture coordinates s, t (metres) of hits p on primitives G."""
    n = p.shape[1]
    N = torch.empty((3, n), device=p.device)
    S = torch.empty(n, device=p.device)
    T = torch.empty(n, device=p.device)
    for k, m in groups(kind, 4):
        g, q = sel(G, m), sel(p, m)
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
            nn = torch.stack(
                [
                    torch.where(on_x, c * sx, torch.where(on_y, -sn * sy, 0.0)),
                    torch.where(on_x, sn * sx, torch.where(on_y, c * sy, 0.0)),
                    torch.where(on_z, torch.sign(lz), 0.0),
                ]
            )
            s = torch.where(on_x, ly + h[1], lx + h[0])
            t = torch.where(on_z, ly + h[1], lz + h[2])
        elif k == CYLINDER:
            rx, ry, z = q[0] - g[0], q[1] - g[1], q[2]
            z0, z1, r = g[2], g[3], g[4]
            rho = torch.sqrt(rx * rx + ry * ry).clamp(min=1e-9)
            dt, db = (z - z1).abs(), (z - z0).abs()
            cap = torch.minimum(dt, db) < (rho - r).abs()
            nn = torch.stack(
                [
                    torch.where(cap, 0.0, rx / rho),
                    torch.where(cap, 0.0, ry / rho),
                    torch.where(cap, torch.where(dt < db, 1.0, -1.0), 0.0),
                ]
            )
            s = torch.where(cap, rx, torch.atan2(ry, rx) * r)
            t = torch.where(cap, ry, z - z0)
        else:
            rel = q - g[0:3]
            r = g[3:6]
            nn = rel / (r * r)
            nn = nn * _norm(nn).clamp(min=1e-9).reciprocal()
            s = torch.atan2(rel[1], rel[0]) * 0.5 * (r[0] + r[1])
            t = rel[2]
        put(N, m, nn)
        put(S, m, s)
        put(T, m, t)
    flip = (N * d).sum(0) > 0  # face the viewer (planes have two sides)
    return torch.where(flip, -N, N), S, T


# ----------------------------------------------------------------------------------------------------------
# lighting


def _casters(scene: Scene) -> list[Prim]:
    """Primitives that cast shadows: bounded ones reaching higher than 0.3 m above the ground plane z = 0.

    Unbounded planes are the room shell or the ground, which never stand between a light inside the scene and a
    visible surface; things lying on the ground (kerbs, pavements, rugs, baseboards) would only cast slivers,
    and leaving them out keeps the shadow maps cheap.
    """
    return [pr for pr in scene.prims if pr.corners is not None and pr.corners[:, 2].max() > 0.3]


def _pcf(
    depth_map: torch.Tensor, u: torch.Tensor, v: torch.Tensor, z: torch.Tensor, bias: torch.Tensor
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


def _shadow_point(
    scene: Scene, light: PointLight, p: torch.Tensor, cos: torch.Tensor, device: torch.device, size: int
) -> torch.Tensor:
    """Visibility (0..1) of a ceiling light from hits p (3, n): a 140-degree downward shadow map."""
    f = size / 2.0 / math.tan(math.radians(70.0))
    c0 = (size - 1) / 2
    K = np.array([[f, 0, c0], [0, f, c0], [0, 0, 1.0]])
    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # right = +x, down = -y, forward = -z
    cam = Camera(size, size, K, R, np.asarray(light.position, dtype=np.float64))
    depth_map, _ = trace(_casters(scene), PerspectiveView(cam, device), device)
    lx, ly, lz = light.position
    x, y, z = p[0] - lx, ly - p[1], lz - p[2]
    zc = z.clamp(min=1e-3)
    u, v = x * (f / zc) + c0, y * (f / zc) + c0
    cos = cos.clamp(min=0.05)
    bias = 0.01 + zc * ((1.5 + 1.5 * torch.sqrt(1 - cos * cos) / cos).clamp(max=12.0) / f)
    vis = _pcf(depth_map, u, v, zc, bias)
    inside = (z > 1e-3) & (u >= 0) & (u <= size - 1) & (v >= 0) & (v <= size - 1)
    return torch.where(inside, vis, 1.0)


def _shadow_sun(
    scene: Scene, light: DirectionalLight, p: torch.Tensor, cos: torch.Tensor, device: torch.device, texels: int
) -> torch.Tensor:
    """Visibility of the sun from hits p (3, n) through an orthographic shadow map over the shadow region."""
    if scene.shadow_region is None:
        return torch.ones(p.shape[1], device=device)
    lo, hi = (np.asarray(x, dtype=np.float64) for x in scene.shadow_region)
    view = OrthoView(-np.asarray(light.direction, dtype=np.float64), lo, hi, texels, device)
    depth_map, _ = trace(_casters(scene), view, device)
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
    col = lerp(hor, zen, d[2].clamp(min=0.0).sqrt())
    if sky.cloudiness > 0:
        ez = d[2].clamp(min=0.02)
        x, y = d[0] / ez, d[1] / ez
        n = fbm(x * 1.5 + sky.seed % 97, y * 1.5, torch.full_like(x, 1e-3), octaves=4)
        cover = ((n + 0.5 - (1.0 - sky.cloudiness)) * 3.0).clamp(0.0, 1.0) * (d[2] > 0)
        cloud = torch.tensor(sky.cloud, device=dev)[:, None] * (0.85 + 0.3 * n)
        col = lerp(col, cloud, cover * (1.0 - (-ez * 8).exp() * 0.5))
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


def _shade(
    scene: Scene, view: PerspectiveView, t: torch.Tensor, idx: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """Linear radiance (3, H, W) of the image."""
    H, W = t.shape
    n_pix = H * W
    d_all = torch.stack(view.d)
    hit = (idx >= 0).reshape(-1)
    sel = hit.nonzero().squeeze(1)
    out = torch.zeros((3, n_pix), device=device)
    sun = next((L for L in scene.lights if isinstance(L, DirectionalLight)), None)
    sun_dir = torch.tensor(unit(sun.direction), device=device, dtype=torch.float32) if sun is not None else None
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

    fs, ft = footprints(as_img(S), as_img(T), idx, as_img(iso))
    fs, ft = fs.reshape(-1).index_select(0, sel), ft.reshape(-1).index_select(0, sel)
    M = Mtab.index_select(1, mat_of.index_select(0, pid))
    albedo = texture(M, S, T, fs, ft)

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
            vis = (
                _shadow_sun(scene, L, p, ndl, device, texels=min(max(n_pix, 128 * 128), 512 * 512)) if L.shadow else 1.0
            )
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
        rad = lerp(rad, torch.tensor(scene.sky.horizon, device=device)[:, None], haze)
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
    dev = torch_device(device)
    check_size(camera.width, camera.height)
    if not scene.prims and scene.sky is None:
        raise ValueError("the scene is empty: add primitives (or a sky) before rendering")
    view = PerspectiveView(camera, dev)
    t, idx = trace(scene.prims, view, dev)
    valid = (idx >= 0) & (t <= scene.max_depth)
    depth = torch.where(valid, t, 0.0)
    rgb = _post(_shade(scene, view, t, idx, dev), scene.post)
    return RenderOutput(rgb=rgb, depth=depth, prim_index=idx)

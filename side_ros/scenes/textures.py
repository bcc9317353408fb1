"""Procedural textures: albedo from a hit's material row and its surface coordinates in metres.

Coordinates in metres make patterns scale correctly with distance; every pattern is box-filtered by the pixel
footprint (`footprints`, like a GPU's ddx/ddy), so distant stripes fade to their mean instead of aliasing.
Also the per-label dispatch helpers (`groups`, `sel`, `put`) that shading shares.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from side_ros.scenes.description import INF, Tex

# ----------------------------------------------------------------------------------------------------------
# per-label dispatch on flat tensors; gathers use index_select, much cheaper than advanced indexing on the CPU


def groups(labels: torch.Tensor, count: int) -> list[tuple[int, torch.Tensor | None]]:
    """(label, indices) for each label present; indices None when every element has that label."""
    present = torch.bincount(labels, minlength=count).nonzero().squeeze(1).tolist()
    if len(present) == 1:
        return [(present[0], None)]
    return [(k, (labels == k).nonzero().squeeze(1)) for k in present]


def sel(x: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    return x if m is None else x.index_select(-1, m)


def put(out: torch.Tensor, m: torch.Tensor | None, value: torch.Tensor) -> None:
    if m is None:
        out.copy_(value)
    else:
        out.index_copy_(out.dim() - 1, m, value)


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


def fbm(x: torch.Tensor, y: torch.Tensor, fp: torch.Tensor, octaves: int = 3) -> torch.Tensor:
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


def lerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * w


def texture(M: torch.Tensor, s: torch.Tensor, t: torch.Tensor, fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    """Albedo (3, n) of hits with material rows M at surface coordinates (s, t) metres, footprints (fs, ft)."""
    albedo = torch.empty((3, s.shape[0]), device=s.device)
    for k, m in groups(M[0].long(), len(_TEXTURES)):
        put(albedo, m, _TEXTURES[k](sel(M, m), sel(s, m), sel(t, m), sel(fs, m), sel(ft, m)))
    # broad brightness variation ("dirt"), the same for every texture family
    seed = M[12]
    dirt = fbm(s * 0.8 + seed * 3.1, t * 0.8 - seed * 1.7, torch.minimum(fs, ft) * 0.8, octaves=2)
    return (albedo * (1.0 + 2.0 * M[13] * dirt)).clamp(0.0, 1.0)


def _tex_flat(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
    return M[1:4]


def _tex_noise(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
    sc, contrast, seed = M[7], M[8], M[12]
    contrast = torch.where(contrast > 0, contrast, 1.0)
    n = fbm(s / sc + seed * 7.7, t / sc + seed * 3.3, torch.minimum(fs, ft) / sc, octaves=4)
    return lerp(M[1:4], M[4:7], (0.5 + contrast * n).clamp(0.0, 1.0))


def _tex_stripes(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
    sc, ang, duty = M[7], M[8], M[9]
    duty = torch.where(duty > 0, duty, 0.5)
    ca, sa = torch.cos(ang), torch.sin(ang)
    x = (s * ca + t * sa) / sc
    fp = ((ca.abs() * fs + sa.abs() * ft) / sc).clamp(min=1e-4)
    d = x - torch.floor(x) - 0.5 * duty
    d = d - torch.round(d)  # distance to the nearest stripe centre, in periods
    w = _cover(d, duty, fp)
    w = duty + (w - duty) * _fade(1.0 / fp)
    return lerp(M[1:4], M[4:7], w)


def _tex_checker(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
    sc = M[7]
    par = (torch.floor(s / sc) + torch.floor(t / sc)) % 2.0
    w = 0.5 + (par - 0.5) * _fade(sc / torch.maximum(fs, ft))
    return lerp(M[1:4], M[4:7], w)


def _tex_tiles(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
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
    return lerp(M[4:7], tile, inside)


def _tex_wood(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
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
    base = lerp(M[1:4], M[4:7], 0.5 + 0.5 * grain * _fade(1.0 / (rings * fs)))
    var = 1.0 + 0.3 * (_cell_hash(pk, end.long(), sk) - 0.5)
    gap = 0.004
    ds = s - (plank + 0.5) * pw  # distance from the plank's centre line; seams at +-pw/2
    dt = t2 - (end + 0.5) * pl
    seam = 1.0 - _cover(ds, pw - gap, fs) * _cover(dt, pl - gap, ft)
    return base * (var * (1.0 - 0.6 * seam))


def _tex_road(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
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
    asphalt = (
        1.0
        + 0.5 * fbm(s * 12.0, t * 12.0, fp * 12.0, octaves=2)
        + 0.5 * fbm(s * 0.25 + seed, t * 0.12, fp * 0.25, octaves=3)
    )
    return lerp(M[1:4] * asphalt, M[4:7], mark)


def _tex_facade(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
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
    wall = M[1:4] * (1.0 + 0.3 * fbm(s * 2.0 + seed, t * 2.0, fp * 2.0, octaves=2))
    if bool((bricks > 0.5).any()):
        brick_row = torch.floor(t / 0.075)
        brick_s = s + 0.11 * (brick_row % 2)
        brick_col = torch.floor(brick_s / 0.22)
        fb = torch.minimum(_fade(0.22 / fs), _fade(0.075 / ft))
        mortar = 1.0 - _cover(brick_s - (brick_col + 0.5) * 0.22, 0.2, fs) * _cover(
            t - (brick_row + 0.5) * 0.075, 0.065, ft
        )
        mortar = 0.21 + (mortar - 0.21) * fb
        bvar = 1.0 + 0.35 * (_cell_hash(brick_col.long(), brick_row.long(), sk) - 0.5) * fb
        wall = torch.where(bricks > 0.5, lerp(M[1:4] * bvar, M[1:4] * 0.4 + 0.45, mortar), wall)
    lit = _cell_hash(col.long(), storey.long(), sk)
    gl = M[4:7] * ((0.5 + 0.9 * lit) * (0.8 + 0.4 * (dt / (hf_g * fh)).clamp(-0.5, 0.5)))
    warm = torch.tensor([[0.9], [0.75], [0.45]], device=M.device)
    gl = torch.where(lit > 0.93, warm, gl)
    frame_col = torch.where(seed % 2 < 1, M[1:4] * 0.55, 0.8)
    return wall * (1.0 - glass - frame) + gl * glass + frame_col * frame


def _tex_foliage(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
    sc, seed = M[7], M[12]
    n = fbm(s / sc + seed * 5.1, t / sc - seed * 2.3, torch.minimum(fs, ft) / sc, octaves=4)
    return lerp(M[1:4], M[4:7], (0.5 + 1.8 * n).clamp(0.0, 1.0))


def _tex_books(M: Tensor, s: Tensor, t: Tensor, fs: Tensor, ft: Tensor) -> Tensor:
    bw, shelf_h, seed = M[7], M[8], M[12]
    book = torch.floor(s / bw)
    bk, sk = book.long(), seed.long()
    h1, h2, h3 = _cell_hash(bk, sk, 3), _cell_hash(bk, sk, 5), _cell_hash(bk, sk, 11)
    hue = torch.stack([h1, h2, h3])
    colour = (0.08 + 0.6 * hue * hue) * (0.5 + 0.5 * h1)
    spine = _cover(s - (book + 0.5) * bw, bw * 0.92, fs.clamp(min=1e-5)) * (t < shelf_h * (0.7 + 0.28 * h2))
    f = _fade(bw / fs.clamp(min=1e-5))
    spine = 0.75 + (spine - 0.75) * f
    return lerp(M[4:7], lerp(M[1:4], colour, f), spine)


_TEXTURES = {
    Tex.FLAT: _tex_flat,
    Tex.NOISE: _tex_noise,
    Tex.STRIPES: _tex_stripes,
    Tex.CHECKER: _tex_checker,
    Tex.TILES: _tex_tiles,
    Tex.WOOD: _tex_wood,
    Tex.ROAD: _tex_road,
    Tex.FACADE: _tex_facade,
    Tex.FOLIAGE: _tex_foliage,
    Tex.BOOKS: _tex_books,
}


def footprints(
    S: torch.Tensor, T: torch.Tensor, idx: torch.Tensor, fallback: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface extent (metres) of one pixel along s and t, from differences with same-primitive neighbours.

    Like a GPU's ddx/ddy: the smaller of the forward and backward difference, so an edge of the primitive
    does not inflate it; where no neighbour shares the primitive, `fallback` (an isotropic estimate) is used.
    """

    def deriv(X: torch.Tensor, dim: int) -> torch.Tensor:
        n = X.shape[dim]
        same = idx.narrow(dim, 1, n - 1) == idx.narrow(dim, 0, n - 1)
        diff = torch.where(same, (X.narrow(dim, 1, n - 1) - X.narrow(dim, 0, n - 1)).abs(), INF)
        pad_shape = list(X.shape)
        pad_shape[dim] = 1
        pad = torch.full(pad_shape, INF, device=X.device)
        return torch.minimum(torch.cat([diff, pad], dim), torch.cat([pad, diff], dim))

    out = []
    for X in (S, T):
        if X.shape[0] < 2 or X.shape[1] < 2:
            out.append(fallback)
            continue
        du, dv = deriv(X, 1), deriv(X, 0)
        du = torch.where(du < INF, du, fallback)
        dv = torch.where(dv < INF, dv, fallback)
        out.append(torch.minimum(du + dv, 4 * fallback).clamp(min=1e-6))
    return out[0], out[1]

"""Indoor builder: a random furnished room seen by an NYU-like camera.

`build_indoor_scene` runs named steps on one random stream, in a fixed order (the order is part of the output:
the same seed must always give the same room): room shell, camera pose, wall decorations, furniture, ceiling
lights, camera effects, intrinsics.  The furniture catalogue (`_item_*`) gives each item as parts in its own
frame; `_add_parts` places them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from side_ros.scenes.description import (
    Camera,
    Material,
    PointLight,
    Scene,
    Tex,
    camera_from_angles,
    default_intrinsics,
    new_scene,
    zoomed,
)
from side_ros.scenes.palette import rand_color, random_post, scale_color


class _Placer:
    """Rejection sampling of furniture footprints (oriented rectangles tested as discs) in a room."""

    def __init__(self, keep_out: list[tuple[float, float, float]]):
        self.discs = list(keep_out)

    def free(self, x: float, y: float, r: float) -> bool:
        return all((x - a) ** 2 + (y - b) ** 2 >= (r + c) ** 2 for a, b, c in self.discs)

    def take(self, x: float, y: float, r: float) -> None:
        self.discs.append((x, y, r))


def _wood_material(rng: np.random.Generator, seed: int) -> Material:
    base = rand_color(rng, (0.04, 0.11), (0.35, 0.75), (0.25, 0.75))
    return Material(
        Tex.WOOD,
        base,
        scale_color(base, rng.uniform(0.55, 0.8)),
        rng.uniform(0.08, 0.25),
        (rng.uniform(0.8, 2.5), rng.uniform(10, 40), 0, 0),
        seed,
        0.06,
        rng.uniform(0.0, 0.25),
    )


def _furniture_material(rng: np.random.Generator, seed: int) -> Material:
    r = rng.uniform()
    if r < 0.4:
        return _wood_material(rng, seed)
    if r < 0.7:
        c = rand_color(rng, (0, 1), (0.0, 0.15), (0.05, 0.9))  # white / grey / black
        return Material(Tex.FLAT, c, c, 1.0, (0, 0, 0, 0), seed, 0.04, rng.uniform(0.0, 0.4))
    c = rand_color(rng, (0, 1), (0.3, 0.8), (0.2, 0.8))  # painted / fabric
    return Material(Tex.NOISE, c, scale_color(c, 0.8), 0.05, (0.6, 0, 0, 0), seed, 0.06, 0.05)


def _fabric_material(rng: np.random.Generator, seed: int) -> Material:
    c = rand_color(rng, (0, 1), (0.1, 0.7), (0.2, 0.9))
    if rng.uniform() < 0.4:
        c2 = rand_color(rng, (0, 1), (0.1, 0.7), (0.2, 0.9))
        return Material(Tex.STRIPES, c, c2, rng.uniform(0.05, 0.4), (rng.uniform(0, math.pi), 0.5, 0, 0), seed, 0.05)
    if rng.uniform() < 0.2:
        c2 = rand_color(rng, (0, 1), (0.1, 0.7), (0.2, 0.9))
        return Material(Tex.CHECKER, c, c2, rng.uniform(0.05, 0.3), (0, 0, 0, 0), seed, 0.05)
    return Material(Tex.NOISE, c, scale_color(c, 0.75), 0.03, (0.8, 0, 0, 0), seed, 0.08)


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
    legs_mat = (
        mat
        if rng.uniform() < 0.6
        else Material(Tex.FLAT, rand_color(rng, (0, 1), (0, 0.2), (0.05, 0.8)), seed=sd + 1, specular=0.3)
    )
    parts: list[tuple] = [("box", (0, 0, h - top_t / 2), (w / 2, d / 2, top_t / 2), mat)]
    for i in (-1, 1):
        for j in (-1, 1):
            parts.append(
                (
                    "box",
                    (i * (w / 2 - leg), j * (d / 2 - leg), (h - top_t) / 2),
                    (leg / 2, leg / 2, (h - top_t) / 2),
                    legs_mat,
                )
            )
    for _ in range(rng.integers(0, 4)):  # things on the table
        ox, oy = rng.uniform(-w / 2 + 0.15, w / 2 - 0.15), rng.uniform(-d / 2 + 0.12, d / 2 - 0.12)
        col = rand_color(rng, (0, 1), (0.0, 0.8), (0.1, 0.9))
        m = Material(Tex.FLAT, col, col, seed=sd + 7, specular=rng.uniform(0, 0.5))
        if rng.uniform() < 0.5:
            parts.append(("cyl", (ox, oy, h), rng.uniform(0.03, 0.08), rng.uniform(0.06, 0.3), m))
        elif rng.uniform() < 0.5:
            sw, sh = rng.uniform(0.2, 0.35), rng.uniform(0.15, 0.25)
            parts.append(
                (
                    "box",
                    (ox, oy, h + 0.05 + sh),
                    (sw, 0.015, sh),
                    Material(Tex.FLAT, (0.03, 0.03, 0.035), seed=sd, specular=0.6),
                )
            )
            parts.append(("box", (ox, oy, h + 0.025), (0.08, 0.06, 0.025), Material(Tex.FLAT, (0.05, 0.05, 0.05))))
        else:
            parts.append(("box", (ox, oy, h + 0.03), (rng.uniform(0.08, 0.2), rng.uniform(0.06, 0.15), 0.03), m))
    return parts, w, d


def _item_chair(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w = rng.uniform(0.4, 0.5)
    sh, back = rng.uniform(0.42, 0.48), rng.uniform(0.35, 0.5)
    mat, leg = _furniture_material(rng, sd), rng.uniform(0.025, 0.04)
    parts: list[tuple] = [
        ("box", (0, 0, sh - 0.02), (w / 2, w / 2, 0.02), mat),
        ("box", (0, w / 2 - 0.02, sh + back / 2), (w / 2, 0.02, back / 2), mat),
    ]
    for i in (-1, 1):
        for j in (-1, 1):
            parts.append(
                (
                    "box",
                    (i * (w / 2 - leg), j * (w / 2 - leg), (sh - 0.04) / 2),
                    (leg / 2, leg / 2, (sh - 0.04) / 2),
                    mat,
                )
            )
    return parts, w, w


def _item_shelf(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.25, 0.4), rng.uniform(0.9, 2.2)
    mat, th = _furniture_material(rng, sd), 0.02
    n = int(rng.integers(2, 6))
    gap = (h - th) / n
    parts: list[tuple] = [
        ("box", (-w / 2 + th / 2, 0, h / 2), (th / 2, d / 2, h / 2), mat),
        ("box", (w / 2 - th / 2, 0, h / 2), (th / 2, d / 2, h / 2), mat),
        ("box", (0, d / 2 - th / 2, h / 2), (w / 2, th / 2, h / 2), mat),
    ]
    for k in range(n + 1):
        parts.append(("box", (0, 0, k * gap + th / 2), (w / 2 - th, d / 2, th / 2), mat))
    books = Material(
        Tex.BOOKS,
        (0.4, 0.3, 0.2),
        (0.02, 0.02, 0.02),
        rng.uniform(0.025, 0.05),
        (gap - th - 0.01, 0, 0, 0),
        sd + 3,
        0.05,
    )
    for k in range(n):
        if rng.uniform() < 0.75:
            bh = gap - th - 0.005
            parts.append(("box", (0, 0.01, k * gap + th + bh / 2), (w / 2 - th - 0.005, d / 2 - 0.04, bh / 2), books))
    return parts, w, d


def _item_bed(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, length = rng.uniform(0.9, 1.8), rng.uniform(1.9, 2.1)
    frame = _furniture_material(rng, sd)
    sheet = _fabric_material(rng, sd + 1)
    pillow = Material(
        Tex.NOISE, rand_color(rng, (0, 1), (0, 0.3), (0.6, 0.95)), (0.7, 0.7, 0.7), 0.05, (0.3, 0, 0, 0), sd + 2
    )
    base_h, mat_h = rng.uniform(0.25, 0.4), rng.uniform(0.15, 0.25)
    head_h = rng.uniform(0.8, 1.2)
    parts: list[tuple] = [
        ("box", (0, 0, base_h / 2), (w / 2, length / 2, base_h / 2), frame),
        ("box", (0, -0.02, base_h + mat_h / 2), (w / 2 - 0.02, length / 2 - 0.04, mat_h / 2), sheet),
        ("box", (0, length / 2 - 0.03, head_h / 2), (w / 2 + 0.02, 0.03, head_h / 2), frame),
        ("box", (0, length / 2 - 0.3, base_h + mat_h + 0.07), (w / 2 - 0.1, 0.2, 0.07), pillow),
    ]
    return parts, w, length


def _item_sofa(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d = rng.uniform(1.4, 2.4), rng.uniform(0.8, 0.95)
    fab = _fabric_material(rng, sd)
    seat_h, back_h, arm = rng.uniform(0.38, 0.46), rng.uniform(0.75, 0.95), rng.uniform(0.12, 0.22)
    parts: list[tuple] = [
        ("box", (0, -0.05, seat_h / 2), (w / 2 - arm, d / 2 - 0.05, seat_h / 2), fab),
        ("box", (0, d / 2 - 0.1, back_h / 2), (w / 2, 0.1, back_h / 2), fab),
        ("box", (-w / 2 + arm / 2, 0, 0.3), (arm / 2, d / 2, 0.3), fab),
        ("box", (w / 2 - arm / 2, 0, 0.3), (arm / 2, d / 2, 0.3), fab),
    ]
    return parts, w, d


def _item_cabinet(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    w, d = rng.uniform(0.5, 2.0), rng.uniform(0.4, 0.65)
    h = rng.uniform(0.5, 1.2) if rng.uniform() < 0.6 else rng.uniform(1.7, 2.3)
    c = rand_color(rng, (0, 1), (0.0, 0.5), (0.1, 0.95))
    rows = int(rng.integers(1, 5))
    mat = Material(
        Tex.TILES,
        c,
        scale_color(c, 0.35),
        w / int(rng.integers(1, 4)),
        (h / rows, 0.012, 0.0, 0.0),
        sd,
        0.05,
        rng.uniform(0, 0.3),
    )
    if rng.uniform() < 0.4:
        mat = _wood_material(rng, sd)
    parts: list[tuple] = [("box", (0, 0, h / 2), (w / 2, d / 2, h / 2), mat)]
    if h < 1.3 and rng.uniform() < 0.5:  # a TV or a lamp on top
        if rng.uniform() < 0.5:
            tw = min(w / 2, rng.uniform(0.3, 0.7))
            parts.append(
                (
                    "box",
                    (0, 0, h + 0.05 + tw * 0.6),
                    (tw, 0.025, tw * 0.58),
                    Material(Tex.FLAT, (0.02, 0.02, 0.025), specular=0.8),
                )
            )
            parts.append(("box", (0, 0, h + 0.025), (0.15, 0.1, 0.025), Material(Tex.FLAT, (0.03, 0.03, 0.03))))
        else:
            parts.append(("cyl", (0, 0, h), 0.06, 0.3, Material(Tex.FLAT, rand_color(rng), specular=0.4)))
            parts.append(("cyl", (0, 0, h + 0.3), 0.16, 0.2, Material(Tex.FLAT, (0.95, 0.9, 0.8), emission=0.5)))
    return parts, w, d


def _item_crates(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    parts: list[tuple] = []
    w, d = rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.7)
    z = 0.0
    for k in range(int(rng.integers(1, 4))):
        bw, bd, bh = w * rng.uniform(0.6, 1.0), d * rng.uniform(0.6, 1.0), rng.uniform(0.2, 0.5)
        c = rand_color(rng, (0.07, 0.12), (0.3, 0.6), (0.35, 0.75)) if rng.uniform() < 0.6 else rand_color(rng)
        parts.append(
            (
                "box",
                (rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), z + bh / 2),
                (bw / 2, bd / 2, bh / 2),
                Material(Tex.NOISE, c, scale_color(c, 0.85), 0.1, (0.5, 0, 0, 0), sd + k),
            )
        )
        z += bh
    return parts, w, d


def _item_plant(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    r, h = rng.uniform(0.1, 0.25), rng.uniform(0.2, 0.5)
    pot = Material(Tex.FLAT, rand_color(rng, (0, 1), (0, 0.6), (0.2, 0.9)), specular=0.3)
    leaves = Material(
        Tex.FOLIAGE,
        rand_color(rng, (0.22, 0.38), (0.5, 0.9), (0.05, 0.2)),
        rand_color(rng, (0.2, 0.35), (0.4, 0.8), (0.3, 0.6)),
        rng.uniform(0.04, 0.1),
        seed=sd,
    )
    fr, fz = r * rng.uniform(1.3, 2.5), r * rng.uniform(1.5, 4.0)
    return [("cyl", (0, 0, 0), r, h, pot), ("ell", (0, 0, h + fz * 0.8), (fr, fr, fz), leaves)], 2 * fr, 2 * fr


def _item_lamp(rng: np.random.Generator, sd: int) -> tuple[list, float, float]:
    h = rng.uniform(1.3, 1.8)
    metal = Material(Tex.FLAT, rand_color(rng, (0, 1), (0, 0.2), (0.05, 0.8)), specular=0.7)
    shade = Material(
        Tex.NOISE,
        rand_color(rng, (0.05, 0.15), (0.0, 0.4), (0.7, 0.95)),
        (0.8, 0.75, 0.6),
        0.05,
        (0.2, 0, 0, 0),
        sd,
        emission=0.6,
    )
    return (
        [
            ("cyl", (0, 0, 0), 0.15, 0.03, metal),
            ("cyl", (0, 0, 0.03), 0.015, h, metal),
            ("cyl", (0, 0, h - 0.05), rng.uniform(0.15, 0.25), rng.uniform(0.2, 0.3), shade),
        ],
        0.4,
        0.4,
    )


_INDOOR_ITEMS = (
    (_item_table, 3),
    (_item_chair, 2),
    (_item_shelf, 2),
    (_item_bed, 1),
    (_item_sofa, 1),
    (_item_cabinet, 3),
    (_item_crates, 2),
    (_item_plant, 1),
    (_item_lamp, 1),
)


# walls x = 0, x = width, y = 0 (behind the camera), y = depth
_WALL_ODDS = (0.3, 0.3, 0.05, 0.35)


@dataclass(frozen=True)
class _Room:
    """Inner size in metres: x from 0 to width, y from 0 to depth (the camera looks along +y), floor z = 0."""

    width: float
    depth: float
    height: float


@dataclass(frozen=True)
class _Pose:
    """Camera position (m) and heading / pitch / roll (rad), as camera_from_angles takes them."""

    x: float
    y: float
    z: float
    heading: float
    pitch: float
    roll: float


def build_indoor_scene(seed: int, width: int, height: int, focal_scale: float = 1.0) -> tuple[Scene, Camera]:
    """A random room: walls, floor, ceiling, furniture, wall decorations, 1-3 ceiling lights; NYU-like camera."""
    sc, rng = new_scene("indoor", seed, width, height)
    room = _Room(rng.uniform(2.6, 6.5), rng.uniform(3.0, 7.5), rng.uniform(2.3, 3.1))
    _add_shell(sc, rng, seed, room)
    pose = _camera_pose(rng, room)
    _add_wall_decorations(sc, rng, seed, room)
    _add_furniture(sc, rng, seed, room, pose)
    _add_ceiling_lights(sc, rng, room)
    sc.post = random_post(rng, seed)
    K = zoomed(default_intrinsics("indoor", width, height, rng), focal_scale)
    cam = camera_from_angles(width, height, K, (pose.x, pose.y, pose.z), pose.heading, pose.pitch, pose.roll)
    return sc, cam


def _floor_material(rng: np.random.Generator, seed: int) -> Material:
    """Wooden planks, tiles, a checkerboard or plain noisy flooring."""
    fl = rng.uniform()
    if fl < 0.4:
        floor = _wood_material(rng, seed)
        return Material(
            Tex.WOOD,
            floor.color,
            floor.color2,
            rng.uniform(0.08, 0.22),
            floor.params,
            seed,
            0.08,
            rng.uniform(0.05, 0.3),
        )
    if fl < 0.65:
        c = rand_color(rng, (0, 1), (0.0, 0.3), (0.4, 0.95))
        tile = rng.uniform(0.2, 0.8)
        return Material(
            Tex.TILES,
            c,
            scale_color(c, rng.uniform(0.5, 0.8)),
            tile,
            (tile * rng.choice([1.0, 1.0, 0.5, 2.0]), rng.uniform(0.003, 0.012), 0.0, rng.uniform(0.0, 0.2)),
            seed,
            0.08,
            rng.uniform(0.05, 0.4),
        )
    if fl < 0.75:
        c, c2 = rand_color(rng, val=(0.4, 0.9), sat=(0, 0.4)), rand_color(rng, val=(0.05, 0.5), sat=(0, 0.4))
        return Material(Tex.CHECKER, c, c2, rng.uniform(0.2, 0.5), seed=seed, specular=0.2)
    c = rand_color(rng, (0, 1), (0.05, 0.5), (0.15, 0.7))
    return Material(
        Tex.NOISE, c, scale_color(c, 0.7), rng.uniform(0.02, 0.3), (rng.uniform(0.3, 1.0), 0, 0, 0), seed, 0.1
    )


def _add_shell(sc: Scene, rng: np.random.Generator, seed: int, room: _Room) -> None:
    """Floor, ceiling and four walls: infinite planes (inside a convex room the nearest hit is the right one)."""
    rw, rd, rh = room.width, room.depth, room.height
    sc.add_plane((0, 0, 0), (0, 0, 1), _floor_material(rng, seed), axis_u=(1, 0, 0))
    ceil_c = rand_color(rng, (0, 1), (0.0, 0.08), (0.75, 0.95))
    sc.add_plane(
        (0, 0, rh),
        (0, 0, -1),
        Material(Tex.NOISE, ceil_c, scale_color(ceil_c, 0.92), 0.5, (0.3, 0, 0, 0), seed + 1, 0.03),
        axis_u=(1, 0, 0),
    )
    wall_c = rand_color(rng, (0.0, 1.0), (0.0, 0.35), (0.45, 0.95))
    # axis_u = up x normal, so every wall's second texture axis points up
    walls = [
        ((0, 0, 0), (1, 0, 0), (0, 1, 0)),
        ((rw, 0, 0), (-1, 0, 0), (0, -1, 0)),
        ((0, 0, 0), (0, 1, 0), (-1, 0, 0)),
        ((0, rd, 0), (0, -1, 0), (1, 0, 0)),
    ]
    for k, (q, n, a) in enumerate(walls):
        c = wall_c if rng.uniform() < 0.7 else rand_color(rng, (0, 1), (0.0, 0.7), (0.2, 0.95))
        r = rng.uniform()
        if r < 0.55:
            m = Material(Tex.NOISE, c, scale_color(c, 0.9), rng.uniform(0.1, 1.0), (0.4, 0, 0, 0), seed + 10 + k, 0.05)
        elif r < 0.75:
            m = Material(
                Tex.STRIPES,
                c,
                scale_color(c, rng.uniform(0.6, 0.9)),
                rng.uniform(0.05, 0.4),
                (0.0, rng.uniform(0.2, 0.6), 0, 0),
                seed + 10 + k,
                0.05,
            )
        elif r < 0.87:
            bc = rand_color(rng, (0.0, 0.08), (0.3, 0.7), (0.25, 0.7))
            m = Material(Tex.TILES, bc, (0.7, 0.68, 0.62), 0.23, (0.075, 0.012, 0.5, 0.3), seed + 10 + k, 0.1)
        else:
            m = Material(
                Tex.TILES, c, scale_color(c, 0.7), rng.uniform(0.1, 0.3), (0, 0.004, 0, 0.05), seed + 10 + k, 0.05, 0.2
            )
        sc.add_plane(q, n, m, axis_u=a)


def _camera_pose(rng: np.random.Generator, room: _Room) -> _Pose:
    """In the back part of the room at eye height, looking into it."""
    cx, cy = rng.uniform(0.5, room.width - 0.5), rng.uniform(0.3, max(0.35, 0.3 * room.depth))
    cz = rng.uniform(1.0, min(1.8, room.height - 0.3))
    heading = math.pi / 2 + rng.uniform(-0.7, 0.7)
    pitch, roll = rng.uniform(-0.45, 0.1), rng.uniform(-0.07, 0.07)
    return _Pose(cx, cy, cz, heading, pitch, roll)


def _wall_item(rng: np.random.Generator, seed: int, rh: float) -> tuple[float, float, float, float, Material]:
    """A door, window, picture or radiator: (width, height, bottom z, thickness, material)."""
    kind = rng.choice(["door", "window", "picture", "picture", "radiator"])
    if kind == "door":
        w, h, z0, depth = rng.uniform(0.75, 0.95), rng.uniform(1.95, 2.1), 0.0, 0.035
        if rng.uniform() < 0.5:
            m = _wood_material(rng, seed + 20)
        else:  # painted, two panels
            c = rand_color(rng, sat=(0, 0.3), val=(0.3, 0.95))
            m = Material(Tex.TILES, c, scale_color(c, 0.8), w, (h / 2, 0.01, 0, 0), seed)
    elif kind == "window":
        w, h, depth = rng.uniform(0.6, 1.8), rng.uniform(0.8, 1.5), 0.03
        z0 = rng.uniform(0.6, max(0.7, rh - h - 0.2))
        m = Material(
            Tex.TILES,
            (0.75, 0.85, 0.95),
            rand_color(rng, sat=(0, 0.2), val=(0.2, 0.95)),
            w / int(rng.integers(1, 4)),
            (h / int(rng.integers(1, 3)), 0.06, 0, 0.1),
            seed + 21,
            0.02,
            0.5,
            rng.uniform(0.5, 2.0),
        )
    elif kind == "picture":
        w, h, depth = rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.9), 0.025
        z0 = rng.uniform(1.1, max(1.2, min(rh - h - 0.2, 1.9)))
        c1, c2 = rand_color(rng), rand_color(rng)
        m = Material(
            int(rng.choice([Tex.NOISE, Tex.STRIPES, Tex.CHECKER])),
            c1,
            c2,
            rng.uniform(0.03, 0.3),
            (rng.uniform(0.5, 2), 0.5, 0, 0),
            seed + 22,
            0.1,
            0.3,
        )
    else:
        w, h, z0, depth = rng.uniform(0.6, 1.4), rng.uniform(0.4, 0.6), 0.15, 0.08
        m = Material(Tex.STRIPES, (0.9, 0.9, 0.88), (0.6, 0.6, 0.6), 0.06, (0.0, 0.7, 0, 0), seed, 0.02, 0.3)
    return w, h, z0, depth, m


def _add_wall_decorations(sc: Scene, rng: np.random.Generator, seed: int, room: _Room) -> None:
    """Baseboards, then 1-6 doors, windows, pictures or radiators: thin boxes against the walls."""
    rw, rd, rh = room.width, room.depth, room.height
    base_mat = Material(Tex.FLAT, rand_color(rng, (0, 1), (0, 0.3), (0.1, 0.95)), seed=seed, specular=0.2)
    bh = rng.uniform(0.05, 0.12)
    if rng.uniform() < 0.7:
        sc.add_box((rw / 2, 0.008, bh / 2), (rw / 2, 0.008, bh / 2), base_mat)
        sc.add_box((rw / 2, rd - 0.008, bh / 2), (rw / 2, 0.008, bh / 2), base_mat)
        sc.add_box((0.008, rd / 2, bh / 2), (0.008, rd / 2, bh / 2), base_mat)
        sc.add_box((rw - 0.008, rd / 2, bh / 2), (0.008, rd / 2, bh / 2), base_mat)
    for _ in range(int(rng.integers(1, 7))):
        wall = int(rng.choice(4, p=_WALL_ODDS))
        length = rw if wall >= 2 else rd
        w, h, z0, depth, m = _wall_item(rng, seed, rh)
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


def _find_spot(
    rng: np.random.Generator, room: _Room, pose: _Pose, placer: _Placer, w: float, d: float
) -> tuple[float, float, float] | None:
    """Up to 8 tries at a free (x, y, yaw) for a w x d item: against a wall (rarely the one behind the camera),
    facing into the room, or free-standing, mostly in the camera's view; None when every try collides."""
    rw, rd = room.width, room.depth
    r = 0.5 * math.hypot(w, d)
    for _ in range(8):
        if rng.uniform() < 0.6:
            wall = int(rng.choice(4, p=_WALL_ODDS))
            along = rw if wall >= 2 else rd
            if along < w + 0.1:
                continue
            pos = rng.uniform(w / 2 + 0.05, along - w / 2 - 0.05)
            gap = d / 2 + 0.02
            x, y, yaw = {
                0: (gap, pos, math.pi / 2),
                1: (rw - gap, pos, -math.pi / 2),
                2: (pos, gap, math.pi),
                3: (pos, rd - gap, 0.0),
            }[wall]
            rr = min(r, 0.5 * max(w, d) * 0.8)
        else:
            ang, dist = pose.heading + rng.uniform(-0.6, 0.6), rng.uniform(1.2, 5.0)
            x = float(np.clip(pose.x + dist * math.cos(ang), r, max(r + 1e-3, rw - r)))
            y = float(np.clip(pose.y + dist * math.sin(ang), r, max(r + 1e-3, rd - r)))
            yaw, rr = rng.uniform(0, 2 * math.pi), r
        if placer.free(x, y, rr):
            placer.take(x, y, rr)
            return x, y, yaw
    return None


def _add_furniture(sc: Scene, rng: np.random.Generator, seed: int, room: _Room, pose: _Pose) -> None:
    """4-13 items from the catalogue, placed by rejection sampling, never on or just in front of the camera."""
    placer = _Placer(
        [(pose.x, pose.y, 0.9), (pose.x + 0.8 * math.cos(pose.heading), pose.y + 0.8 * math.sin(pose.heading), 0.5)]
    )
    weights = np.array([w for _, w in _INDOOR_ITEMS], dtype=np.float64)
    for k in range(int(rng.integers(4, 14))):
        fn = _INDOOR_ITEMS[int(rng.choice(len(_INDOOR_ITEMS), p=weights / weights.sum()))][0]
        parts, w, d = fn(rng, seed * 31 + k)
        spot = _find_spot(rng, room, pose, placer, w, d)
        if spot is not None:
            _add_parts(sc, parts, *spot)


def _add_ceiling_lights(sc: Scene, rng: np.random.Generator, room: _Room) -> None:
    """1-3 ceiling lights with fixtures, warm to cool, and the ambient light."""
    rw, rd, rh = room.width, room.depth, room.height
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

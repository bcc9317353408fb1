"""Outdoor builder: a random street seen by a KITTI-like camera on a car.

`build_outdoor_scene` runs named steps on one random stream, in a fixed order (the order is part of the output:
the same seed must always give the same street): road, kerbs and pavements, buildings, the camera's lane, cars,
street furniture, sky and sun, camera effects, intrinsics and pose.  The street runs along +y; x = 0 is its
centre line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from side_ros.scenes.description import (
    Camera,
    DirectionalLight,
    Material,
    Scene,
    Sky,
    Tex,
    camera_from_angles,
    default_intrinsics,
    new_scene,
    zoomed,
)
from side_ros.scenes.palette import rand_color, random_post, scale_color

_Y_MIN, _Y_MAX = -20.0, 260.0  # extent of the road's kerbs and pavements along the street


@dataclass(frozen=True)
class _Side:
    """One side of the street: -1 (left) or 1, the kerb's offset from the centre line, pavement width, parking."""

    side: int
    edge: float
    pavement: float
    parking: bool


@dataclass(frozen=True)
class _Street:
    """What later steps place things by: lanes, kerb height, the sides, the verge material, city or village."""

    lanes: int
    lane_width: float
    half: float  # half width of the driving lanes; parking strips or shoulders lie outside them
    kerb_height: float
    sides: tuple[_Side, ...]
    grass: Material
    city: bool


def build_outdoor_scene(seed: int, width: int, height: int, focal_scale: float = 1.0) -> tuple[Scene, Camera]:
    """A random street: road with markings, kerbs, pavements, façades, cars, poles, trees, sky; KITTI-like camera."""
    sc, rng = new_scene("outdoor", seed, width, height)
    lanes, lane_w, half = _add_road(sc, rng, seed)
    street = _add_pavements(sc, rng, seed, lanes, lane_w, half)
    _add_buildings(sc, rng, street)
    cam_lane = int(rng.integers(0, lanes))
    cam_x = -half + (cam_lane + 0.5) * lane_w + rng.uniform(-0.3, 0.3)
    _add_cars(sc, rng, seed, street, cam_lane)
    _add_street_furniture(sc, rng, seed, street)
    _add_sky_and_sun(sc, rng, seed)
    sc.shadow_region = ((cam_x - 45.0, -5.0, 0.0), (cam_x + 45.0, 85.0, 12.0))
    sc.post = random_post(rng, seed)

    K = zoomed(default_intrinsics("outdoor", width, height, rng), focal_scale)
    heading = math.pi / 2 + rng.uniform(-0.1, 0.1)
    cam = camera_from_angles(
        width,
        height,
        K,
        (cam_x, 0.0, rng.uniform(1.55, 1.75)),
        heading,
        rng.uniform(-0.05, 0.03),
        rng.uniform(-0.025, 0.025),
    )
    return sc, cam


def _add_road(sc: Scene, rng: np.random.Generator, seed: int) -> tuple[int, float, float]:
    """The ground plane as asphalt with lane markings, sometimes a crosswalk: (lanes, lane width, half width)."""
    lanes = int(rng.choice([1, 2, 2, 3, 4]))
    lane_w = rng.uniform(2.9, 3.6)
    half = lanes * lane_w / 2
    cross = rng.uniform(12, 45) if rng.uniform() < 0.25 else -1.0
    asphalt = rand_color(rng, (0.0, 1.0), (0.0, 0.08), (0.08, 0.25))
    paint = (0.85, 0.85, 0.82) if rng.uniform() < 0.8 else (0.85, 0.7, 0.2)
    sc.add_plane(
        (0, 0, 0),
        (0, 0, 1),
        Material(Tex.ROAD, asphalt, paint, 1.0, (half, lanes, rng.uniform(2.0, 4.0), cross), seed, 0.1, 0.05),
        axis_u=(1, 0, 0),
    )
    return lanes, lane_w, half


def _add_pavements(sc: Scene, rng: np.random.Generator, seed: int, lanes: int, lane_w: float, half: float) -> _Street:
    """Kerbs and pavements (some with a grass verge) on both sides, most with a parking strip before the kerb."""
    ylen, ymid = _Y_MAX - _Y_MIN, (_Y_MAX + _Y_MIN) / 2
    kerb_h = rng.uniform(0.1, 0.17)
    pave_c = rand_color(rng, (0.0, 1.0), (0.0, 0.15), (0.3, 0.6))
    slab = rng.uniform(0.3, 1.0)
    pave = Material(
        Tex.TILES, pave_c, scale_color(pave_c, 0.7), slab, (slab, 0.01, rng.choice([0.0, 0.5]), 0.15), seed + 1, 0.12
    )
    kerb = Material(Tex.NOISE, (0.55, 0.55, 0.53), (0.4, 0.4, 0.4), 0.3, (0.4, 0, 0, 0), seed + 2)
    grass = Material(
        Tex.FOLIAGE,
        rand_color(rng, (0.2, 0.3), (0.5, 0.8), (0.08, 0.2)),
        rand_color(rng, (0.18, 0.3), (0.4, 0.8), (0.2, 0.4)),
        0.08,
        seed=seed + 3,
    )
    city = rng.uniform() < 0.65
    sides = []
    for side in (-1, 1):
        parking = rng.uniform() < 0.75
        edge = half + (rng.uniform(2.0, 2.6) if parking else rng.uniform(0.3, 0.8))
        pw = rng.uniform(2.0, 5.0)
        sc.add_box((side * (edge + 0.1), ymid, kerb_h / 2), (0.1, ylen / 2, kerb_h / 2), kerb)
        if rng.uniform() < 0.3:  # grass verge on the outer part
            gw = pw * rng.uniform(0.3, 0.6)
            sc.add_box(
                (side * (edge + 0.2 + (pw - gw) / 2), ymid, kerb_h / 2), ((pw - gw) / 2, ylen / 2, kerb_h / 2), pave
            )
            sc.add_box((side * (edge + 0.2 + pw - gw / 2), ymid, kerb_h / 2), (gw / 2, ylen / 2, kerb_h / 2), grass)
        else:
            sc.add_box((side * (edge + 0.2 + pw / 2), ymid, kerb_h / 2), (pw / 2, ylen / 2, kerb_h / 2), pave)
        sides.append(_Side(side, edge, pw, parking))
    return _Street(lanes, lane_w, half, kerb_h, tuple(sides), grass, city)


def _add_buildings(sc: Scene, rng: np.random.Generator, street: _Street) -> None:
    """Façades along both sides with gaps (side streets) and front yards, a second row behind, and sometimes a
    building across the street's end."""
    for s in street.sides:
        side = s.side
        y = rng.uniform(-25.0, -5.0)
        front = s.edge + 0.2 + s.pavement
        while y < 200.0:
            if rng.uniform() < 0.2:
                y += rng.uniform(6.0, 18.0)
                continue
            blen = rng.uniform(8.0, 30.0)
            setback = rng.uniform(0.0, 4.0) if rng.uniform() < 0.6 else 0.0
            depth = rng.uniform(8.0, 20.0)
            h = rng.uniform(8.0, 30.0) if street.city else rng.uniform(4.5, 10.0)
            _add_building(sc, rng, side * (front + setback + depth / 2), y + blen / 2, blen, depth, h)
            if setback > 1.0 and rng.uniform() < 0.5:  # front yard
                sc.add_box(
                    (side * (front + setback / 2), y + blen / 2, 0.05), (setback / 2, blen / 2, 0.05), street.grass
                )
            y += blen + rng.uniform(0.0, 1.5)
        for _ in range(int(rng.integers(2, 7))):
            _add_building(
                sc,
                rng,
                side * (front + rng.uniform(25.0, 60.0)),
                rng.uniform(0, 200),
                rng.uniform(15, 40),
                rng.uniform(10, 25),
                rng.uniform(10.0, 45.0),
            )
    if rng.uniform() < 0.45:  # the street ends at a building across it
        _add_building(
            sc, rng, rng.uniform(-10, 10), rng.uniform(80.0, 260.0), 20.0, rng.uniform(40, 80), rng.uniform(8, 40)
        )


def _add_building(
    sc: Scene, rng: np.random.Generator, x: float, y: float, length: float, depth: float, height: float
) -> None:
    """A box building, `length` along the street (y) and `depth` across it, with a window façade texture."""
    bricks = rng.uniform() < 0.35
    if bricks:
        wall = rand_color(rng, (0.0, 0.07), (0.35, 0.7), (0.25, 0.6))
    else:
        wall = rand_color(rng, (0.0, 1.0), (0.0, 0.35), (0.35, 0.9))
    glass = rand_color(rng, (0.5, 0.65), (0.05, 0.4), (0.06, 0.25))
    storey = rng.uniform(2.8, 3.8)
    mat = Material(
        Tex.FACADE,
        wall,
        glass,
        rng.uniform(1.8, 4.0),
        (storey, rng.uniform(0.3, 0.65), rng.uniform(0.35, 0.6), float(bricks)),
        int(rng.integers(0, 65536)),
        0.08,
        0.15,
    )
    sc.add_box((x, y, height / 2), (depth / 2, length / 2, height / 2), mat)


def _add_cars(sc: Scene, rng: np.random.Generator, seed: int, street: _Street, cam_lane: int) -> None:
    """Cars parked along the kerbs and some driving in the lanes, never on the camera."""
    for s in street.sides:
        if not s.parking:
            continue
        y = rng.uniform(-2.0, 8.0)
        while y < 90.0:
            length = rng.uniform(4.0, 5.0)
            if rng.uniform() < 0.75:
                _add_car(
                    sc,
                    rng,
                    s.side * (s.edge - 1.05 - rng.uniform(0, 0.15)),
                    y + length / 2,
                    rng.uniform(-0.04, 0.04),
                    seed + int(y * 10),
                )
            y += length + rng.uniform(0.6, 6.0)
    for _ in range(int(rng.integers(0, 6))):
        lane = int(rng.integers(0, street.lanes))
        yy = rng.uniform(8.0, 75.0)
        if lane == cam_lane and yy < 12.0:
            continue
        _add_car(
            sc,
            rng,
            -street.half + (lane + 0.5) * street.lane_width + rng.uniform(-0.3, 0.3),
            yy,
            rng.uniform(-0.05, 0.05),
            seed + int(yy * 7),
        )


_CAR_COLORS = (
    (0.8, 0.8, 0.8),
    (0.5, 0.52, 0.55),
    (0.04, 0.04, 0.045),
    (0.55, 0.05, 0.04),
    (0.05, 0.12, 0.4),
    (0.25, 0.26, 0.28),
    (0.7, 0.68, 0.6),
    (0.1, 0.25, 0.12),
)


def _add_car(sc: Scene, rng: np.random.Generator, x: float, y: float, yaw: float, seed: int) -> None:
    """A car (body, glass cabin or windscreen, axles) or sometimes a van, centred at (x, y), heading yaw."""
    if rng.uniform() < 0.12:  # van / small truck
        length, w, body_h, cab_h = rng.uniform(4.8, 6.5), rng.uniform(1.9, 2.2), rng.uniform(1.6, 2.2), 0.0
    else:
        length, w, body_h, cab_h = (
            rng.uniform(3.7, 4.9),
            rng.uniform(1.65, 1.9),
            rng.uniform(0.6, 0.85),
            rng.uniform(0.4, 0.55),
        )
    if rng.uniform() < 0.7:
        col = _CAR_COLORS[int(rng.integers(0, len(_CAR_COLORS)))]
    else:
        col = rand_color(rng, (0, 1), (0.3, 0.9), (0.1, 0.8))
    paint = Material(Tex.FLAT, scale_color(col, rng.uniform(0.85, 1.15)), seed=seed, roughness=0.03, specular=0.9)
    glass = Material(Tex.NOISE, (0.05, 0.06, 0.08), (0.2, 0.22, 0.25), 0.4, (0.5, 0, 0, 0), seed, 0.02, 1.2)
    tyre = Material(Tex.FLAT, (0.03, 0.03, 0.03), seed=seed)
    clear = 0.28
    sc.add_box((x, y, clear + body_h / 2), (w / 2, length / 2, body_h / 2), paint, yaw)
    c, s = math.cos(yaw), math.sin(yaw)
    if cab_h > 0:
        off = rng.uniform(-0.25, 0.05) * length
        cab_l = length * rng.uniform(0.45, 0.6)
        sc.add_box(
            (x - s * off, y + c * off, clear + body_h + cab_h / 2), (w / 2 - 0.08, cab_l / 2, cab_h / 2), glass, yaw
        )
    else:
        sc.add_box(
            (x - s * (length / 2 - 0.02), y + c * (length / 2 - 0.02), clear + body_h * 0.7),
            (w / 2 - 0.1, 0.03, body_h * 0.2),
            glass,
            yaw,
        )
    for a in (-1, 1):  # axles: a dark box across the car reads as the pair of wheels
        off = a * (length / 2 - 0.85)
        sc.add_box((x - s * off, y + c * off, 0.32), (w / 2 + 0.01, 0.33, 0.32), tyre, yaw)


def _add_street_furniture(sc: Scene, rng: np.random.Generator, seed: int, street: _Street) -> None:
    """Street lights, sign posts and trees on both pavements."""
    metal = Material(Tex.FLAT, rand_color(rng, (0, 1), (0, 0.3), (0.15, 0.5)), seed=seed, specular=0.4)
    for s in street.sides:
        _add_street_lights(sc, rng, street.kerb_height, s, metal)
        _add_signs(sc, rng, seed, street.kerb_height, s, metal)
        if rng.uniform() < 0.7:
            _add_trees(sc, rng, seed, street.kerb_height, s)


def _add_street_lights(sc: Scene, rng: np.random.Generator, kerb_h: float, s: _Side, metal: Material) -> None:
    y = rng.uniform(0.0, 20.0)
    spacing = rng.uniform(18.0, 35.0)
    while y < 160.0:
        x = s.side * (s.edge + 0.6)
        hh = rng.uniform(6.0, 9.0)
        sc.add_cylinder((x, y, kerb_h), rng.uniform(0.07, 0.12), hh, metal)
        sc.add_box((x - s.side * 0.8, y, kerb_h + hh - 0.05), (0.8, 0.08, 0.06), metal)
        sc.add_box(
            (x - s.side * 1.5, y, kerb_h + hh - 0.15),
            (0.3, 0.15, 0.06),
            Material(Tex.FLAT, (0.9, 0.9, 0.85), emission=0.3),
        )
        y += spacing


def _add_signs(sc: Scene, rng: np.random.Generator, seed: int, kerb_h: float, s: _Side, metal: Material) -> None:
    for _ in range(int(rng.integers(0, 4))):
        y, x, sh = rng.uniform(3.0, 70.0), s.side * (s.edge + 0.5), rng.uniform(2.2, 3.0)
        sc.add_cylinder((x, y, kerb_h), 0.04, sh, metal)
        sign_c = [(0.8, 0.1, 0.1), (0.1, 0.2, 0.7), (0.9, 0.75, 0.1), (0.9, 0.9, 0.9)][int(rng.integers(0, 4))]
        sc.add_box(
            (x, y - 0.05, kerb_h + sh + 0.25), (0.3, 0.02, 0.3), Material(Tex.FLAT, sign_c, seed=seed, specular=0.3)
        )


def _add_trees(sc: Scene, rng: np.random.Generator, seed: int, kerb_h: float, s: _Side) -> None:
    y = rng.uniform(0.0, 12.0)
    step = rng.uniform(7.0, 16.0)
    trunk = Material(Tex.NOISE, (0.2, 0.14, 0.09), (0.1, 0.07, 0.05), 0.15, (0.8, 0, 0, 0), seed + 5)
    leaves = Material(
        Tex.FOLIAGE,
        rand_color(rng, (0.2, 0.33), (0.5, 0.9), (0.04, 0.15)),
        rand_color(rng, (0.18, 0.3), (0.4, 0.8), (0.2, 0.45)),
        rng.uniform(0.2, 0.5),
        seed=seed + 6,
    )
    while y < 130.0:
        x = s.side * (s.edge + 0.2 + s.pavement * rng.uniform(0.55, 0.8))
        th, tr = rng.uniform(2.0, 3.5), rng.uniform(0.1, 0.25)
        sc.add_cylinder((x, y, kerb_h), tr, th + 0.5, trunk)
        rx, rz = rng.uniform(1.2, 2.6), rng.uniform(1.4, 3.2)
        sc.add_ellipsoid((x, y, kerb_h + th + rz * 0.7), (rx, rx * rng.uniform(0.85, 1.15), rz), leaves)
        y += step * rng.uniform(0.8, 1.2)


def _add_sky_and_sun(sc: Scene, rng: np.random.Generator, seed: int) -> None:
    """Clear or overcast sky, the sun (no shadows when overcast), ambient light from the sky, haze."""
    overcast = rng.uniform() < 0.25
    if overcast:
        g = rng.uniform(0.6, 0.85)
        sky = Sky((g * 0.9, g * 0.92, g), (g, g, g * 1.02), (g * 1.05, g * 1.05, g * 1.05), rng.uniform(0.6, 1.0), seed)
        sun_i, amb_i = rng.uniform(0.3, 0.8), rng.uniform(1.0, 1.4)
    else:
        zen = rand_color(rng, (0.55, 0.62), (0.5, 0.8), (0.5, 0.85))
        sky = Sky(zen, (0.72, 0.8, 0.92), (1.0, 1.0, 1.0), rng.uniform(0.0, 0.6), seed)
        sun_i, amb_i = rng.uniform(3.0, 5.0), rng.uniform(0.45, 0.8)
    sc.sky = sky
    elev, azim = rng.uniform(math.radians(15), math.radians(65)), rng.uniform(0, 2 * math.pi)
    sun_dir = (math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev))
    warm = rng.uniform(0.85, 1.0)
    sc.lights.append(DirectionalLight(sun_dir, (sun_i, sun_i * warm, sun_i * warm * warm), shadow=not overcast))
    sc.ambient = tuple(float(amb_i * c) for c in np.asarray(sky.zenith) * 0.5 + 0.5 * np.asarray(sky.horizon))
    sc.haze_distance = rng.uniform(300.0, 1500.0)

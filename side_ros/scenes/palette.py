"""Random colours and camera effects shared by the indoor and outdoor builders."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from side_ros.scenes.description import PostFX


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def rand_color(
    rng: np.random.Generator,
    hue: tuple[float, float] = (0.0, 1.0),
    sat: tuple[float, float] = (0, 1),
    val: tuple[float, float] = (0, 1),
) -> tuple[float, float, float]:
    """A colour drawn uniformly in HSV ranges (hue wraps around 1)."""
    h = rng.uniform(*hue) % 1.0
    return _hsv(h, rng.uniform(*sat), rng.uniform(*val))


def scale_color(c: Sequence[float], k: float) -> tuple[float, float, float]:
    """The colour times k, clipped to [0, 1] (a darker or lighter shade of it)."""
    return tuple(float(min(1.0, max(0.0, x * k))) for x in c)  # type: ignore[return-value]


def random_post(rng: np.random.Generator, seed: int) -> PostFX:
    """Random camera effects (exposure, sensor noise, blur, vignette, white balance), so no two scenes share a look."""
    return PostFX(
        exposure_key=rng.uniform(0.13, 0.3),
        noise_sigma=rng.uniform(0.002, 0.015),
        blur=rng.uniform(0.2, 0.8),
        vignette=rng.uniform(0.0, 0.3),
        white_balance=tuple(float(x) for x in rng.uniform(0.92, 1.08, 3)),
        seed=int(seed),
    )

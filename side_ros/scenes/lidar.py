"""Simulated LiDAR: which pixels a KITTI-mounted 64-beam scanner would sample (sparse ground truth).

HDL-64E-like LiDAR as mounted on the KITTI car: 64 beams from +2 to -24.8 deg, ~0.17 deg azimuth steps at
10 Hz, 0.08 m above and 0.27 m behind the camera.  The sampling test uses the angular size of a full-resolution
KITTI pixel, so a frame rendered at a lower resolution keeps what nearest-neighbour downsampling of
full-resolution ground truth would keep (about 5% of pixels at any size).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from side_ros.scenes.description import KITTI_CAMERA, Camera

LIDAR_ELEVATION_RANGE_DEG = (2.0, -24.8)
LIDAR_BEAMS = 64
LIDAR_AZIMUTH_STEP_DEG = 0.1728
LIDAR_OFFSET = (0.0, -0.27, 0.08)  # (right, forward, up) from the camera in the level vehicle frame, metres
LIDAR_MAX_RANGE = 120.0
_REFERENCE_PIXEL_RAD = 1.0 / KITTI_CAMERA[0]


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
    return (
        (depth > 0)
        & (beam >= 0)
        & (beam <= LIDAR_BEAMS - 1)
        & (d_elev <= tol_v)
        & (d_az <= tol_h)
        & (rng <= LIDAR_MAX_RANGE)
    )

"""KITTI raw drives: write one in the real on-disk layout (from procedural outdoor scenes) and convert drives to
ROS 2 MCAP bags with kitti2mcap.

Why write drives: KITTI cannot be downloaded here, yet the path "KITTI raw drive -> kitti2mcap -> bag -> node"
must be tested on the real formats. The writer produces exactly what the KITTI raw archive unpacks to (and what
pykitti, hence kitti2mcap, reads):

    <root>/<date>/calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt
    <root>/<date>/<date>_drive_<NNNN>_sync/
        image_02/data/0000000000.png ...  + image_02/timestamps.txt
        velodyne_points/data/0000000000.bin (float32 x, y, z, reflectance) + timestamps(_start|_end).txt
        oxts/data/0000000000.txt (30 values) + oxts/timestamps.txt + oxts/dataformat.txt

The LiDAR points are the scene's exact depth at the pixels a 64-beam scanner would sample, back-projected in the
rectified camera 2 frame and moved into the velodyne frame with the calibration, so the projection of a cloud
through the bag's transforms must land on the same pixels with the same depth (a correctness check of the tf
chain and the projection). Points behind the camera, outside its field of view and hidden behind nearer points
are added, as a real 360-degree scan has them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from side_ros.bags.tf import invert

# Extrinsics of the 2011_09_26 calibration (KITTI raw), re-orthonormalized so the files are self-consistent.
_R_VELO_TO_CAM = [
    7.533745e-03,
    -9.999714e-01,
    -6.166020e-04,
    1.480249e-02,
    7.280733e-04,
    -9.998902e-01,
    9.998621e-01,
    7.523790e-03,
    1.480755e-02,
]
_T_VELO_TO_CAM = [-4.069766e-03, -7.631618e-02, -2.717806e-01]
_R_IMU_TO_VELO = [
    9.999976e-01,
    7.553071e-04,
    -2.035826e-03,
    -7.854027e-04,
    9.998898e-01,
    -1.482298e-02,
    2.024406e-03,
    1.482454e-02,
    9.998881e-01,
]
_T_IMU_TO_VELO = [-8.086759e-01, 3.195559e-01, -7.997231e-01]
_R_RECT_00 = [
    9.999239e-01,
    9.837760e-03,
    -7.445048e-03,
    -9.869795e-03,
    9.999421e-01,
    -4.278459e-03,
    7.402527e-03,
    4.351614e-03,
    9.999631e-01,
]
# Baselines of the rectified cameras relative to camera 0 (metres along x): P_rect_0i[0, 3] = fx * b_i.
_BASELINES = (0.0, -0.537150653, 0.0621688, -0.470554)
_OXTS_FIELDS = (
    "lat lon alt roll pitch yaw vn ve vf vl vu ax ay az af al au wx wy wz wf wl wu pos_accuracy "
    "vel_accuracy navstat numsats posmode velmode orimode"
).split()


def _orthonormal(r: Sequence[float]) -> np.ndarray:
    u, _, vt = np.linalg.svd(np.asarray(r, dtype=np.float64).reshape(3, 3))
    return u @ vt


def _rigid(r: np.ndarray, t: Sequence[float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = t
    return m


def _fmt(values: np.ndarray | Sequence[float]) -> str:
    return " ".join(f"{float(v):.12e}" for v in np.asarray(values, dtype=np.float64).ravel())


@dataclass(frozen=True)
class KittiCalibration:
    """A KITTI raw calibration for images of `size` (width, height) with rectified intrinsics K (all cameras).

    Matrices follow pykitti's names: T_a_b maps points in frame b to frame a.
    """

    K: np.ndarray
    size: tuple[int, int]
    R_rect_00: np.ndarray = field(default_factory=lambda: _orthonormal(_R_RECT_00))
    T_cam0unrect_velo: np.ndarray = field(default_factory=lambda: _rigid(_orthonormal(_R_VELO_TO_CAM), _T_VELO_TO_CAM))
    T_velo_imu: np.ndarray = field(default_factory=lambda: _rigid(_orthonormal(_R_IMU_TO_VELO), _T_IMU_TO_VELO))
    baselines: tuple[float, float, float, float] = _BASELINES

    def P_rect(self, cam: int) -> np.ndarray:
        """3x4 rectified projection of camera `cam` (stereo term only in x, as pykitti reads it)."""
        p = np.hstack([self.K, np.zeros((3, 1))])
        p[0, 3] = self.K[0, 0] * self.baselines[cam]
        return p

    def T_cam_velo(self, cam: int = 2) -> np.ndarray:
        """Velodyne -> rectified camera `cam`: T_i R_rect_00 T_cam0unrect_velo (pykitti's T_camN_velo)."""
        t = np.eye(4)
        t[0, 3] = self.baselines[cam]
        r = np.eye(4)
        r[:3, :3] = self.R_rect_00
        return t @ r @ self.T_cam0unrect_velo

    def write(self, date_dir: str | os.PathLike) -> None:
        """calib_cam_to_cam.txt, calib_velo_to_cam.txt and calib_imu_to_velo.txt in the KITTI raw format."""
        d = Path(date_dir)
        d.mkdir(parents=True, exist_ok=True)
        w, h = self.size
        lines = ["calib_time: 09-Jan-2012 13:57:47", "corner_dist: 9.950000e-02"]
        for cam in range(4):
            c = f"{cam:02d}"
            lines += [
                f"S_{c}: {_fmt([w, h])}",
                f"K_{c}: {_fmt(self.K)}",
                f"D_{c}: {_fmt(np.zeros(5))}",
                f"R_{c}: {_fmt(np.eye(3))}",
                f"T_{c}: {_fmt([self.baselines[cam], 0.0, 0.0])}",
                f"S_rect_{c}: {_fmt([w, h])}",
                f"R_rect_{c}: {_fmt(self.R_rect_00 if cam == 0 else np.eye(3))}",
                f"P_rect_{c}: {_fmt(self.P_rect(cam))}",
            ]
        (d / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
        v = self.T_cam0unrect_velo
        (d / "calib_velo_to_cam.txt").write_text(
            "calib_time: 15-Mar-2012 11:37:16\n"
            f"R: {_fmt(v[:3, :3])}\nT: {_fmt(v[:3, 3])}\n"
            "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n"
        )
        i = self.T_velo_imu
        (d / "calib_imu_to_velo.txt").write_text(
            f"calib_time: 25-May-2012 16:47:16\nR: {_fmt(i[:3, :3])}\nT: {_fmt(i[:3, 3])}\n"
        )


@dataclass(frozen=True)
class KittiFrame:
    """One synchronized frame: the left colour image and the scan in the velodyne frame (x, y, z, reflectance)."""

    rgb: np.ndarray
    scan: np.ndarray


def _timestamp_line(t: datetime) -> str:
    # KITTI writes nanoseconds (9 digits); datetime holds microseconds, padded with zeros.
    return t.strftime("%Y-%m-%d %H:%M:%S.%f") + "000"


def write_drive(
    root: str | os.PathLike,
    frames: Sequence[KittiFrame],
    calibration: KittiCalibration,
    *,
    date: str = "2011_09_26",
    drive: int = 1,
    start: datetime | None = None,
    period: float = 0.1,
    lidar_offset: float = -0.0032,
) -> Path:
    """Write a KITTI raw drive (camera 2, velodyne, OXTS) and its calibration; returns the drive folder.

    Frames are `period` seconds apart; velodyne timestamps lead the camera's by `lidar_offset` seconds (the scan
    passes the camera's field of view slightly before the shutter, as in the real sync data).
    """
    from PIL import Image

    if not frames:
        raise ValueError("a drive needs at least one frame")
    sizes = {f.rgb.shape[:2] for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"all frames of a drive must have one image size, got {sorted(sizes)}")
    h, w = sizes.pop()
    if (w, h) != tuple(calibration.size):
        raise ValueError(f"images are {w}x{h} but the calibration is for {calibration.size[0]}x{calibration.size[1]}")
    start = start or datetime(2011, 9, 26, 13, 2, 25, 961661, tzinfo=timezone.utc)
    date_dir = Path(root) / date
    calibration.write(date_dir)
    drive_dir = date_dir / f"{date}_drive_{drive:04d}_sync"
    image_dir = drive_dir / "image_02" / "data"
    velo_dir = drive_dir / "velodyne_points" / "data"
    oxts_dir = drive_dir / "oxts" / "data"
    for p in (image_dir, velo_dir, oxts_dir):
        p.mkdir(parents=True, exist_ok=True)
    cam_t, velo_t, oxts_t = [], [], []
    for i, f in enumerate(frames):
        if f.rgb.dtype != np.uint8 or f.rgb.ndim != 3 or f.rgb.shape[2] != 3:
            raise ValueError(f"frame {i}: rgb must be (H, W, 3) uint8, got {f.rgb.dtype} {f.rgb.shape}")
        scan = np.ascontiguousarray(f.scan, dtype="<f4")
        if scan.ndim != 2 or scan.shape[1] != 4:
            raise ValueError(f"frame {i}: scan must be (N, 4) x, y, z, reflectance, got {scan.shape}")
        t = start + timedelta(seconds=i * period)
        Image.fromarray(f.rgb).save(image_dir / f"{i:010d}.png")
        scan.tofile(velo_dir / f"{i:010d}.bin")
        (oxts_dir / f"{i:010d}.txt").write_text(_oxts_line(i, period) + "\n")
        cam_t.append(t)
        velo_t.append(t + timedelta(seconds=lidar_offset))
        oxts_t.append(t + timedelta(seconds=0.0004))
    (drive_dir / "image_02" / "timestamps.txt").write_text("".join(_timestamp_line(t) + "\n" for t in cam_t))
    velo_root = drive_dir / "velodyne_points"
    (velo_root / "timestamps.txt").write_text("".join(_timestamp_line(t) + "\n" for t in velo_t))
    (velo_root / "timestamps_start.txt").write_text(
        "".join(_timestamp_line(t - timedelta(seconds=0.05)) + "\n" for t in velo_t)
    )
    (velo_root / "timestamps_end.txt").write_text(
        "".join(_timestamp_line(t + timedelta(seconds=0.05)) + "\n" for t in velo_t)
    )
    (drive_dir / "oxts" / "timestamps.txt").write_text("".join(_timestamp_line(t) + "\n" for t in oxts_t))
    (drive_dir / "oxts" / "dataformat.txt").write_text("".join(f"{name}:\n" for name in _OXTS_FIELDS))
    return drive_dir


def _oxts_line(i: int, period: float) -> str:
    """A plausible OXTS packet: driving north-east at 8 m/s near Karlsruhe, level, GPS fix."""
    speed = 8.0
    lat = 49.011212 + i * period * speed * 0.7071 / 111_111.0
    lon = 8.422894 + i * period * speed * 0.7071 / (111_111.0 * np.cos(np.radians(49.0)))
    values = [
        lat,
        lon,
        112.8,
        0.02,
        0.01,
        0.785,
        speed * 0.7071,
        speed * 0.7071,
        speed,
        0.0,
        0.0,
        0.05,
        0.0,
        9.81,
        0.05,
        0.0,
        9.81,
        0.0,
        0.0,
        0.001,
        0.0,
        0.0,
        0.001,
        0.35,
        0.05,
    ]
    flags = [4, 10, 4, 4, 6]
    return " ".join(f"{v:.12g}" for v in values) + " " + " ".join(str(f) for f in flags)


def scan_from_depth(
    depth: np.ndarray,
    K: np.ndarray,
    rgb: np.ndarray,
    camera_from_velo: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    extras: bool = True,
) -> np.ndarray:
    """A velodyne scan (N, 4) whose points are the depth's pixels (where `mask`) back-projected in the camera
    frame and moved to the velodyne frame; with `extras`, also points behind the camera, beside its field of view
    and hidden behind the true surface (farther along the same pixel ray), which a projection must discard.
    """
    d = np.asarray(depth, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    if mask is not None:
        ok &= mask
    v, u = np.nonzero(ok)
    z = d[v, u]
    pts = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=1)
    refl = rgb[v, u].mean(axis=1) / 255.0
    velo_from_cam = invert(camera_from_velo)
    scan = pts @ velo_from_cam[:3, :3].T + velo_from_cam[:3, 3]
    parts = [np.column_stack([scan, refl])]
    if extras and len(scan):
        hidden = (pts[::7] * 1.3) @ velo_from_cam[:3, :3].T + velo_from_cam[:3, 3]
        parts.append(np.column_stack([hidden, refl[::7]]))
        for yaw in (np.pi, np.pi / 2, -np.pi / 2):  # behind, left and right of the vehicle
            c, s = np.cos(yaw), np.sin(yaw)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            parts.append(np.column_stack([scan[::3] @ rot.T, refl[::3]]))
    return np.concatenate(parts).astype(np.float32)


@dataclass
class ProceduralDrive:
    """A written drive and what it was made from (dense depth in camera 2 per frame, for checks)."""

    root: Path
    date: str
    drive: str
    drive_dir: Path
    calibration: KittiCalibration
    depths: list[np.ndarray]
    lidar_masks: list[np.ndarray]
    seeds: list[int]


def procedural_drive(
    root: str | os.PathLike,
    num_frames: int = 3,
    width: int = 310,
    height: int = 94,
    *,
    seed: int = 0,
    date: str = "2011_09_26",
    drive: int = 1,
) -> ProceduralDrive:
    """A KITTI raw drive of `num_frames` procedural outdoor scenes, all seen by one camera with KITTI's
    intrinsics scaled to width x height, with 64-beam LiDAR scans of their exact depth."""
    from side_ros import scenes

    K = scenes.default_intrinsics("outdoor", width, height)
    calib = KittiCalibration(K=K, size=(width, height))
    cam_from_velo = calib.T_cam_velo(2)
    frames, depths, masks, seeds = [], [], [], []
    for i in range(num_frames):
        s = seed + i
        scene, cam = scenes.build_outdoor_scene(s, width, height)
        cam = scenes.Camera(width, height, K, cam.rotation, cam.position)  # one calibrated camera for the drive
        out = scenes.render(scene, cam)
        depth_t = out.depth
        m = scenes.lidar_mask(depth_t, cam).cpu().numpy()  # only valid depth (> 0) is ever sampled
        depth = depth_t.float().cpu().numpy()
        rgb = out.rgb.cpu().numpy()
        frames.append(KittiFrame(rgb, scan_from_depth(depth, K, rgb, cam_from_velo, m)))
        depths.append(depth)
        masks.append(m)
        seeds.append(s)
    drive_dir = write_drive(root, frames, calib, date=date, drive=drive)
    return ProceduralDrive(Path(root), date, f"{drive:04d}", drive_dir, calib, depths, masks, seeds)


def kitti2mcap(
    kitti_dir: str | os.PathLike,
    date: str,
    drive: str,
    output: str | os.PathLike,
    *,
    frames: int | None = None,
    cameras: str = "2",
    lidar: bool = True,
    imu: bool = True,
) -> Path:
    """Convert a KITTI raw drive to a ROS 2 MCAP file with kitti2mcap (its CLI, in this process).

    Topics: /kitti/camera_color_left/image_raw (rgb8), .../camera_info (rectified P), /kitti/velodyne_points,
    /tf_static, /tf (and /kitti/imu with OXTS). Raises FileNotFoundError / RuntimeError with kitti2mcap's reason.
    """
    import contextlib
    import io

    try:
        from kitti2mcap import cli
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("kitti2mcap is not installed: pip install kitti2mcap") from exc
    out = Path(output)
    args = [
        "--date",
        date,
        "--drive",
        str(drive),
        "--kitti-dir",
        str(kitti_dir),
        "--output",
        str(out),
        "--cameras",
        cameras,
    ]
    if frames is not None:
        args += ["--frames", str(frames)]
    if not lidar:
        args.append("--no-lidar")
    if not imu:
        args.append("--no-imu")
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 2
    if code != 0 or not out.is_file():
        raise RuntimeError(f"kitti2mcap failed (exit {code}): {log.getvalue().strip()[-500:]}")
    return out

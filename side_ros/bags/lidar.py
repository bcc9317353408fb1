"""Depth evaluation against the LiDAR of a bag (KITTI-style): project each cloud into the camera, score depth.

Per frame: the LiDAR cloud nearest in time (header stamps, within max_dt) is transformed into the camera's
optical frame with the bag's /tf_static and /tf (the whole chain, e.g. velodyne -> base_link -> camera), points
with z > min_depth that fall inside the image are projected with the camera_info's rectified intrinsics
(fx, fy, cx, cy of P, pixel centres at integer coordinates, rounded to the nearest pixel) and each pixel keeps its
nearest point: a sparse ground truth as monodepth's `generate_depth_map` builds from KITTI raw scans. The
prediction (the pipeline run on the image, or a depth topic already in the bag) is scored on those pixels with
side_ros.metrics (KITTI benchmark definitions, per frame, then the mean over frames).

P's fourth column (the stereo baseline term -fx*B) is not applied: the transform tree already places the points
in this camera's own frame (kitti2mcap's camera frames are the rectified camera frames, baseline included);
applying both would shift every point by the baseline.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from side_ros import geometry, payloads
from side_ros import metrics as M
from side_ros.bags import messages as bm
from side_ros.bags.io import BagError, BagReader
from side_ros.bags.tf import TransformError, TransformTree
from side_ros.bags.topics import (
    DEFAULT_NAMESPACE,
    IMAGE,
    _check_given,
    find_camera_topics,
    find_info_topic,
    find_lidar_topic,
)

TF_TOPICS = ("/tf_static", "/tf")
TF_TYPE = "tf2_msgs/msg/TFMessage"


def cdr_header_stamp(raw: bytes | memoryview) -> int:
    """Header stamp (ns) of a CDR-serialized message that starts with std_msgs/Header, without decoding it.

    Why: matching clouds to images needs only the stamps, and decoding every 2 MB cloud twice is wasteful.
    """
    head = bytes(raw[:12])
    if len(head) < 12:
        raise ValueError("message too short for a header")
    little = head[1] in (1, 3)  # encapsulation: 0x0001 CDR_LE, 0x0003 PL_CDR_LE
    sec, nanosec = struct.unpack("<iI" if little else ">iI", head[4:12])
    return sec * bm.NS + nanosec


def transform_points(xyz: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 3) points -> (N, 3) float64 points in the target frame of a 4x4 transform."""
    p = np.asarray(xyz, dtype=np.float64)
    return p @ matrix[:3, :3].T + matrix[:3, 3]


def project_to_depth(
    points_cam: np.ndarray, intrinsics: geometry.Intrinsics, height: int, width: int, *, min_depth: float = 1e-3
) -> np.ndarray:
    """Sparse depth (H, W) float32 (0 = no point) from points in the optical frame; nearest point per pixel."""
    p = np.asarray(points_cam, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    z = p[:, 2]
    front = z > max(min_depth, 1e-9)
    p, z = p[front], z[front]
    u = np.rint(intrinsics.fx * p[:, 0] / z + intrinsics.cx)
    v = np.rint(intrinsics.fy * p[:, 1] / z + intrinsics.cy)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    idx = v[inside].astype(np.int64) * width + u[inside].astype(np.int64)
    z = z[inside]
    order = np.lexsort((z, idx))  # by pixel, nearest first
    idx, z = idx[order], z[order]
    first = np.ones(idx.size, dtype=bool)
    first[1:] = idx[1:] != idx[:-1]
    depth = np.zeros(height * width, dtype=np.float32)
    depth[idx[first]] = z[first]
    return depth.reshape(height, width)


def lidar_depth(
    xyz: np.ndarray,
    camera_from_lidar: np.ndarray,
    intrinsics: geometry.Intrinsics,
    height: int,
    width: int,
    *,
    min_depth: float = 1e-3,
) -> np.ndarray:
    """Sparse ground-truth depth of a LiDAR cloud (its own frame) in a camera, given T_camera<-lidar."""
    return project_to_depth(transform_points(xyz, camera_from_lidar), intrinsics, height, width, min_depth=min_depth)


@dataclass
class FrameEval:
    """One scored frame: its stamps, the chosen range, the LiDAR pixels and the metrics (plain units)."""

    index: int
    stamp: int
    lidar_stamp: int
    range: str | None
    gt_pixels: int
    coverage: float  # fraction of LiDAR pixels where the prediction is finite
    metrics: dict[str, float] | None


@dataclass
class LidarEvalReport:
    bag: Path
    frame_topic: str
    lidar_topic: str
    camera_frame: str
    protocol: str
    frames: list[FrameEval] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    accumulator: M.DepthMetricAccumulator | None = None

    @property
    def aggregate(self) -> dict[str, float]:
        """Mean over scored frames (KITTI devkit aggregation); empty when nothing was scored."""
        if self.accumulator is None or self.accumulator.num_images == 0:
            return {}
        return self.accumulator.compute("per_image")

    def by_range(self) -> dict[str, dict[str, float]]:
        if self.accumulator is None or self.accumulator.num_images == 0:
            return {}
        return {str(k): v for k, v in self.accumulator.compute_groups("per_image").items() if k is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "bag": str(self.bag),
            "frame_topic": self.frame_topic,
            "lidar_topic": self.lidar_topic,
            "camera_frame": self.camera_frame,
            "protocol": self.protocol,
            "frames": [f.__dict__ for f in self.frames],
            "skipped": dict(self.skipped),
            "aggregate": self.aggregate,
            "by_range": self.by_range(),
        }

    def format(self) -> str:
        """Per-frame table and aggregated tables (KITTI leaderboard units, then plain units)."""
        cols = ("silog", "abs_rel", "sq_rel_kitti", "irmse", "rmse", "delta1")
        lines = [
            "| frame | stamp (s) | range | LiDAR px | "
            + " | ".join(M.column_header(c, "leaderboard") for c in cols)
            + " |",
            "|" + "---|" * (4 + len(cols)),
        ]
        for f in self.frames:
            if f.metrics is None:
                cells = ["-"] * len(cols)
            else:
                lb = M.to_leaderboard_units(f.metrics)
                cells = [f"{lb[c]:.3f}" for c in cols]
            lines.append(
                f"| {f.index} | {f.stamp / 1e9:.3f} | {f.range or '-'} | {f.gt_pixels} | " + " | ".join(cells) + " |"
            )
        out = ["Per frame (" + self.protocol + "):", "\n".join(lines), ""]
        agg = self.aggregate
        if agg:
            rows = {f"all ({self.accumulator.num_images} frames)": agg}
            rows.update({f"{k} range": v for k, v in self.by_range().items()})
            out += [
                "Aggregated (mean over frames), KITTI leaderboard units:",
                M.format_table(rows, "kitti", title="frames"),
                "",
                "Aggregated, plain units:",
                M.format_table(
                    rows, ["rmse", "mae", "abs_rel", "sq_rel_eigen", "delta1", "delta2", "delta3"], title="frames"
                ),
            ]
        else:
            out.append("No frame could be scored.")
        if self.skipped:
            out.append("Skipped frames: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())))
        return "\n".join(out)


def evaluate_bag(
    bag: str | os.PathLike,
    *,
    predict: Callable[[np.ndarray], Any] | None = None,
    depth_topic: str | None = None,
    image_topic: str | None = None,
    info_topic: str | None = None,
    lidar_topic: str | None = None,
    camera_frame: str | None = None,
    protocol: str = "kitti_benchmark",
    max_dt: float = 0.05,
    min_lidar_depth: float = 1e-3,
    namespace: str = DEFAULT_NAMESPACE,
    progress: bool | None = None,
) -> LidarEvalReport:
    """Score depth against the bag's LiDAR; the depth is `predict(rgb)` on the camera images, or the images of
    `depth_topic` (32FC1 / 16UC1, e.g. /side/depth of a bag written by side-depth-bag).

    Raises BagError for missing topics or transforms.
    """
    from tqdm import tqdm

    if (predict is None) == (depth_topic is None):
        raise ValueError("give exactly one of predict (run a network) and depth_topic (depth already in the bag)")
    prot = M.get_protocol(protocol)
    with BagReader(bag) as reader:
        lidar = find_lidar_topic(reader, lidar_topic, namespace=namespace)
        if depth_topic:
            frame_topic = _check_given(reader, depth_topic, (IMAGE,), "a depth image")
            info = find_info_topic(reader, depth_topic, info_topic, require=True)
        else:
            cam = find_camera_topics(reader, image_topic, info_topic, namespace=namespace, require_info=True)
            frame_topic, info = cam.image, cam.info
        assert info is not None
        infos = bm.StampIndex(
            [
                bm.Stamped(bm.stamp_ns(m.header.stamp), msg.log_time, m)
                for msg in reader.messages([info])
                for m in [reader.deserialize(msg)]
            ]
        )
        tree = TransformTree()
        for msg in reader.messages([t for t in TF_TOPICS if t in reader.topics]):
            if msg.msgtype == TF_TYPE:
                tree.add_message(reader.deserialize(msg), static=msg.topic == "/tf_static")

        # Pass 1: stamps only, to pair each frame with its nearest cloud.
        clouds = bm.StampIndex(
            [bm.Stamped(cdr_header_stamp(m.raw), m.log_time, i) for i, m in enumerate(reader.messages([lidar]))]
        )
        frame_stamps = [cdr_header_stamp(m.raw) for m in reader.messages([frame_topic])]
        if not frame_stamps:
            raise BagError(f"no message on {frame_topic} in bag {reader.path}")
        report = LidarEvalReport(
            reader.path,
            frame_topic,
            lidar,
            camera_frame or "",
            prot.name,
            accumulator=M.DepthMetricAccumulator(protocol=prot),
        )
        max_ns = int(max_dt * bm.NS)
        pairing: dict[int, bm.Stamped] = {}
        for i, s in enumerate(frame_stamps):
            c = clouds.nearest(s, max_ns)
            if c is None:
                report.skipped["no_lidar_within_max_dt"] += 1
            else:
                pairing[i] = c
        wanted = Counter(c.msg for c in pairing.values())

        # Pass 2: frames and clouds in log order; each side waits in memory only until its partner arrives.
        waiting_frames: dict[int, list[tuple[int, Any, Any]]] = {}  # cloud index -> [(frame, msg, log_time)]
        ready_clouds: dict[int, tuple[np.ndarray, int, str]] = {}
        frame_i = cloud_i = 0
        bar = tqdm(total=len(pairing), unit="frame", desc="evaluate", disable=(progress is False) or None)
        try:
            for msg in reader.messages([frame_topic, lidar]):
                if msg.topic == lidar and msg.topic != frame_topic:
                    ci, cloud_i = cloud_i, cloud_i + 1
                    if ci not in wanted:
                        continue
                    cmsg = reader.deserialize(msg)
                    xyz, _ = payloads.cloud_xyz(cmsg)
                    entry = (xyz, bm.stamp_ns(cmsg.header.stamp), cmsg.header.frame_id)
                    for fi, fmsg, flog in waiting_frames.pop(ci, []):
                        _score(
                            report, reader, fi, fmsg, flog, entry, infos, tree, predict, camera_frame, min_lidar_depth
                        )
                        wanted[ci] -= 1
                        bar.update(1)
                    if wanted[ci] > 0:
                        ready_clouds[ci] = entry
                    continue
                fi, frame_i = frame_i, frame_i + 1
                if fi not in pairing:
                    continue
                ci = pairing[fi].msg
                fmsg = reader.deserialize(msg)
                if ci in ready_clouds:
                    _score(
                        report,
                        reader,
                        fi,
                        fmsg,
                        msg.log_time,
                        ready_clouds[ci],
                        infos,
                        tree,
                        predict,
                        camera_frame,
                        min_lidar_depth,
                    )
                    bar.update(1)
                    wanted[ci] -= 1
                    if wanted[ci] <= 0:
                        del ready_clouds[ci]
                else:
                    waiting_frames.setdefault(ci, []).append((fi, fmsg, msg.log_time))
        finally:
            bar.close()
    report.frames.sort(key=lambda f: f.index)
    return report


def _score(
    report: LidarEvalReport,
    reader: BagReader,
    index: int,
    fmsg: Any,
    log_time: int,
    cloud: tuple[np.ndarray, int, str],
    infos: bm.StampIndex,
    tree: TransformTree,
    predict: Callable[[np.ndarray], Any] | None,
    camera_frame: str | None,
    min_depth: float,
) -> None:
    xyz, cloud_stamp, lidar_frame = cloud
    stamp = bm.stamp_ns(fmsg.header.stamp)
    frame = camera_frame or fmsg.header.frame_id
    report.camera_frame = report.camera_frame or frame
    if predict is None:
        try:
            depth = payloads.image_depth(fmsg)
        except ValueError as exc:
            raise BagError(f"{report.frame_topic}: {exc}") from exc
        chosen = None
    else:
        from side_ros.image_conversion import ImageConversionError, message_to_rgb

        try:
            rgb = message_to_rgb(fmsg)
        except ImageConversionError as exc:
            raise BagError(f"{report.frame_topic}: frame {index}: {exc}") from exc
        picked = infos.pick(stamp, log_time)
        focal = geometry.camera_focal(None if picked is None else picked.msg, rgb.shape[0], rgb.shape[1])
        result = predict(rgb if rgb.flags.writeable else rgb.copy(), focal)
        depth, chosen = result.depth, result.decision.range
    h, w = depth.shape
    picked = infos.pick(stamp, log_time)
    if picked is None:
        raise BagError("no camera_info message in the bag")
    try:
        intr = geometry.camera_intrinsics(picked.msg, h, w)
    except geometry.CameraInfoError as exc:
        report.skipped[exc.reason] += 1
        return
    try:
        t_cam_lidar = tree.lookup(frame, lidar_frame, cloud_stamp)
    except TransformError as exc:
        raise BagError(f"cannot place LiDAR frame {lidar_frame!r} in camera frame {frame!r}: {exc}") from exc
    gt = lidar_depth(xyz, t_cam_lidar, intr, h, w, min_depth=min_depth)
    valid_gt = gt > 0
    finite = np.isfinite(depth)
    n_gt = int(valid_gt.sum())
    coverage = float((finite & valid_gt).sum() / n_gt) if n_gt else 0.0
    row = report.accumulator.update(depth, gt, mask=finite, group=chosen, name=str(stamp))[0]
    has = row[0] > 0
    if not has:
        report.skipped["no_lidar_point_in_image"] += 1
    report.frames.append(
        FrameEval(index, stamp, cloud_stamp, chosen, n_gt, coverage, M.metrics_from_stats(row) if has else None)
    )

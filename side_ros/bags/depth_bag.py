"""Depth over a recorded bag without a ROS graph: a new bag with every original message plus the node's outputs.

For each camera image the pipeline runs once and the bag gets, at the image's log time and with its header
(stamp and optical frame):
  <ns>/depth           sensor_msgs/Image 32FC1, metres, NaN invalid (REP 118)
  <ns>/depth/camera_info  sensor_msgs/CameraInfo of the depth image (the camera's; needs camera_info)
  <ns>/depth/confidence   sensor_msgs/Image 32FC1 in [0, 1] (networks with a classification head)
  <ns>/points          sensor_msgs/PointCloud2, organized, depth_image_proc layout (needs camera_info)
  <ns>/depth/colormap  sensor_msgs/Image bgr8 (turbo)
  <ns>/scene           std_msgs/String JSON (range, router, score, evidence)
the same messages the live node publishes, so `ros2 bag play` of the result shows them in RViz as if the node ran.
Original messages keep their log times, definitions and QoS; nothing is reordered.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from side_ros import geometry
from side_ros.bags import messages as bm
from side_ros.bags.io import BagError, BagReader, BagWriter
from side_ros.bags.topics import DEFAULT_NAMESPACE, find_camera_topics


@dataclass(frozen=True)
class OutputOptions:
    """What is written per frame (the node's parameters of the same names)."""

    namespace: str = DEFAULT_NAMESPACE
    points: bool = True
    points_color: bool = True
    points_stride: int = 1
    points_min_depth: float = 0.0
    points_max_depth: float = 0.0
    points_min_confidence: float = 0.0
    confidence: bool = True
    colormap: bool = True
    colormap_min_depth: float = 0.0
    colormap_max_depth: float = 0.0

    def topic(self, name: str) -> str:
        return self.namespace.rstrip("/") + "/" + name


@dataclass
class DepthBagReport:
    """What was written: frames, clouds, the output topics, the ranges chosen and why clouds were skipped."""

    input: Path
    output: Path
    image_topic: str
    info_topic: str | None
    frames: int = 0
    clouds: int = 0
    messages_copied: int = 0
    ranges: Counter = field(default_factory=Counter)
    clouds_skipped: Counter = field(default_factory=Counter)
    seconds_per_frame: list[float] = field(default_factory=list)

    def summary(self) -> str:
        ranges = ", ".join(f"{k} {v}" for k, v in sorted(self.ranges.items())) or "none"
        skipped = "; ".join(f"{k}: {v}" for k, v in sorted(self.clouds_skipped.items()))
        mean = (1000.0 * float(np.mean(self.seconds_per_frame))) if self.seconds_per_frame else float("nan")
        lines = [
            f"wrote {self.output}: {self.frames} frames from {self.image_topic} "
            f"(camera_info: {self.info_topic or 'none'}), {self.messages_copied} original messages copied",
            f"ranges chosen: {ranges}; point clouds: {self.clouds}" + (f" (skipped: {skipped})" if skipped else ""),
            f"mean time per frame: {mean:.1f} ms",
        ]
        return "\n".join(lines)


def frame_outputs(
    ts: Any, header: Any, rgb: np.ndarray, result: Any, info: Any | None, options: OutputOptions
) -> tuple[dict[str, Any], str | None]:
    """The output messages of one frame {topic: message} and, when no cloud was made, the reason."""
    depth = result.depth
    confidence = getattr(result, "confidence", None)
    out: dict[str, Any] = {options.topic("depth"): bm.depth_image(ts, header, depth)}
    intr, why = None, "no_camera_info"
    if info is not None:
        try:
            intr = geometry.camera_intrinsics(info, depth.shape[0], depth.shape[1])
        except geometry.CameraInfoError as exc:
            why = exc.reason
        else:
            out[options.topic("depth/camera_info")] = bm.depth_camera_info(ts, header, info, *depth.shape)
    if options.confidence and confidence is not None:
        out[options.topic("depth/confidence")] = bm.depth_image(ts, header, confidence)
    skipped = None
    if options.points:
        if intr is None:
            skipped = why
        else:
            cloud = geometry.depth_to_cloud(
                depth,
                intr,
                rgb if options.points_color else None,
                stride=options.points_stride,
                min_depth=options.points_min_depth,
                max_depth=options.points_max_depth,
                confidence=confidence,
                min_confidence=options.points_min_confidence,
            )
            out[options.topic("points")] = bm.point_cloud(ts, header, cloud)
    if options.colormap:
        bgr = geometry.colorize_depth(depth, options.colormap_min_depth, options.colormap_max_depth, order="bgr")
        out[options.topic("depth/colormap")] = bm.color_image(ts, header, bgr, "bgr8")
    out[options.topic("scene")] = bm.scene_message(ts, header, result.decision)
    return out, skipped


def depth_bag(
    input_bag: str | os.PathLike,
    output_bag: str | os.PathLike,
    predict: Callable[[np.ndarray, tuple[float, float] | None], Any],
    *,
    image_topic: str | None = None,
    info_topic: str | None = None,
    storage: str | None = None,
    overwrite: bool = False,
    options: OutputOptions = OutputOptions(),
    compress: bool = True,
    progress: bool | None = None,
) -> DepthBagReport:
    """Run `predict` (RGB uint8 HxWx3 and the camera's (fx, fy) or None -> result with .depth, .decision and
    optionally .confidence, e.g. a RobustDepthPipeline) on every camera image of `input_bag` and write
    `output_bag` (storage: like the input when None).

    Raises BagError for unusable bags, topics or images; the partial output bag is deleted on any error (and on
    Ctrl-C), and with `overwrite` an existing output bag is replaced only once the new one is complete.
    """
    from tqdm import tqdm

    from side_ros.image_conversion import ImageConversionError, message_to_rgb

    with BagReader(input_bag) as reader:
        cam = find_camera_topics(reader, image_topic, info_topic, namespace=options.namespace)
        own = [t for t in reader.topics if t.startswith(options.namespace.rstrip("/") + "/")]
        if own:
            raise BagError(
                f"bag {reader.path} already has output topics ({', '.join(sorted(own))}); "
                "write to another namespace with --namespace"
            )
        infos = bm.StampIndex([])
        if cam.info is not None:
            infos = bm.StampIndex(
                [
                    bm.Stamped(bm.stamp_ns(m.header.stamp), msg.log_time, m)
                    for msg in reader.messages([cam.info])
                    for m in [reader.deserialize(msg)]
                ]
            )
        report = DepthBagReport(Path(input_bag), Path(output_bag), cam.image, cam.info)
        total = reader.topics[cam.image].count
        if total == 0:
            raise BagError(f"no message on {cam.image} in bag {reader.path}; nothing to do")
        with BagWriter(output_bag, storage or reader.storage, overwrite=overwrite, compress=compress) as writer:
            for conn in reader.connections:
                writer.copy_topic(conn, reader.typestore)
            ts = writer.typestore
            bar = tqdm(total=total, unit="frame", desc="depth", disable=(progress is False) or None)
            try:
                for msg in reader.messages():
                    writer.write_raw(msg.topic, msg.log_time, msg.raw)
                    report.messages_copied += 1
                    if msg.topic != cam.image:
                        continue
                    image = reader.deserialize(msg)
                    try:
                        rgb = message_to_rgb(image)
                    except ImageConversionError as exc:
                        raise BagError(
                            f"{cam.image}: frame {report.frames} (stamp "
                            f"{bm.stamp_ns(image.header.stamp) / 1e9:.6f}): {exc}"
                        ) from exc
                    t0 = time.perf_counter()
                    stamped = infos.pick(bm.stamp_ns(image.header.stamp), msg.log_time)
                    info = None if stamped is None else stamped.msg
                    result = predict(rgb, geometry.camera_focal(info, rgb.shape[0], rgb.shape[1]))
                    outputs, skipped = frame_outputs(
                        ts, image.header, rgb, result, None if stamped is None else stamped.msg, options
                    )
                    for topic, out in outputs.items():
                        writer.write(topic, out, msg.log_time)
                    report.seconds_per_frame.append(time.perf_counter() - t0)
                    report.frames += 1
                    report.ranges[result.decision.range] += 1
                    if skipped:
                        report.clouds_skipped[skipped] += 1
                    elif options.points:
                        report.clouds += 1
                    bar.update(1)
            finally:
                bar.close()
    return report

"""Which topics of a bag are the camera, its camera_info and the LiDAR: given by the user, or detected when the
bag leaves no doubt.

Detection rules (each refusal names the candidates, so the user knows what to pass):
- camera image: sensor_msgs/Image topics whose first message has a colour encoding (not 32FC1/16UC1 depth), plus
  CompressedImage topics that are not compressedDepth; an `image_raw/compressed` twin of a raw topic counts
  once (the raw one); the package's own outputs (`/side/...` by default) are never candidates.
- camera_info: the only CameraInfo topic, or the one beside the image (image_transport's `<camera>/camera_info`).
- LiDAR: the only PointCloud2 topic outside the output namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from posixpath import dirname

from side_ros.bags.io import BagError, BagReader
from side_ros.bags.messages import DEPTH_ENCODINGS

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
DEFAULT_NAMESPACE = "/side"


@dataclass(frozen=True)
class CameraTopics:
    image: str
    compressed: bool
    info: str | None


def _own(topic: str, namespace: str | None) -> bool:
    ns = (namespace or "").rstrip("/")
    return bool(ns) and (topic == ns or topic.startswith(ns + "/"))


def _check_given(reader: BagReader, topic: str, types: tuple[str, ...], what: str) -> str:
    topics = reader.topics
    if topic not in topics:
        raise BagError(f"topic {topic} is not in bag {reader.path} (topics: {reader.topic_list()})")
    if topics[topic].msgtype not in types:
        raise BagError(f"topic {topic} is {topics[topic].msgtype}, not {what} ({' or '.join(types)})")
    return topic


def camera_base(image_topic: str) -> str:
    """The camera namespace of an image topic: /cam/image_raw -> /cam, /cam/image_raw/compressed -> /cam."""
    base = image_topic
    if base.endswith("/compressed"):
        base = base[: -len("/compressed")]
    return dirname(base) or "/"


def _is_colour_image(reader: BagReader, topic: str, msgtype: str) -> bool:
    msg = reader.first(topic)
    if msg is None:
        return False
    if msgtype == COMPRESSED:
        return "compresseddepth" not in str(msg.format).replace(" ", "").lower()
    return str(msg.encoding) not in DEPTH_ENCODINGS


def find_camera_topics(
    reader: BagReader,
    image_topic: str | None = None,
    info_topic: str | None = None,
    *,
    namespace: str | None = DEFAULT_NAMESPACE,
    require_info: bool = False,
) -> CameraTopics:
    """The camera image topic and its camera_info topic (None when the bag has none and it is not required)."""
    topics = reader.topics
    if image_topic:
        image = _check_given(reader, image_topic, (IMAGE, COMPRESSED), "a camera image")
    else:
        cands = [
            t.name
            for t in topics.values()
            if t.msgtype in (IMAGE, COMPRESSED)
            and t.count > 0
            and not _own(t.name, namespace)
            and _is_colour_image(reader, t.name, t.msgtype)
        ]
        raw = set(c for c in cands if topics[c].msgtype == IMAGE)
        cands = sorted(c for c in cands if not (c.endswith("/compressed") and c[: -len("/compressed")] in raw))
        image = _only(
            reader,
            cands,
            "camera image topic",
            "a sensor_msgs/Image with a colour encoding, or a CompressedImage",
            "--image-topic",
        )
    compressed = topics[image].msgtype == COMPRESSED

    info = find_info_topic(reader, image, info_topic, require=require_info)
    return CameraTopics(image=image, compressed=compressed, info=info)


def find_info_topic(
    reader: BagReader, image_topic: str | None, info_topic: str | None = None, *, require: bool = False
) -> str | None:
    """The camera_info topic: given, the only one, or the one that belongs to `image_topic` (image_transport's
    sibling `<base>/camera_info`, or depth_image_proc's `<image>/camera_info` as side_ros writes for its depth);
    None if the bag has none."""
    if info_topic:
        return _check_given(reader, info_topic, (CAMERA_INFO,), "a camera_info")
    infos = sorted(t.name for t in reader.topics.values() if t.msgtype == CAMERA_INFO and t.count > 0)
    beside = camera_base(image_topic).rstrip("/") + "/camera_info" if image_topic else None
    below = image_topic.rstrip("/") + "/camera_info" if image_topic else None
    info: str | None
    if len(infos) == 1:
        info = infos[0]
    elif below in infos:
        info = below
    elif beside in infos:
        info = beside
    elif not infos:
        info = None
    else:
        near = f", none of them {beside}" if beside else ""
        raise BagError(
            f"several camera_info topics in bag {reader.path}: {', '.join(infos)}{near}; choose one with --info-topic"
        )
    if info is None and require:
        raise BagError(
            f"no sensor_msgs/CameraInfo topic in bag {reader.path}: the camera intrinsics are needed "
            f"(topics: {reader.topic_list()})"
        )
    return info


def find_lidar_topic(
    reader: BagReader, lidar_topic: str | None = None, *, namespace: str | None = DEFAULT_NAMESPACE
) -> str:
    """The LiDAR PointCloud2 topic: given, or the only one outside the output namespace."""
    if lidar_topic:
        return _check_given(reader, lidar_topic, (POINTCLOUD2,), "a point cloud")
    cands = sorted(
        t.name
        for t in reader.topics.values()
        if t.msgtype == POINTCLOUD2 and t.count > 0 and not _own(t.name, namespace)
    )
    return _only(reader, cands, "LiDAR point cloud topic", "sensor_msgs/PointCloud2", "--lidar-topic")


def _only(reader: BagReader, cands: list[str], what: str, expected: str, option: str) -> str:
    """The single auto-detected candidate, or a clear error naming the option that chooses one."""
    if not cands:
        raise BagError(f"no {what} in bag {reader.path} ({expected}); topics: {reader.topic_list()}")
    if len(cands) > 1:
        raise BagError(f"several {what}s in bag {reader.path}: {', '.join(cands)}; choose one with {option}")
    return cands[0]

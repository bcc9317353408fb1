"""rosbag2 reading/writing, topic detection, the node's messages as bag messages, depth over a bag, transforms and
LiDAR projection (side_ros.bags), on small bags written here in both storage formats."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from side_ros import geometry, payloads
from side_ros.bags import messages as bm
from side_ros.bags.depth_bag import OutputOptions, depth_bag
from side_ros.bags.io import BagError, BagReader, BagWriter, copy_messages, storage_of
from side_ros.bags.lidar import cdr_header_stamp, lidar_depth, project_to_depth
from side_ros.bags.sample import GT_DEPTH_TOPIC, IMAGE_TOPIC, INFO_TOPIC, keep_mantissa_bits, read_ground_truth
from side_ros.bags.testing import TINY_FRAMES, tiny_sample_bag
from side_ros.bags.tf import TransformError, TransformTree, invert
from side_ros.bags.topics import find_camera_topics, find_info_topic, find_lidar_topic


@pytest.fixture(scope="module")
def pipeline(weights):
    from side_ros.pipeline import RobustDepthPipeline

    return RobustDepthPipeline.from_files(weights["low"], weights["high"], weights["coarse"], device="cpu")


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def sample(request, tmp_path_factory):
    return tiny_sample_bag(tmp_path_factory.mktemp("bags") / f"sample_{request.param}", storage=request.param)


def _rot(axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = {
        "x": [[1, 0, 0], [0, c, -s], [0, s, c]],
        "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
        "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
    }[axis]
    return np.array(m, dtype=np.float64)


def _pose(r: np.ndarray, t) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, t
    return m


# ------------------------------------------------------------------------------------------- reading, writing
def test_sample_bag_round_trip(sample):
    storage = "mcap" if "mcap" in sample.name else "sqlite3"
    assert storage_of(sample) == storage
    with BagReader(sample) as r:
        topics = r.topics
        assert {t: topics[t].count for t in topics} == {
            IMAGE_TOPIC: 3,
            INFO_TOPIC: 3,
            GT_DEPTH_TOPIC: 3,
            "/ground_truth/range": 3,
        }
        assert topics[IMAGE_TOPIC].msgtype == "sensor_msgs/msg/Image"
        images = [(m.log_time, r.deserialize(m)) for m in r.messages([IMAGE_TOPIC])]
        infos = [(m.log_time, r.deserialize(m)) for m in r.messages([INFO_TOPIC])]
    assert [img.encoding for _, img in images] == ["rgb8"] * 3
    assert [(img.width, img.height) for _, img in images] == [(f.width, f.height) for f in TINY_FRAMES]
    # camera_info: same header stamp as its image, logged 20 ms earlier, intrinsics of that image's size.
    for (t_img, img), (t_info, info) in zip(images, infos, strict=True):
        assert bm.stamp_ns(info.header.stamp) == bm.stamp_ns(img.header.stamp) == t_img
        assert t_img - t_info == 20_000_000
        assert (info.width, info.height) == (img.width, img.height)
        assert geometry.camera_intrinsics(info, img.height, img.width).fx > 0
    gt = read_ground_truth(sample)
    assert [g.range for g in gt.values()] == ["low", "high", "low"]
    assert all(g.depth.shape == (f.height, f.width) for g, f in zip(gt.values(), TINY_FRAMES, strict=True))
    assert np.nanmin(gt[images[1][0]].depth) > 0


def test_copy_keeps_bytes_times_and_definitions(sample, tmp_path):
    out = tmp_path / "copy"
    with BagReader(sample) as r, BagWriter(out, "sqlite3" if "mcap" in sample.name else "mcap") as w:
        n = copy_messages(r, w)
    assert n == 12
    with BagReader(sample) as a, BagReader(out) as b:
        msgs_a = [(m.topic, m.log_time, bytes(m.raw)) for m in a.messages()]
        msgs_b = [(m.topic, m.log_time, bytes(m.raw)) for m in b.messages()]
        assert sorted(msgs_a) == sorted(msgs_b)
        conn_a = {c.topic: c for c in a.connections}
        for c in b.connections:
            assert c.msgtype == conn_a[c.topic].msgtype
            assert c.digest == conn_a[c.topic].digest


def test_bad_bags_give_clear_errors(tmp_path, sample):
    with pytest.raises(BagError, match="bag not found"):
        BagReader(tmp_path / "nope")
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"this is not an mcap file at all" * 10)
    with pytest.raises(BagError, match="cannot read bag"):
        BagReader(junk)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(BagError, match="metadata.yaml"):
        BagReader(empty_dir)
    with pytest.raises(BagError, match="exists already"):
        BagWriter(sample, "mcap")
    with pytest.raises(BagError, match="not a rosbag2 folder"):
        BagWriter(empty_dir, "mcap", overwrite=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BagError, match="cannot create output bag"):
        BagWriter(blocker / "bag", "mcap")
    # An exception while writing deletes the partial bag.
    partial = tmp_path / "partial"
    with pytest.raises(RuntimeError), BagWriter(partial, "mcap") as w:
        w.write("/x", bm.string_message(w.typestore, "hi"), 1)
        raise RuntimeError("boom")
    assert not partial.exists()


def test_topic_detection(tmp_path, sample):
    with BagReader(sample) as r:
        cam = find_camera_topics(r)  # the 32FC1 ground truth is not a camera
        assert (cam.image, cam.info, cam.compressed) == (IMAGE_TOPIC, INFO_TOPIC, False)
        with pytest.raises(BagError, match="not in bag"):
            find_camera_topics(r, "/nope")
        with pytest.raises(BagError, match="CameraInfo, not a camera image"):
            find_camera_topics(r, INFO_TOPIC)
        with pytest.raises(BagError, match="no LiDAR"):
            find_lidar_topic(r)
    # Two cameras: ambiguous image; the camera_info beside the chosen image wins.
    bag = tmp_path / "two"
    with BagWriter(bag, "mcap") as w:
        ts = w.typestore
        for cam_ns in ("/left", "/right"):
            h = bm.make_header(ts, 1, cam_ns)
            w.write(f"{cam_ns}/image_raw", bm.color_image(ts, h, np.zeros((4, 6, 3), np.uint8), "rgb8"), 1)
            w.write(f"{cam_ns}/camera_info", bm.camera_info(ts, h, 6, 4, np.diag([5.0, 5.0, 1.0])), 1)
        w.write("/side/points", bm.point_cloud(ts, h, geometry.pack_points(np.zeros((1, 1, 3), np.float32))), 1)
        w.write("/velodyne_points", bm.point_cloud(ts, h, geometry.pack_points(np.zeros((1, 1, 3), np.float32))), 1)
    with BagReader(bag) as r:
        with pytest.raises(BagError, match="several camera image topics.*--image-topic"):
            find_camera_topics(r)
        assert find_camera_topics(r, "/right/image_raw").info == "/right/camera_info"
        with pytest.raises(BagError, match="several camera_info"):
            find_info_topic(r, None)
        assert find_lidar_topic(r) == "/velodyne_points"  # the node's own /side/points is no LiDAR


# ------------------------------------------------------------------------------------------- messages
def test_output_messages_read_back():
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    header = bm.make_header(ts, 1_700_000_000_123_456_789, "cam")
    depth = np.array([[1.0, np.nan], [2.5, 70.0]], np.float32)
    raw = ts.serialize_cdr(bm.depth_image(ts, header, depth), "sensor_msgs/msg/Image")
    back = ts.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    assert cdr_header_stamp(raw) == 1_700_000_000_123_456_789 == bm.stamp_ns(back.header.stamp)
    np.testing.assert_array_equal(payloads.image_depth(back), depth)
    intr = geometry.Intrinsics(2.0, 3.0, 0.5, 0.5)
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    cloud = bm.point_cloud(ts, header, geometry.depth_to_cloud(depth, intr, rgb))
    xyz, colours = payloads.cloud_xyz(ts.deserialize_cdr(ts.serialize_cdr(cloud, cloud.__msgtype__), cloud.__msgtype__))
    np.testing.assert_array_equal(xyz.reshape(2, 2, 3), geometry.depth_to_points(depth, intr))
    np.testing.assert_array_equal(colours.reshape(2, 2, 3), rgb)
    mm = ts.types["sensor_msgs/msg/Image"](
        header=header,
        height=1,
        width=2,
        encoding="16UC1",
        is_bigendian=0,
        step=4,
        data=np.array([0, 0, 0xE8, 0x03], np.uint8),
    )
    np.testing.assert_array_equal(payloads.image_depth(mm), [[np.nan, 1.0]])
    with pytest.raises(ValueError, match="not a depth image"):
        payloads.image_depth(bm.color_image(ts, header, rgb))


@pytest.mark.ros
def test_bag_messages_are_byte_identical_to_the_nodes():
    """The offline bag tool must write exactly what the node publishes: same fields, same CDR bytes (up to CDR's
    alignment padding, whose value the standard leaves open and Fast-CDR does not zero)."""
    pytest.importorskip("rclpy")
    from rclpy.serialization import serialize_message
    from rosbags.typesys import Stores, get_typestore
    from std_msgs.msg import Header

    from side_ros.ros import messages as node_msgs
    from side_ros.routing.decision import RangeDecision

    ts = get_typestore(Stores.ROS2_KILTED)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 9.0, (6, 8)).astype(np.float32)
    depth[0, 0] = np.nan
    rgb = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    cloud = geometry.depth_to_cloud(depth, geometry.Intrinsics(5.0, 5.0, 3.5, 2.5), rgb, stride=2)
    bgr = geometry.colorize_depth(depth, order="bgr")
    decision = RangeDecision("low", "coarse_depth", 4.2, {"threshold": 5.89})
    h_ros = Header(frame_id="camera_optical_frame")
    h_ros.stamp.sec, h_ros.stamp.nanosec = 1_700_000_001, 42
    h_bag = bm.make_header(ts, 1_700_000_001 * bm.NS + 42, "camera_optical_frame")
    pairs = [
        (node_msgs.depth_image(h_ros, depth), bm.depth_image(ts, h_bag, depth)),
        (node_msgs.point_cloud(h_ros, cloud), bm.point_cloud(ts, h_bag, cloud)),
        (node_msgs.bgr_image(h_ros, bgr), bm.color_image(ts, h_bag, bgr, "bgr8")),
        (node_msgs.scene_message(h_ros, decision), bm.scene_message(ts, h_bag, decision)),
    ]
    for ros_msg, bag_msg in pairs:
        ours = bytes(ts.serialize_cdr(bag_msg, bag_msg.__msgtype__))
        theirs = bytes(serialize_message(ros_msg))
        assert len(theirs) == len(ours)
        canonical = bytes(ts.serialize_cdr(ts.deserialize_cdr(theirs, bag_msg.__msgtype__), bag_msg.__msgtype__))
        assert canonical == ours


def test_camera_intrinsics_rules():
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_KILTED)
    info = bm.camera_info(
        ts, bm.make_header(ts, 0, "c"), 640, 480, np.array([[500, 0, 320], [0, 510, 240], [0, 0, 1.0]])
    )
    assert geometry.camera_intrinsics(info, 480, 640) == geometry.Intrinsics(500, 510, 320, 240)
    with pytest.raises(geometry.CameraInfoError) as err:
        geometry.camera_intrinsics(info, 240, 320)
    assert err.value.reason == "camera_info_size_mismatch"
    info.binning_x = info.binning_y = 2
    assert geometry.camera_intrinsics(info, 240, 320) == geometry.Intrinsics(250, 255, 160, 120)
    info.p = np.zeros(12)
    with pytest.raises(geometry.CameraInfoError) as err:
        geometry.camera_intrinsics(info, 240, 320)
    assert err.value.reason == "invalid_camera_info"


def test_keep_mantissa_bits_bounds_the_relative_error():
    d = np.random.default_rng(1).uniform(0.1, 80.0, 10_000).astype(np.float32)
    d[:3] = [np.nan, np.inf, 0.0]
    q = keep_mantissa_bits(d, 12)
    rel = np.abs(q[3:].astype(np.float64) - d[3:]) / d[3:]
    assert rel.max() <= 2.0**-13 and rel.max() > 0
    assert np.isnan(q[0]) and np.isinf(q[1]) and q[2] == 0
    assert len(np.unique(q)) < len(np.unique(d))


# ------------------------------------------------------------------------------------------- depth over a bag
def test_depth_bag_writes_the_nodes_topics(sample, pipeline, tmp_path):
    out = tmp_path / "out"
    report = depth_bag(sample, out, pipeline, progress=False)
    assert (report.frames, report.clouds, report.image_topic, report.info_topic) == (3, 3, IMAGE_TOPIC, INFO_TOPIC)
    assert storage_of(out) == storage_of(sample)  # like the input
    with BagReader(sample) as a, BagReader(out) as b:
        originals = [(m.topic, m.log_time, bytes(m.raw)) for m in a.messages()]
        copied = [(m.topic, m.log_time, bytes(m.raw)) for m in b.messages(a.topics)]
        assert sorted(copied) == sorted(originals)
        images = {m.log_time: b.deserialize(m) for m in b.messages([IMAGE_TOPIC])}
        infos = {bm.stamp_ns(i.header.stamp): i for i in map(b.deserialize, b.messages([INFO_TOPIC]))}
        counts = {
            t: b.topics[t].count
            for t in (
                "/side/depth",
                "/side/points",
                "/side/depth/colormap",
                "/side/scene",
                "/side/depth/confidence",
                "/side/depth/camera_info",
            )
        }
        assert counts == dict.fromkeys(counts, 3)
        assert b.topics["/side/points"].msgtype == "sensor_msgs/msg/PointCloud2"
        for m in b.messages(
            ["/side/depth", "/side/points", "/side/depth/colormap", "/side/depth/confidence", "/side/depth/camera_info"]
        ):
            msg = b.deserialize(m)
            img = images[m.log_time]  # written at the image's log time ...
            assert bm.stamp_ns(msg.header.stamp) == bm.stamp_ns(img.header.stamp)  # ... with its header
            assert msg.header.frame_id == img.header.frame_id
            assert (msg.height, msg.width) == (img.height, img.width)  # organized, full resolution
            if m.topic == "/side/depth":
                assert msg.encoding == "32FC1"
                depth = payloads.image_depth(msg)
            elif m.topic == "/side/depth/confidence":  # the pipeline's, for the image and camera in the bag
                info = infos[bm.stamp_ns(img.header.stamp)]
                rgb = np.asarray(img.data).reshape(img.height, img.width, 3)
                expected = pipeline(rgb, geometry.camera_focal(info, img.height, img.width)).confidence
                assert msg.encoding == "32FC1"
                np.testing.assert_allclose(payloads.image_depth(msg), expected, atol=1e-6)
            elif m.topic == "/side/depth/camera_info":  # the camera's calibration, for the depth's pixel grid
                info = infos[bm.stamp_ns(img.header.stamp)]
                for name in ("k", "p", "d", "r"):
                    np.testing.assert_array_equal(getattr(msg, name), getattr(info, name))
            elif m.topic == "/side/points":
                assert [f.name for f in msg.fields] == ["x", "y", "z", "rgb"] and msg.point_step == 32
                assert not msg.is_dense
                xyz, rgb = payloads.cloud_xyz(msg)
                np.testing.assert_array_equal(
                    rgb.reshape(img.height, img.width, 3), np.asarray(img.data).reshape(img.height, img.width, 3)
                )
                assert np.isfinite(xyz).all(axis=1).sum() == np.isfinite(depth).sum()
            else:
                assert msg.encoding == "bgr8"
        scenes = [json.loads(b.deserialize(m).data) for m in b.messages(["/side/scene"])]
    assert Counter(s["range"] for s in scenes) == report.ranges
    assert all(s["router"] == "coarse_depth" and s["frame_id"] == "camera_optical_frame" for s in scenes)
    assert [s["stamp"]["sec"] * bm.NS + s["stamp"]["nanosec"] for s in scenes] == sorted(images)


def test_depth_bag_points_min_confidence_leaves_the_low_confidence_points_out(pipeline, tmp_path):
    src = tiny_sample_bag(tmp_path / "in")
    depth_bag(src, tmp_path / "all", pipeline, options=OutputOptions(points_color=False), progress=False)
    with BagReader(tmp_path / "all") as r:
        confidence = [payloads.image_depth(r.deserialize(m)) for m in r.messages(["/side/depth/confidence"])]
    cut = float(np.median(np.concatenate([c.ravel() for c in confidence])))
    depth_bag(
        src,
        tmp_path / "cut",
        pipeline,
        options=OutputOptions(points_color=False, points_min_confidence=cut),
        progress=False,
    )
    with BagReader(tmp_path / "cut") as r:
        clouds = [r.deserialize(m) for m in r.messages(["/side/points"])]
        depths = [payloads.image_depth(r.deserialize(m)) for m in r.messages(["/side/depth"])]
    for cloud, depth, conf in zip(clouds, depths, confidence, strict=True):
        xyz = payloads.cloud_xyz(cloud)[0].reshape(cloud.height, cloud.width, 3)  # still organized
        assert (cloud.height, cloud.width) == depth.shape
        np.testing.assert_array_equal(np.isnan(xyz[..., 2]), (conf < cut) | ~np.isfinite(depth))


def test_depth_bag_refusals(sample, pipeline, tmp_path):
    with pytest.raises(BagError, match="unsupported image encoding '32FC1'"):
        depth_bag(sample, tmp_path / "a", pipeline, image_topic=GT_DEPTH_TOPIC, progress=False)
    assert not (tmp_path / "a").exists()  # the partial bag is removed
    depth_bag(sample, tmp_path / "b", pipeline, options=OutputOptions(points=False, colormap=False), progress=False)
    with BagReader(tmp_path / "b") as r:
        assert "/side/points" not in r.topics and "/side/depth/colormap" not in r.topics
        with pytest.raises(BagError, match="already has output topics"):
            depth_bag(tmp_path / "b", tmp_path / "c", pipeline, progress=False)


def test_overwrite_keeps_the_old_bag_until_the_new_one_is_complete(pipeline, tmp_path):
    src = tiny_sample_bag(tmp_path / "in")
    out = tmp_path / "out"
    depth_bag(src, out, pipeline, options=OutputOptions(points=False), progress=False)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    with pytest.raises(BagError, match="unsupported image encoding '32FC1'"):  # fails on the first frame
        depth_bag(src, out, pipeline, image_topic=GT_DEPTH_TOPIC, overwrite=True, progress=False)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before  # the old bag is still there, unchanged
    depth_bag(src, out, pipeline, overwrite=True, progress=False)  # a complete new bag replaces it
    with BagReader(out) as r:
        assert r.topics["/side/points"].count == 3
    assert sorted(f.name for f in tmp_path.iterdir()) == ["in", "out"]  # no temporary folder left behind
    with pytest.raises(BagError, match="not a rosbag2 folder; not replacing it"):
        BagWriter(tmp_path / "in" / "in.mcap", overwrite=True)


def _image_bag(path, payload: int, frames: int = 3, compress: bool = False):
    with BagWriter(path, "mcap", compress=compress) as w:
        ts = w.typestore
        for i in range(frames):
            t = 1_700_000_000 * bm.NS + i * bm.NS // 10
            image = np.full((120, 160, 3), payload, np.uint8)
            image[::2] = np.random.default_rng(i).integers(0, 255, image[::2].shape, dtype=np.uint8)
            w.write("/cam/image_raw", bm.color_image(ts, bm.make_header(ts, t, "cam"), image, "rgb8"), t)
            w.write("/cam/camera_info", bm.string_message(ts, "info"), t)
    return path


def test_mcap_chunks_carry_crcs_and_corruption_is_an_error_with_topic_and_time(tmp_path):
    import struct
    from binascii import crc32

    from side_ros.bags.io import damaged_mcap_chunks

    bag = _image_bag(tmp_path / "b", payload=0xAB)
    mcap = bag / "b.mcap"
    data = bytearray(mcap.read_bytes())
    # The chunk record (opcode 0x06) right after the header holds the CRC-32 of its records, not 0.
    start = data.index(b"\x06", 8 + 1 + 8 + struct.unpack_from("<Q", data, 9)[0])
    # opcode, record length, start and end time, then the uncompressed size and CRC; with no compression ("",
    # a 4-byte empty string) and the compressed size, the records follow as they are.
    size, crc = struct.unpack_from("<QI", data, start + 1 + 8 + 16)
    records = start + 1 + 8 + 16 + 12 + 4 + 8
    assert crc != 0 and crc == crc32(data[records : records + size])
    assert damaged_mcap_chunks(mcap) == []
    # 20,000 bytes inside the second image change, as a bad disk or a broken copy would.
    second = data.index(bytes([0xAB]) * 480, data.index(bytes([0xAB]) * 480) + 57600)
    data[second : second + 20000] = bytes(20000)
    mcap.write_bytes(bytes(data))
    with BagReader(bag) as r, pytest.raises(BagError) as err:
        list(r.messages())
    text = str(err.value)
    assert "checksum mismatch" in text and "/cam/image_raw" in text and "log time 1700000000.000000 s" in text
    # compressed chunks too: a damaged zstd frame is the same clear error, not a decoder's traceback
    zbag = _image_bag(tmp_path / "z", payload=0x11, compress=True)
    zdata = bytearray((zbag / "z.mcap").read_bytes())
    zdata[len(zdata) // 2 : len(zdata) // 2 + 200] = bytes(200)  # the chunk's zstd data fills most of the file
    (zbag / "z.mcap").write_bytes(bytes(zdata))
    with BagReader(zbag) as r, pytest.raises(BagError, match="corrupt data in z.mcap for the messages on "):
        list(r.messages())


# ------------------------------------------------------------------------------------------- transforms, LiDAR
def test_transform_tree_chains_and_inverts():
    tree = TransformTree()
    base_velo = _pose(_rot("z", 0.1), [0.8, -0.3, 0.8])
    base_cam = _pose(_rot("x", -np.pi / 2) @ _rot("y", 0.05), [1.1, -0.25, 0.73])
    tree.add("base_link", "velodyne", base_velo)
    tree.add("/base_link", "camera", base_cam)  # leading '/' ignored, as tf2 does
    expected = invert(base_cam) @ base_velo
    np.testing.assert_allclose(tree.lookup("camera", "velodyne"), expected, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("velodyne", "camera") @ expected, np.eye(4), atol=1e-12)
    # A dynamic parent above base_link is not on the sensor chain; lookups through it use the nearest sample.
    tree.add("map", "base_link", _pose(np.eye(3), [0, 0, 0]), stamp=10, static=False)
    tree.add("map", "base_link", _pose(np.eye(3), [5, 0, 0]), stamp=20, static=False)
    np.testing.assert_allclose(tree.lookup("map", "velodyne", 19)[:3, 3], base_velo[:3, 3] + [5, 0, 0])
    np.testing.assert_allclose(tree.lookup("map", "velodyne", 11)[:3, 3], base_velo[:3, 3])
    np.testing.assert_allclose(tree.lookup("camera", "velodyne", 19), expected, atol=1e-12)
    with pytest.raises(TransformError, match="not in the recorded transforms"):
        tree.lookup("camera", "radar")
    tree.add("odom", "imu", np.eye(4))
    with pytest.raises(TransformError, match="not connected"):
        tree.lookup("camera", "imu")


def test_quaternions_round_trip():
    for r in (np.eye(3), _rot("x", np.pi), _rot("y", 2.0) @ _rot("z", -1.0), _rot("z", np.pi) @ _rot("x", 0.3)):
        np.testing.assert_allclose(bm.quaternion_matrix(*bm.quaternion_from_matrix(r)), r, atol=1e-12)


def test_projection_keeps_the_nearest_point_in_front_inside_the_image():
    intr = geometry.Intrinsics(10.0, 10.0, 2.0, 1.0)
    pts = np.array(
        [
            [0.0, 0.0, 2.0],  # -> pixel (2, 1), depth 2
            [0.0, 0.0, 5.0],  # same pixel, farther: hidden
            [0.2, 0.1, 2.0],  # -> (3, 1.5 -> rint 2)
            [0.0, 0.0, -3.0],  # behind the camera
            [5.0, 0.0, 1.0],  # outside (u = 52)
            [np.nan, 0, 1.0],
        ]
    )  # invalid
    depth = project_to_depth(pts, intr, 3, 5)
    expected = np.zeros((3, 5), np.float32)
    expected[1, 2] = 2.0
    expected[2, 3] = 2.0
    np.testing.assert_array_equal(depth, expected)
    # Through a transform: a LiDAR 1 m behind the camera sees the same points 1 m farther along its x axis.
    cam_from_lidar = _pose(np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], dtype=float), [0, 0, -1.0])
    lidar_pts = np.array([[3.0, 0.0, 0.0]])  # 3 m ahead of the LiDAR = 2 m ahead of the camera
    assert lidar_depth(lidar_pts, cam_from_lidar, intr, 3, 5)[1, 2] == pytest.approx(2.0)


def test_depth_bag_on_compressed_images(pipeline, tmp_path):
    import cv2

    from side_ros.scenes import render_scene

    bag = tmp_path / "jpeg"
    s = render_scene(3, "indoor", 64, 48)
    with BagWriter(bag, "sqlite3") as w:
        ts = w.typestore
        for i in range(2):
            header = bm.make_header(ts, (i + 1) * bm.NS, "cam")
            ok, jpg = cv2.imencode(".jpg", s.rgb[..., ::-1].copy())
            msg = ts.types["sensor_msgs/msg/CompressedImage"](
                header=header, format="rgb8; jpeg compressed bgr8", data=jpg.reshape(-1)
            )
            w.write("/cam/image_raw/compressed", msg, (i + 1) * bm.NS)
            w.write("/cam/camera_info", bm.camera_info(ts, header, 64, 48, s.intrinsics), (i + 1) * bm.NS)
    with BagReader(bag) as r:
        cam = find_camera_topics(r)
    assert (cam.image, cam.compressed, cam.info) == ("/cam/image_raw/compressed", True, "/cam/camera_info")
    report = depth_bag(bag, tmp_path / "out", pipeline, progress=False)
    assert (report.frames, report.clouds) == (2, 2)
    with BagReader(tmp_path / "out") as r:
        depth = payloads.image_depth(r.first("/side/depth"))
    assert depth.shape == (48, 64) and np.isfinite(depth).all()

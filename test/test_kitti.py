"""KITTI raw drive -> kitti2mcap -> bag -> side_ros: a tiny drive in the real raw layout made from procedural
outdoor scenes, converted with kitti2mcap, then the LiDAR evaluation (exact on the scenes' own depth), the offline
bag command, and the live node fed by the replayer over real DDS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from side_ros.bags import messages as bm
from side_ros.bags.io import BagReader, BagWriter
from side_ros.bags.kitti import kitti2mcap, procedural_drive
from side_ros.bags.lidar import evaluate_bag

DOMAIN = 63
ROOT = Path(__file__).resolve().parent.parent
IMAGE = "/kitti/camera_color_left/image_raw"
INFO = "/kitti/camera_color_left/camera_info"
VELO = "/kitti/velodyne_points"
W, H = 310, 94


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "ROS_DOMAIN_ID": str(DOMAIN),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "OMP_NUM_THREADS": "1",
    }


def run(module: str, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=180,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return procedural_drive(tmp_path_factory.mktemp("kitti"), num_frames=3, width=W, height=H, seed=7)


@pytest.fixture(scope="module")
def kitti_bag(drive):
    return kitti2mcap(drive.root, drive.date, drive.drive, drive.root / "kitti.mcap")


@pytest.fixture(scope="module")
def gt_bag(drive, kitti_bag):
    """The kitti2mcap bag plus /gt/depth: each image's exact procedural depth (32FC1, NaN where none)."""
    out = drive.root / "with_gt"
    with BagReader(kitti_bag) as r, BagWriter(out, "mcap") as w:
        for conn in r.connections:
            w.copy_topic(conn, r.typestore)
        i = 0
        for m in r.messages():
            w.write_raw(m.topic, m.log_time, m.raw)
            if m.topic == IMAGE:
                img = r.deserialize(m)
                depth = np.where(drive.depths[i] > 0, drive.depths[i], np.nan).astype(np.float32)
                w.write("/gt/depth", bm.depth_image(w.typestore, img.header, depth), m.log_time)
                w.write("/gt/depth_x1.1", bm.depth_image(w.typestore, img.header, depth * 1.1), m.log_time)
                i += 1
    return out


def test_drive_has_the_real_kitti_raw_layout(drive):
    date_dir = drive.root / drive.date
    for name in ("calib_cam_to_cam.txt", "calib_velo_to_cam.txt", "calib_imu_to_velo.txt"):
        assert (date_dir / name).is_file()
    d = drive.drive_dir
    assert d.name == "2011_09_26_drive_0001_sync"
    assert sorted(p.name for p in (d / "image_02" / "data").iterdir()) == [f"{i:010d}.png" for i in range(3)]
    stamps = (d / "velodyne_points" / "timestamps.txt").read_text().splitlines()
    assert len(stamps) == 3 and all(re.fullmatch(r"2011-09-26 \d\d:\d\d:\d\d\.\d{9}", s) for s in stamps)
    scan = np.fromfile(d / "velodyne_points" / "data" / "0000000000.bin", dtype="<f4").reshape(-1, 4)
    assert scan.shape[0] > drive.lidar_masks[0].sum()  # plus points behind, beside and hidden
    assert len((d / "oxts" / "data" / "0000000000.txt").read_text().split()) == 30
    # pykitti (what kitti2mcap reads with) parses it to our calibration.
    import pykitti

    data = pykitti.raw(str(drive.root), drive.date, drive.drive)
    np.testing.assert_allclose(data.calib.T_cam2_velo, drive.calibration.T_cam_velo(2), atol=1e-9)
    np.testing.assert_allclose(data.calib.P_rect_20, drive.calibration.P_rect(2), atol=1e-9)
    assert np.asarray(data.get_cam2(1)).shape == (H, W, 3)


def test_kitti2mcap_bag_topics(kitti_bag, drive):
    with BagReader(kitti_bag) as r:
        topics = {t: s.msgtype for t, s in r.topics.items()}
        info = r.first(INFO)
        image = r.first(IMAGE)
        cloud = r.first(VELO)
    assert topics[IMAGE] == "sensor_msgs/msg/Image" and topics[INFO] == "sensor_msgs/msg/CameraInfo"
    assert topics[VELO] == "sensor_msgs/msg/PointCloud2"
    assert topics["/tf_static"] == topics["/tf"] == "tf2_msgs/msg/TFMessage"
    assert (image.encoding, image.width, image.height, image.header.frame_id) == ("rgb8", W, H, "camera_color_left")
    np.testing.assert_allclose(np.asarray(info.p).reshape(3, 4), drive.calibration.P_rect(2), atol=1e-9)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "intensity"] and cloud.header.frame_id == "velodyne"


def test_lidar_evaluation_is_exact_on_the_true_depth(gt_bag, drive):
    report = evaluate_bag(gt_bag, depth_topic="/gt/depth", progress=False)
    assert report.lidar_topic == VELO and report.camera_frame == "camera_color_left"
    # Every LiDAR pixel, and only those: the points behind, beside and hidden behind the surface are gone.
    assert [f.gt_pixels for f in report.frames] == [int(m.sum()) for m in drive.lidar_masks]
    for f in report.frames:
        assert f.coverage == 1.0
        assert f.metrics["abs_rel"] < 1e-5 and f.metrics["rmse"] < 1e-3 and f.metrics["delta1"] == 1.0
    # A prediction 10% too far is scored as exactly that (the metrics are not trivially zero).
    scaled = evaluate_bag(gt_bag, depth_topic="/gt/depth_x1.1", progress=False)
    assert scaled.aggregate["abs_rel"] == pytest.approx(0.1, abs=1e-5)
    # The wrong frame (base_link is x-forward, not an optical frame) must not look right.
    wrong = evaluate_bag(gt_bag, depth_topic="/gt/depth", camera_frame="base_link", progress=False)
    assert not wrong.aggregate or wrong.aggregate["abs_rel"] > 0.05


def test_eval_bag_command(gt_bag, tmp_path):
    out = tmp_path / "eval.json"
    proc = run("side_ros.cli.eval_bag", gt_bag, "--depth-topic", "/gt/depth", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "KITTI leaderboard units" in proc.stdout and "all (3 frames)" in proc.stdout
    data = json.loads(out.read_text())
    assert data["aggregate"]["abs_rel"] < 1e-5 and len(data["frames"]) == 3
    proc = run("side_ros.cli.eval_bag", gt_bag, "--depth-topic", "/gt/depth", "--camera-frame", "radar")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert re.search(r"^error: cannot place LiDAR frame 'velodyne' in camera frame 'radar'", proc.stderr, re.M)
    proc = run("side_ros.cli.eval_bag", gt_bag, "--depth-topic", IMAGE)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert re.search(r"^error: .*not a depth image encoding: 'rgb8'", proc.stderr, re.M), proc.stderr


def test_offline_commands_on_the_kitti_bag(kitti_bag, nets, tmp_path):
    out = tmp_path / "kitti_depth"
    proc = run("side_ros.cli.bag", kitti_bag, out, *nets)
    assert proc.returncode == 0, proc.stderr
    with BagReader(out) as r:
        assert {t: r.topics[t].count for t in ("/side/depth", "/side/points", "/side/scene")} == {
            "/side/depth": 3,
            "/side/points": 3,
            "/side/scene": 3,
        }
        cloud = r.first("/side/points")
        assert (cloud.width, cloud.height, cloud.header.frame_id) == (W, H, "camera_color_left")
        assert r.topics["/tf_static"].count == 1  # the original messages are all there
    # The bag written by side-depth-bag is scored against its own LiDAR ...
    proc = run("side_ros.cli.eval_bag", out, "--depth-topic", "/side/depth")
    assert proc.returncode == 0, proc.stderr
    assert "all (3 frames)" in proc.stdout
    # ... and the networks can be run by the evaluation directly.
    proc = run("side_ros.cli.eval_bag", kitti_bag, *nets)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\| 0 \| [\d.]+ \| (low|high) \|", proc.stdout)


@pytest.mark.ros
def test_live_node_on_the_kitti_bag(kitti_bag, weights, tmp_path):
    """`ros2 bag play`'s part played by BagReplayer; the node as `ros2 run` starts it, in its own process."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor

    from side_ros.bags.lidar import cdr_header_stamp
    from side_ros.ros.replay import BagReplayer, TopicRecorder

    cmd = [
        sys.executable,
        "-m",
        "side_ros.ros.depth_node",
        "--ros-args",
        "-r",
        f"image:={IMAGE}",
        "-r",
        f"camera_info:={INFO}",
        "-p",
        "device:=cpu",
    ]
    for k, p in weights.items():
        cmd += ["-p", f"weights.{k}:={p}"]
    for topic in (IMAGE, INFO):
        cmd += ["-p", f"qos_overrides.{topic}.subscription.reliability:=reliable"]
    log = tmp_path / "node.log"
    node_proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env())
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    executor = SingleThreadedExecutor(context=ctx)
    try:
        node = rclpy.create_node("kitti_test", context=ctx)
        done = threading.Condition()

        def arrived(_msg):
            with done:
                done.notify_all()

        rec = TopicRecorder(
            node,
            {"/side/depth": "sensor_msgs/msg/Image", "/side/points": "sensor_msgs/msg/PointCloud2"},
            on_message=arrived,
        )
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()

        def gate(msg):  # one frame at a time: the node gets each image (it would skip to the newest otherwise)
            if msg.topic == IMAGE:
                n = player.stats.published[IMAGE]
                with done:
                    done.wait_for(lambda: rec.count("/side/points") >= n, timeout=60)

        player = BagReplayer(node, kitti_bag, topics=[IMAGE, INFO], qos="reliable", gate=gate)
        assert player.wait_for_subscribers([IMAGE, INFO], 90), log.read_text()
        time.sleep(0.5)
        player.run()
        with done:
            assert done.wait_for(lambda: rec.count("/side/points") == 3, timeout=60)
        with BagReader(kitti_bag) as r:
            stamps = [cdr_header_stamp(m.raw) for m in r.messages([IMAGE])]
        assert [cdr_header_stamp(m.raw) for m in rec.messages("/side/depth")] == stamps
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import PointCloud2

        cloud = deserialize_message(rec.messages("/side/points")[-1].raw, PointCloud2)
        assert (cloud.width, cloud.height, cloud.header.frame_id) == (W, H, "camera_color_left")
        node.destroy_node()
    finally:
        executor.shutdown(timeout_sec=5)
        rclpy.shutdown(context=ctx)
        node_proc.send_signal(2)
        try:
            node_proc.wait(15)
        except subprocess.TimeoutExpired:
            node_proc.kill()
            node_proc.wait()

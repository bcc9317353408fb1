"""The bag replayer over real DDS (rclpy from the PyPI wheels, own domain, localhost): recorded bytes, relative
timing, /clock, remapping, topic filter, loop, the gate's pause, and the side-replay command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402

from side_ros.bags import messages as bm  # noqa: E402
from side_ros.bags.io import BagReader, BagWriter  # noqa: E402
from side_ros.bags.sample import GT_DEPTH_TOPIC, IMAGE_TOPIC, INFO_TOPIC  # noqa: E402
from side_ros.bags.testing import tiny_sample_bag  # noqa: E402
from side_ros.ros import testing  # noqa: E402
from side_ros.ros.replay import BagReplayer, TopicRecorder, message_class, parse_remaps  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN = 61
ROOT = Path(__file__).resolve().parent.parent
PERIOD = 0.4  # seconds between the sample's frames


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture(scope="module")
def ctx():
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay_bags")
    return {s: tiny_sample_bag(d / s, storage=s, period=PERIOD) for s in ("mcap", "sqlite3")}


class Rig:
    """A player node and a recorder node, each spun by its own executor thread."""

    def __init__(self, ctx, topics: dict[str, str]):
        self.player_node = rclpy.create_node("test_player", context=ctx)
        self.rec_node = rclpy.create_node("test_recorder", context=ctx)
        self.recorder = TopicRecorder(self.rec_node, topics)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.rec_node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self):
        self.executor.shutdown(timeout_sec=5)
        self.player_node.destroy_node()
        self.rec_node.destroy_node()


def bag_messages(bag: Path, topics: list[str]) -> dict[str, list[tuple[int, bytes]]]:
    out: dict[str, list[tuple[int, bytes]]] = {t: [] for t in topics}
    with BagReader(bag) as r:
        for m in r.messages(topics):
            out[m.topic].append((m.log_time, bytes(m.raw)))
    return out


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_replay_bytes_timing_clock_and_remap(ctx, bags, storage):
    rate = 2.0
    remap = {IMAGE_TOPIC: "/replay/image"}
    rig = Rig(
        ctx,
        {
            "/replay/image": "sensor_msgs/msg/Image",
            INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
            GT_DEPTH_TOPIC: "sensor_msgs/msg/Image",
            "/clock": "rosgraph_msgs/msg/Clock",
        },
    )
    try:
        player = BagReplayer(rig.player_node, bags[storage], rate=rate, remap=remap, qos="reliable")
        assert set(player.publishers) == {IMAGE_TOPIC, INFO_TOPIC, GT_DEPTH_TOPIC, "/ground_truth/range"}
        assert player.wait_for_subscribers([IMAGE_TOPIC, INFO_TOPIC, GT_DEPTH_TOPIC], 15)
        assert wait_for(lambda: rig.player_node.count_subscribers("/clock") > 0, 10)
        t_run = time.perf_counter()
        stats = player.run()
        assert stats.published["/replay/image"] == 3 and stats.published[INFO_TOPIC] == 3
        expected = bag_messages(bags[storage], [IMAGE_TOPIC, INFO_TOPIC, GT_DEPTH_TOPIC])
        assert wait_for(
            lambda: rig.recorder.count("/replay/image") == 3 and rig.recorder.count(GT_DEPTH_TOPIC) == 3, 10
        )
        images = rig.recorder.messages("/replay/image")
        # The recorded CDR bytes, unchanged, in order, on the remapped topic.
        assert [r.raw for r in images] == [raw for _, raw in expected[IMAGE_TOPIC]]
        assert [r.raw for r in rig.recorder.messages(GT_DEPTH_TOPIC)] == [raw for _, raw in expected[GT_DEPTH_TOPIC]]
        # Original relative timing, scaled by the rate: a message never goes out before its time in the bag (how
        # late it is depends on the machine's load, and is what scripts/bench_replay.py measures).
        logs = [t for t, _ in expected[IMAGE_TOPIC]]
        for r, log in zip(images, logs, strict=True):
            assert r.perf >= t_run + (log - logs[0]) / 1e9 / rate
        # /clock: bag time, never backwards, from the first to the last message's log time.
        clocks = [
            bm.stamp_ns(deserialize_message(r.raw, message_class(r.msgtype)).clock)
            for r in rig.recorder.messages("/clock")
        ]
        assert len(clocks) > 10
        assert all(b >= a for a, b in zip(clocks, clocks[1:], strict=False))
        first = min(expected[INFO_TOPIC][0][0], expected[IMAGE_TOPIC][0][0])
        assert clocks[0] >= first and clocks[-1] == expected[GT_DEPTH_TOPIC][-1][0]
    finally:
        rig.close()


def test_topic_filter_loop_and_gate_pause(ctx, bags):
    """Order and causality, not wall-clock gaps: the machine may be busy at any moment (here, deliberately, while
    the first message is handed over) and the assertions must hold all the same."""
    rig = Rig(ctx, {IMAGE_TOPIC: "sensor_msgs/msg/Image"})
    published: list[float] = []
    gate_held: list[float] = []
    busy = 0.7  # the first publish takes this long: later messages are late, none may be early

    def gate(msg):
        if len(published) == 1 and not gate_held:  # hold the second image back for 0.5 s
            t0 = time.perf_counter()
            time.sleep(0.5)
            gate_held.append(time.perf_counter() - t0)

    def on_publish(msg, perf):
        published.append(perf)
        if len(published) == 1:
            time.sleep(busy)
        if len(published) == 6:
            player.stop()

    try:
        player = BagReplayer(
            rig.player_node,
            bags["mcap"],
            topics=[IMAGE_TOPIC],
            loop=True,
            clock=False,
            gate=gate,
            on_publish=on_publish,
            qos="reliable",
        )
        assert list(player.publishers) == [IMAGE_TOPIC]
        assert player.wait_for_subscribers([IMAGE_TOPIC], 15)
        t_run = time.perf_counter()
        stats = player.run()
        assert stats.loops == 2 and stats.published[IMAGE_TOPIC] == 6
        assert wait_for(lambda: rig.recorder.count(IMAGE_TOPIC) == 6, 10)
        recorded = bag_messages(bags["mcap"], [IMAGE_TOPIC])[IMAGE_TOPIC]
        raw = [r for _, r in recorded]
        assert [r.raw for r in rig.recorder.messages(IMAGE_TOPIC)] == raw + raw  # in order, twice
        offsets = [(t - recorded[0][0]) / 1e9 for t, _ in recorded]
        assert offsets == pytest.approx([0.0, PERIOD, 2 * PERIOD])
        assert all(b > a for a, b in zip(published, published[1:], strict=False))
        # First loop: each image waits for its time in the bag; the gate's pause (held before the second image)
        # moves every later image by as much, so it does not squeeze the spacing after it.
        pause = gate_held[0]
        assert pause >= 0.5
        assert published[0] >= t_run
        assert published[1] >= t_run + offsets[1] + pause
        assert published[2] >= t_run + offsets[2] + pause
        # Second loop: starts after the first loop's last image, then the bag's spacing again.
        for k in range(3):
            assert published[3 + k] >= published[2] + offsets[k]
    finally:
        rig.close()


def test_replayer_refusals_and_skipped_types(ctx, bags, tmp_path):
    node = rclpy.create_node("test_refusals", context=ctx)
    try:
        with pytest.raises(ValueError, match="topics not in bag"):
            BagReplayer(node, bags["mcap"], topics=["/nope"])
        with pytest.raises(ValueError, match="rate must be positive"):
            BagReplayer(node, bags["mcap"], rate=0)
        with pytest.raises(ValueError, match="remap rule"):
            parse_remaps(["/a=/b"])
        tf_bag = tmp_path / "tf"
        with BagWriter(tf_bag, "mcap") as w:
            ts = w.typestore
            tf = ts.types["tf2_msgs/msg/TFMessage"](transforms=[bm.transform_stamped(ts, 5, "base", "cam", np.eye(4))])
            w.write("/tf_static", tf, 5)
            w.write("/note", bm.string_message(ts, "hello"), 6)
        player = BagReplayer(node, tf_bag)
        if message_class("tf2_msgs/msg/TFMessage") is None:  # pip installs have no tf2_msgs
            assert "tf2_msgs" in player.stats.skipped_topics["/tf_static"]
            assert list(player.publishers) == ["/note"]
        else:
            assert set(player.publishers) == {"/tf_static", "/note"}
    finally:
        node.destroy_node()


def test_side_replay_command(ctx, bags):
    rig = Rig(ctx, {"/cli/image": "sensor_msgs/msg/Image", "/clock": "rosgraph_msgs/msg/Clock"})
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "side_ros.ros.replay",
                str(bags["sqlite3"]),
                "--rate",
                "4",
                "--qos",
                "reliable",
                "--remap",
                f"{IMAGE_TOPIC}:=/cli/image",
                "--topics",
                IMAGE_TOPIC,
                INFO_TOPIC,
                "--wait-for",
                IMAGE_TOPIC,
                "--wait-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            env=testing.node_env(DOMAIN),
            timeout=90,
        )
        assert proc.returncode == 0, proc.stderr
        assert "published 6 message(s)" in proc.stdout
        assert wait_for(lambda: rig.recorder.count("/cli/image") == 3, 10)
        expected = bag_messages(bags["sqlite3"], [IMAGE_TOPIC])[IMAGE_TOPIC]
        assert [r.raw for r in rig.recorder.messages("/cli/image")] == [raw for _, raw in expected]
        assert rig.recorder.count("/clock") > 0
    finally:
        rig.close()


def test_side_replay_bad_input(tmp_path):
    for args, pattern in (
        ([str(tmp_path / "absent")], "error: bag not found"),
        ([str(tmp_path), "--rate", "1"], "error: cannot read bag .*metadata.yaml"),
        ([str(tmp_path), "--remap", "/a"], "error: remap rule"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "side_ros.ros.replay", *args],
            capture_output=True,
            text=True,
            env=testing.node_env(DOMAIN),
            timeout=60,
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, proc.stderr
        import re

        assert re.match(pattern, errors[0]), errors[0]

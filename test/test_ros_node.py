"""The depth node in-process over real DDS (rclpy from the PyPI wheels, own domain, localhost discovery).

One node with tiny random-weight networks serves the module; a probe node publishes Image / CompressedImage /
CameraInfo and records depth, points, colour map, scene and diagnostics. Every output is matched to its input by
the header stamp.
"""

import contextlib
import itertools
import json
import os
import threading
import time

import numpy as np
import pytest
import torch

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402

from side_ros import geometry  # noqa: E402
from side_ros.payloads import cloud_array, diagnostic_values  # noqa: E402
from side_ros.ros import testing  # noqa: E402
from side_ros.ros.depth_node import DepthNode  # noqa: E402
from side_ros.ros.testing import (  # noqa: E402
    Probe,
    camera_info_msg,
    compressed_msg,
    depth_array,
    image_msg,
    node_arguments,
    wait_for,
)
from side_ros.testing import tiny_checkpoints  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN = 71
W, H = 640, 480
FX, FY, CX, CY = 525.0, 520.0, 319.5, 239.5
DEFAULTS = {
    "router": "coarse_depth",
    "sigma": 5.89,
    "top_k": 15,
    "voting": "majority",
    "points.color": True,
    "points.stride": 1,
    "points.min_depth": 0.0,
    "points.max_depth": 0.0,
    "points.enabled": True,
    "points.min_confidence": 0.0,
}
PER_IMAGE_ROUTING = {
    "routing.route_every": 1,
    "routing.min_dwell": 0,
    "routing.hysteresis_sigma": 0.0,
    "routing.hysteresis_votes": 0.0,
    "routing.drift": 0.0,
}
_stamps = itertools.count(1)


class Harness:
    """The node, the probe, and helpers that send one frame and wait for what it produced."""

    def __init__(self, ctx, node, probe, checkpoints):
        self.ctx, self.node, self.probe, self.checkpoints = ctx, node, probe, checkpoints

    def send(self, msg, compressed: bool = False):
        (self.probe.compressed_pub if compressed else self.probe.image_pub).publish(msg)

    def frame(self, rgb=None, encoding="rgb8", compressed=None, step=None, keys=("depth",), timeout=20.0):
        """Publish one frame with a fresh stamp; return {key: message with that stamp} for the requested keys."""
        rgb = pattern_image(H, W) if rgb is None else rgb
        stamp = (next(_stamps), 500)
        if compressed:
            msg = compressed_msg(rgb, compressed, stamp=stamp)
        else:
            msg = image_msg(rgb, encoding, stamp=stamp, step=step)
        self.send(msg, compressed=bool(compressed))
        found = {}

        def arrived():
            for key in keys:
                if key in found:
                    continue
                for m in self.probe.messages(key):
                    if key == "scene":
                        data = json.loads(m.data)
                        if (data["stamp"]["sec"], data["stamp"]["nanosec"]) == stamp:
                            found[key] = data
                    elif (m.header.stamp.sec, m.header.stamp.nanosec) == stamp:
                        found[key] = m
            return len(found) == len(keys)

        assert wait_for(arrived, timeout), f"no {set(keys) - set(found)} for frame {stamp}"
        return found

    def set(self, **values):
        """Set parameters (names with '__' for '.'); returns the SetParametersResult list."""
        params = [Parameter(k.replace("__", "."), value=v) for k, v in values.items()]
        return self.node.set_parameters(params)

    def diagnostics_after(self, predicate, timeout=10.0):
        """The first diagnostics values, published after now, for which predicate holds."""
        start = len(self.probe.messages("diagnostics"))
        result = {}

        def ok():
            for msg in self.probe.messages("diagnostics")[start:]:
                values = diagnostic_values(msg)
                if values and predicate(values):
                    result.update(values)
                    return True
            return False

        assert wait_for(ok, timeout), f"no matching diagnostics; last: {self.probe.last_diagnostics()}"
        return result


def pattern_image(h, w, seed=0):
    """A smooth image with structure (gradient + blocks), the same for every encoding of a test."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], axis=2).astype(np.uint8)
    img[h // 4 : h // 2, w // 4 : w // 2] = rng.integers(0, 256, 3, dtype=np.uint8)
    return img


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    checkpoints = tiny_checkpoints(tmp_path_factory.mktemp("weights"), places=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    node = DepthNode(
        context=ctx,
        cli_args=node_arguments(
            checkpoints,
            params={
                "diagnostics_period": 0.2,
                "warn_throttle_period": 60.0,
                "device": "cpu",
                # most tests check each frame's own decision: per-image routing, as in the paper;
                # test_routing_schedule_is_live_and_the_scene_says_raw_and_smoothed sets its own
                **PER_IMAGE_ROUTING,
                # bursts of 640x480 frames must all arrive to check the accounting exactly
                **{
                    f"qos_overrides.{t}.subscription.{k}": v
                    for t in ("/cam/image", "/cam/image/compressed")
                    for k, v in (("reliability", "reliable"), ("depth", 50))
                },
            },
        ),
    )
    probe = Probe(context=ctx)
    executors = []
    for n in (node, probe):
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(n)
        threading.Thread(target=testing.spin_until_shutdown, args=(ex,), daemon=True).start()
        executors.append(ex)
    h = Harness(ctx, node, probe, checkpoints)
    assert wait_for(probe.matched, 15), "depth node never subscribed to the probe's topics"
    assert wait_for(lambda: all(s.get_publisher_count() > 0 for s in probe.subs), 15)
    probe.info_pub.publish(camera_info_msg(W, H, FX, FY, CX, CY))
    assert wait_for(lambda: node.latest_camera_info is not None, 10)
    yield h
    for ex in executors:
        ex.shutdown(timeout_sec=5)
    node.destroy_node()
    probe.destroy_node()
    rclpy.shutdown(context=ctx)


@pytest.fixture
def ros(harness):
    """The shared harness, with routing and cloud parameters back at their defaults after each test."""
    yield harness
    results = harness.set(**{k.replace(".", "__"): v for k, v in DEFAULTS.items()})
    assert all(r.successful for r in results), results
    harness.probe.info_pub.publish(camera_info_msg(W, H, FX, FY, CX, CY))
    wait_for(lambda: list(harness.node.latest_camera_info.p)[0] == FX, 5)


def test_640x480_depth_cloud_colormap_scene(ros):
    rgb = pattern_image(H, W)
    out = ros.frame(rgb, keys=("depth", "points", "colormap", "scene"))
    d = out["depth"]
    assert (d.width, d.height, d.encoding, d.step) == (W, H, "32FC1", W * 4)
    assert d.header.frame_id == "cam"
    depth = depth_array(d)
    assert depth.dtype == np.float32 and not np.isinf(depth).any()
    finite = depth[np.isfinite(depth)]
    assert finite.size > 0.99 * depth.size and (finite > 0).all()  # metres, NaN only where invalid

    c = out["points"]
    assert (c.width, c.height, c.point_step, c.row_step) == (W, H, 32, 32 * W)
    assert [(f.name, f.offset, f.datatype, f.count) for f in c.fields] == [
        ("x", 0, 7, 1),
        ("y", 4, 7, 1),
        ("z", 8, 7, 1),
        ("rgb", 16, 7, 1),
    ]
    assert not c.is_dense and not c.is_bigendian and len(c.data) == 32 * W * H
    assert c.header == d.header
    cloud = cloud_array(c)
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_array_equal(cloud["z"], depth)  # the cloud is the published depth ...
    np.testing.assert_allclose(cloud["x"], (u - CX) * depth / FX, rtol=1e-5, atol=1e-6)  # ... through P
    np.testing.assert_allclose(cloud["y"], (v - CY) * depth / FY, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(geometry.unpack_rgb(cloud["rgb"]), rgb)

    cm = out["colormap"]
    assert (cm.width, cm.height, cm.encoding, cm.step) == (W, H, "bgr8", 3 * W)
    bgr = np.frombuffer(cm.data, np.uint8).reshape(H, W, 3)
    np.testing.assert_array_equal(bgr, geometry.colorize_depth(depth))

    scene = out["scene"]
    assert scene["range"] in ("low", "high") and scene["router"] == "coarse_depth"
    assert scene["frame_id"] == "cam" and scene["score"] > 0 and scene["threshold"] == pytest.approx(5.89)


@pytest.mark.parametrize("h, w", [(240, 320), (375, 1242), (97, 131)])
def test_other_sizes(ros, h, w):
    ros.probe.info_pub.publish(camera_info_msg(w, h, 0.8 * w, 0.8 * w, w / 2, h / 2))
    assert wait_for(lambda: ros.node.latest_camera_info.width == w, 5)
    out = ros.frame(pattern_image(h, w, seed=1), keys=("depth", "points"))
    depth = depth_array(out["depth"])
    assert depth.shape == (h, w)
    cloud = cloud_array(out["points"])
    assert cloud.shape == (h, w)
    u = np.arange(w)[None, :]
    np.testing.assert_allclose(cloud["x"], (u - w / 2) * depth / (0.8 * w), rtol=1e-5, atol=1e-6)


def test_every_encoding_gives_the_same_depth(ros):
    rgb = pattern_image(120, 160, seed=2)
    ros.probe.info_pub.publish(camera_info_msg(160, 120, 100.0, 100.0, 80.0, 60.0))
    reference = depth_array(ros.frame(rgb, "rgb8")["depth"])
    for encoding, step in [
        ("bgr8", None),
        ("rgba8", None),
        ("bgra8", None),
        ("rgb8", 160 * 3 + 13),
        ("bgra8", 160 * 4 + 64),
    ]:
        got = depth_array(ros.frame(rgb, encoding, step=step)["depth"])
        np.testing.assert_array_equal(got, reference, err_msg=f"{encoding} step {step}")
    with compressed_transport(ros):
        lossless = depth_array(ros.frame(rgb, compressed="png")["depth"])
        np.testing.assert_array_equal(lossless, reference)
        jpeg = depth_array(ros.frame(rgb, compressed="jpg")["depth"])
        assert jpeg.shape == reference.shape and np.isfinite(jpeg).mean() > 0.99
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    grey_ref = depth_array(ros.frame(grey, "rgb8")["depth"])
    np.testing.assert_array_equal(depth_array(ros.frame(grey, "mono8")["depth"]), grey_ref)
    np.testing.assert_array_equal(depth_array(ros.frame(grey, "mono16", step=160 * 2 + 6)["depth"]), grey_ref)


def test_point_cloud_options(ros):
    assert all(r.successful for r in ros.set(points__color=False))
    c = ros.frame(keys=("points",))["points"]
    assert (c.point_step, c.row_step, [f.name for f in c.fields]) == (16, 16 * W, ["x", "y", "z"])
    assert all(r.successful for r in ros.set(points__stride=4, points__max_depth=1000.0, points__min_depth=0.0))
    out = ros.frame(keys=("points", "depth"))
    cloud, depth = cloud_array(out["points"]), depth_array(out["depth"])
    assert cloud.shape == (H // 4, W // 4)
    np.testing.assert_array_equal(cloud["z"], depth[::4, ::4])
    cut = float(np.nanmedian(depth))
    assert all(r.successful for r in ros.set(points__max_depth=cut))
    out = ros.frame(keys=("points", "depth"))
    cloud, depth = cloud_array(out["points"]), depth_array(out["depth"])
    np.testing.assert_array_equal(np.isnan(cloud["z"]), ~(depth[::4, ::4] <= cut))


def test_confidence_topic_is_the_pipelines_confidence_under_the_depth_header(ros):
    rgb = pattern_image(H, W, seed=2)
    out = ros.frame(rgb, keys=("depth", "confidence"))
    d, c = out["depth"], out["confidence"]
    assert (c.width, c.height, c.encoding, c.step) == (W, H, "32FC1", W * 4)
    assert c.header == d.header
    confidence = depth_array(c)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    expected = ros.node.pipeline(rgb, (FX, FY))  # the node's own networks on the same image and camera
    np.testing.assert_allclose(depth_array(d), expected.depth, rtol=1e-5)
    np.testing.assert_allclose(confidence, expected.confidence, atol=1e-6)


def test_points_min_confidence_removes_exactly_the_low_confidence_points(ros):
    confidence = depth_array(ros.frame(keys=("confidence",))["confidence"])
    cut = float(np.median(confidence))  # about half the points go
    assert all(r.successful for r in ros.set(points__min_confidence=cut, points__stride=2))
    out = ros.frame(keys=("points", "depth", "confidence"))
    cloud, depth, confidence = cloud_array(out["points"]), depth_array(out["depth"]), depth_array(out["confidence"])
    assert cloud.shape == (H // 2, W // 2)  # organized: the removed points are NaN, in place
    low = confidence[::2, ::2] < cut
    assert 0.2 < low.mean() < 0.8
    np.testing.assert_array_equal(np.isnan(cloud["z"]), low | ~np.isfinite(depth[::2, ::2]))
    kept = ~np.isnan(cloud["z"])
    np.testing.assert_array_equal(cloud["z"][kept], depth[::2, ::2][kept])
    refused = ros.set(points__min_confidence=1.5)[0]
    assert not refused.successful


def test_depth_camera_info_pairs_with_the_depth(ros):
    """depth_image_proc's point_cloud_xyz and depthimage_to_laserscan take depth + depth/camera_info: same stamp and
    frame, the depth image's size, the camera's calibration."""
    out = ros.frame(keys=("depth", "depth_info"))
    d, info = out["depth"], out["depth_info"]
    assert info.header == d.header and (info.width, info.height) == (d.width, d.height)
    assert list(info.k) == [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0] and list(info.p)[:3] == [FX, 0.0, CX]
    assert geometry.camera_intrinsics(info, d.height, d.width) == geometry.Intrinsics(FX, FY, CX, CY)


def test_integers_are_accepted_for_float_parameters(ros):
    """`ros2 param set /side/side_depth sigma 5` sends an integer."""
    result = ros.node.set_parameters([Parameter("sigma", value=5)])[0]
    assert result.successful, result.reason
    value = ros.node.get_parameter("sigma")
    assert value.type_ == Parameter.Type.DOUBLE and value.value == 5.0
    assert ros.node.pipeline.sigma == 5.0
    assert not ros.node.set_parameters([Parameter("top_k", value=2.5)])[0].successful  # not the other way round


def test_sigma_above_and_below_coarse_maximum_flips_the_decision(ros):
    score = ros.frame(keys=("scene",))["scene"]["score"]
    assert all(r.successful for r in ros.set(sigma=max(0.01, score * 0.5)))
    assert ros.frame(keys=("scene",))["scene"]["range"] == "high"
    assert all(r.successful for r in ros.set(sigma=score * 2.0))
    scene = ros.frame(keys=("scene",))["scene"]
    assert scene["range"] == "low" and scene["threshold"] == pytest.approx(score * 2.0)
    for router in ("low", "high"):
        assert all(r.successful for r in ros.set(router=router))
        scene = ros.frame(keys=("scene",))["scene"]
        assert (scene["range"], scene["router"], scene["score"]) == (router, router, None)


def test_scene_classification_top_k_and_voting_follow(ros):
    assert ros.set(router="scene_classification")[0].successful  # the Places365 network is loaded
    assert ros.node.get_parameter("router").value == "scene_classification"
    assert all(r.successful for r in ros.set(top_k=5, voting="majority"))
    s = ros.frame(keys=("scene",))["scene"]
    assert (s["router"], s["method"], s["top_k"], s["low_votes"] + s["high_votes"]) == (
        "scene_classification",
        "majority",
        5,
        5,
    )
    assert all(r.successful for r in ros.set(top_k=30, voting="weighted"))
    s = ros.frame(keys=("scene",))["scene"]
    assert (s["method"], s["top_k"], s["threshold"]) == ("weighted", 30, 0.5) and 0 <= s["score"] <= 1
    assert all(r.successful for r in ros.set(voting="expected"))
    expected = ros.frame(keys=("scene",))["scene"]["score"]
    assert all(r.successful for r in ros.set(sigma=expected * 0.5))
    assert ros.frame(keys=("scene",))["scene"]["range"] == "high"
    assert all(r.successful for r in ros.set(sigma=expected * 2.0))
    assert ros.frame(keys=("scene",))["scene"]["range"] == "low"


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("sigma", -1.0, "range"),
        ("top_k", 0, "range"),
        ("router", "nearest_wall", "must be one of"),
        ("voting", "unanimous", "must be one of"),
        ("weights.coarse", "/nonexistent/coarse.pt", "not found"),
        ("weights.low", "", "empty path"),
        ("device", "tpu", "device must be"),
        ("points.stride", 0, "range"),
    ],
)
def test_bad_values_are_refused_and_frames_keep_flowing(ros, name, value, reason):
    before = ros.node.get_parameter(name).value
    result = ros.node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and reason in result.reason, result.reason
    assert ros.node.get_parameter(name).value == before
    assert depth_array(ros.frame()["depth"]).shape == (H, W)


def test_corrupt_weight_file_is_refused_and_old_network_stays(ros, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    result = ros.set(weights__high=str(bad))[0]
    assert not result.successful and "weights.high" in result.reason
    assert ros.set(router="high")[0].successful
    assert np.isfinite(depth_array(ros.frame()["depth"])).any()


def test_checkpoint_of_another_network_is_refused_live(ros):
    """The shipped high-range file as the coarse network, the shipped coarse file as the low-range one: both load
    without a shape error, so only the checkpoint's own record of what it is can refuse them."""
    for name, value, network in (
        ("weights.coarse", "models/high.pt", "high"),
        ("weights.low", "models/coarse.pt", "coarse"),
    ):
        before = ros.node.get_parameter(name).value
        result = ros.node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and f"holds the {network} network" in result.reason, result.reason
        assert ros.node.get_parameter(name).value == before
    assert depth_array(ros.frame()["depth"]).shape == (H, W)


def test_new_weight_path_reloads_that_network_live(ros, tmp_path):
    assert ros.set(router="low")[0].successful
    rgb = pattern_image(H, W, seed=3)
    before = depth_array(ros.frame(rgb)["depth"])
    other = tiny_checkpoints(tmp_path, seed=7)["low"]
    assert ros.set(weights__low=str(other))[0].successful
    after = depth_array(ros.frame(rgb)["depth"])
    assert not np.array_equal(before, after)
    assert ros.set(weights__low=str(ros.checkpoints["low"]))[0].successful
    np.testing.assert_array_equal(depth_array(ros.frame(rgb)["depth"]), before)


def test_device_and_half(ros):
    result = ros.set(half=True)[0]
    assert result.successful  # on the CPU: accepted, runs float32 with a warning
    assert ros.frame()["depth"]
    cuda = ros.set(device="cuda")[0]
    assert cuda.successful == torch.cuda.is_available(), cuda.reason
    if not cuda.successful:
        assert "CUDA" in cuda.reason
    assert all(r.successful for r in ros.set(device="cpu", half=False))
    assert "cpu" in ros.diagnostics_after(lambda v: True)["device"]


@contextlib.contextmanager
def compressed_transport(ros):
    """Switch the node to image_transport 'compressed' live (it resubscribes on image/compressed), then back."""
    assert ros.set(image_transport="compressed")[0].successful
    try:
        assert wait_for(lambda: ros.probe.matched(compressed=True), 10)
        assert wait_for(lambda: ros.probe.image_pub.get_subscription_count() == 0, 10)
        yield
    finally:
        assert ros.set(image_transport="raw")[0].successful
        assert wait_for(ros.probe.matched, 10)


def _bad(msg_change):
    msg = image_msg(pattern_image(8, 8))
    msg_change(msg)
    return msg


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda m: setattr(m, "encoding", "weird42"), "unsupported_encoding"),
        (lambda m: setattr(m, "encoding", "32FC1"), "unsupported_encoding"),
        (lambda m: setattr(m, "data", m.data[:50]), "data_too_short"),
        (lambda m: (setattr(m, "height", 0), setattr(m, "width", 0)), "empty_image"),
        (lambda m: setattr(m, "step", 5), "bad_step"),
    ],
)
def test_bad_input_is_dropped_with_its_reason(ros, mutate, reason):
    before = ros.node.stats.snapshot()
    ros.send(_bad(mutate))
    assert wait_for(lambda: ros.node.stats.snapshot().dropped.get(reason, 0) > before.dropped.get(reason, 0), 10)
    diag = ros.diagnostics_after(lambda v: int(v.get(f"dropped.{reason}", 0)) > before.dropped.get(reason, 0))
    assert diag["_level"] == "1" and reason in diag["_message"]  # WARN, naming the reason
    assert depth_array(ros.frame()["depth"]).shape == (H, W)  # still running


def test_undecodable_compressed_image_is_dropped(ros):
    before = ros.node.stats.snapshot().dropped.get("decode_failed", 0)
    msg = compressed_msg(pattern_image(8, 8), "png")
    msg.data = msg.data[:20]
    with compressed_transport(ros):
        ros.send(msg, compressed=True)
        assert wait_for(lambda: ros.node.stats.snapshot().dropped.get("decode_failed", 0) == before + 1, 10)


def test_nan_intrinsics_and_size_mismatch_drop_only_the_cloud(ros):
    bad = camera_info_msg(W, H, float("nan"), FY, CX, CY)
    ros.probe.info_pub.publish(bad)
    assert wait_for(lambda: np.isnan(ros.node.latest_camera_info.p[0]), 5)
    before = ros.node.stats.snapshot()
    ros.frame(keys=("depth",))  # depth is still published
    assert wait_for(
        lambda: (
            ros.node.stats.snapshot().clouds_dropped.get("invalid_camera_info", 0)
            == before.clouds_dropped.get("invalid_camera_info", 0) + 1
        ),
        5,
    )
    ros.probe.info_pub.publish(camera_info_msg(W // 2, H // 2, FX, FY, CX, CY))
    assert wait_for(lambda: ros.node.latest_camera_info.width == W // 2, 5)
    ros.frame(keys=("depth",))
    assert wait_for(lambda: ros.node.stats.snapshot().clouds_dropped.get("camera_info_size_mismatch", 0) >= 1, 5)


def test_frames_faster_than_inference_keep_the_newest_and_counts_add_up(ros):
    ros.frame()
    quiet = ros.diagnostics_after(lambda v: v["frames_in_flight"] == "0")
    n = 30
    rgb = pattern_image(H, W)
    msgs = [image_msg(rgb, stamp=(next(_stamps), 0)) for _ in range(n)]
    for m in msgs:
        ros.send(m)  # back to back: far faster than the network
    last = (msgs[-1].header.stamp.sec, 0)
    assert wait_for(
        lambda: any((d.header.stamp.sec, d.header.stamp.nanosec) == last for d in ros.probe.messages("depth")), 30
    ), "newest frame was not processed"
    received0 = int(quiet["frames_received"])
    diag = ros.diagnostics_after(lambda v: int(v["frames_received"]) == received0 + n and v["frames_in_flight"] == "0")
    published, dropped = int(diag["frames_published"]), int(diag["frames_dropped"])
    assert int(diag["frames_received"]) == published + dropped
    skipped = int(diag.get("dropped.skipped_newer_frame", 0)) - int(quiet.get("dropped.skipped_newer_frame", 0))
    assert skipped > 0 and published - int(quiet["frames_published"]) == n - skipped
    assert float(diag["rate_hz"]) >= 0 and float(diag["latency_ms.depth"]) > 0
    assert diag["state"] == "active" and diag["router"] == "coarse_depth"


def test_lifecycle_transitions_over_the_service(ros):
    client = ros.probe.create_client(ChangeState, "/side/side_depth/change_state")
    assert client.wait_for_service(timeout_sec=10)

    def change(transition_id):
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        assert wait_for(future.done, 30)
        return future.result().success

    assert change(Transition.TRANSITION_DEACTIVATE)
    assert wait_for(lambda: ros.probe.image_pub.get_subscription_count() == 0, 10)  # unsubscribed while inactive
    assert ros.diagnostics_after(lambda v: v["state"] == "inactive")["_level"] == "1"
    assert change(Transition.TRANSITION_ACTIVATE)
    assert wait_for(ros.probe.matched, 10)
    assert depth_array(ros.frame()["depth"]).shape == (H, W)


def test_camera_info_missing_still_publishes_depth(harness):
    """A second node whose camera_info topic never gets a message: depth yes, cloud dropped with its reason."""
    node = DepthNode(
        "side_depth_noinfo",
        namespace="noinfo",
        context=harness.ctx,
        cli_args=node_arguments(harness.checkpoints, camera_info="/nobody/camera_info", params={"router": "low"}),
    )
    ex = SingleThreadedExecutor(context=harness.ctx)
    ex.add_node(node)
    threading.Thread(target=testing.spin_until_shutdown, args=(ex,), daemon=True).start()
    try:
        got = []
        sub = harness.probe.create_subscription(Image, "/noinfo/depth", got.append, 10)
        points_sub = harness.probe.create_subscription(PointCloud2, "/noinfo/points", got.append, 10)
        assert wait_for(lambda: node.count_subscribers("/noinfo/points") > 0 and sub.get_publisher_count() > 0, 15)
        assert wait_for(lambda: node.count_publishers("/cam/image") > 0, 15)
        harness.send(image_msg(pattern_image(120, 160), stamp=(next(_stamps), 0)))  # small: best effort
        assert wait_for(lambda: node.stats.snapshot().clouds_dropped.get("no_camera_info", 0) == 1, 20)
        assert wait_for(lambda: len(got) == 1, 10) and got[0].encoding == "32FC1"  # depth, and no cloud
        # without overrides: sensor-data QoS (best effort, keep last 5) in, reliable out
        assert node.get_parameter("qos_overrides./cam/image.subscription.reliability").value == "best_effort"
        assert node.get_parameter("qos_overrides./cam/image.subscription.depth").value == 5
        assert node.get_parameter("qos_overrides./noinfo/depth.publisher.reliability").value == "reliable"
        harness.probe.destroy_subscription(sub)
        harness.probe.destroy_subscription(points_sub)
    finally:
        ex.shutdown(timeout_sec=5)
        node.destroy_node()


def test_scene_message_is_json_with_the_frames_stamp(ros):
    out = ros.frame(keys=("scene", "depth"))
    s = out["scene"]
    assert s["stamp"] == {"sec": out["depth"].header.stamp.sec, "nanosec": 500}
    assert set(s) >= {"stamp", "frame_id", "range", "router", "score"}
    values = {kv.key: kv.value for kv in ros.node.diagnostics_status().values}
    assert json.loads(values["last_decision"])["router"] == "coarse_depth"


def test_routing_schedule_is_live_and_the_scene_says_raw_and_smoothed(ros):
    """routing.* parameters change the stream's schedule live; /side/scene gives the range used, the router's own
    decision when it ran (null between re-routes) and why; bad values are refused; diagnostics count routings."""
    try:
        assert all(
            r.successful
            for r in ros.set(
                routing__route_every=3, routing__min_dwell=0, routing__drift=0.0, routing__hysteresis_sigma=0.05
            )
        )
        score = ros.frame(keys=("scene",))["scene"]["score"]
        assert ros.set(sigma=score * 2)[0].successful  # a routing setting changed: the next frame is routed
        scenes = [ros.frame(keys=("scene",))["scene"] for _ in range(6)]
        assert [s["schedule"]["routed"] for s in scenes] == [True, False, False] * 2
        assert [s["schedule"]["reason"] for s in scenes[::3]] == ["settings", "every_n"]
        for s in scenes:
            assert s["range"] == "low" and s["threshold"] == pytest.approx(score * 2)
        assert scenes[0]["raw"]["range"] == "low" and scenes[0]["raw"]["score"] == pytest.approx(score, rel=1e-3)
        assert scenes[1]["raw"] is None and scenes[1]["score"] == scenes[0]["score"]  # the last routing's evidence
        # hysteresis: two views whose statistics straddle sigma flip the router's decision every frame, while
        # the range used stays where it was, held by the band
        views = [pattern_image(H, W, seed=0), np.zeros((H, W, 3), np.uint8)]  # mean coarse depth differs by 0.1 %
        assert all(
            r.successful for r in ros.set(routing__route_every=1, routing__hysteresis_sigma=0.0, statistic="mean")
        )
        sa, sb = (ros.frame(v, keys=("scene",))["scene"]["raw"]["score"] for v in views)
        assert sa != sb
        sigma = (sa + sb) / 2
        band = min(0.45, 2 * abs(sa - sb) / (sa + sb))
        assert all(r.successful for r in ros.set(sigma=sigma, routing__hysteresis_sigma=band))
        out = [ros.frame(views[i % 2], keys=("scene",))["scene"] for i in range(4)]
        assert len({s["raw"]["range"] for s in out}) == 2  # the router flips ...
        assert len({s["range"] for s in out}) == 1  # ... the range does not
        assert any(s["schedule"]["held"] == "hysteresis" for s in out)
        values = ros.diagnostics_after(lambda v: int(v["routing.routes"]) > 0)
        assert values["routing.range"] == out[-1]["range"]
        for name, value, reason in (
            ("routing.route_every", 0, "range"),
            ("routing.hysteresis_sigma", 0.7, "range"),
            ("routing.min_dwell", -1, "range"),
            ("precision", "float16", "CUDA"),
            ("precision", "double", "must be one of"),
        ):
            before = ros.node.get_parameter(name).value
            result = ros.node.set_parameters([Parameter(name, value=value)])[0]
            if name == "precision" and value == "float16" and torch.cuda.is_available():
                continue
            assert not result.successful and reason in result.reason, (name, result.reason)
            assert ros.node.get_parameter(name).value == before
    finally:
        assert all(
            r.successful
            for r in ros.set(statistic="", **{k.replace(".", "__"): v for k, v in PER_IMAGE_ROUTING.items()})
        )


def test_precision_override_and_the_path_in_diagnostics(ros):
    from side_ros.execution import native_bf16

    auto = ros.diagnostics_after(lambda v: True)["device"]
    assert ("bfloat16" in auto) == native_bf16() and "channels-last" in auto
    try:
        assert ros.set(precision="float32")[0].successful
        device = ros.diagnostics_after(lambda v: "bfloat16" not in v["device"])["device"]
        assert "float32" in device
        assert depth_array(ros.frame()["depth"]).shape == (H, W)
    finally:
        assert ros.set(precision="auto")[0].successful


def test_all_parameters_have_descriptions_and_ranges(ros):
    from side_ros.ros.params import SPECS

    names = [s.name for s in SPECS]
    descriptors = ros.node.describe_parameters(names)
    for spec, d in zip(SPECS, descriptors, strict=True):
        assert d.description, spec.name
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert spec.unit and d.description.endswith(f"(unit: {spec.unit})"), spec.name
        if spec.range is not None:
            assert d.floating_point_range or d.integer_range, spec.name
        if spec.choices is not None:
            assert all(c in d.additional_constraints for c in spec.choices), spec.name
    assert ros.node.describe_parameters(["autostart"])[0].read_only
    qos = ros.node.get_parameter("qos_overrides./cam/image.subscription.reliability")
    assert qos.value == "reliable"  # the override given on the command line
    assert ros.node.describe_parameters([qos.name])[0].read_only


def _change_state(probe, node_name, transition_id):
    client = probe.create_client(ChangeState, f"{node_name}/change_state")
    try:
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        assert wait_for(future.done, 30)
        return future.result().success
    finally:
        probe.destroy_client(client)


def _side_node(harness, name, params):
    node = DepthNode(
        name,
        namespace=name,
        context=harness.ctx,
        cli_args=node_arguments(harness.checkpoints, image=f"/{name}/image", params=params),
    )
    ex = SingleThreadedExecutor(context=harness.ctx)
    ex.add_node(node)
    threading.Thread(target=testing.spin_until_shutdown, args=(ex,), daemon=True).start()
    return node, ex


def test_autostart_false_waits_for_a_lifecycle_manager(harness):
    node, ex = _side_node(harness, "managed", {"autostart": False, "router": "low"})
    try:
        pub = harness.probe.create_publisher(Image, "/managed/image", 10)
        got = []
        sub = harness.probe.create_subscription(Image, "/managed/depth", got.append, 10)
        assert node.diagnostics_status().values[0].value == "unconfigured"
        assert pub.get_subscription_count() == 0  # nothing subscribed before activation
        assert _change_state(harness.probe, "/managed/managed", Transition.TRANSITION_CONFIGURE)
        assert _change_state(harness.probe, "/managed/managed", Transition.TRANSITION_ACTIVATE)
        assert wait_for(lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0, 10)
        pub.publish(image_msg(pattern_image(60, 80)))
        assert wait_for(lambda: len(got) == 1, 10) and (got[0].width, got[0].height) == (80, 60)
        harness.probe.destroy_publisher(pub)
        harness.probe.destroy_subscription(sub)
    finally:
        ex.shutdown(timeout_sec=5)
        node.destroy_node()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_at_start_recovers_when_the_device_is_set(harness):
    node, ex = _side_node(harness, "nocuda", {"device": "cuda", "router": "low"})
    try:
        status = node.diagnostics_status()
        assert status.values[0].value == "unconfigured" and "CUDA is not available" in status.message
        assert status.level == DiagnosticStatus.ERROR
        assert node.set_parameters([Parameter("device", value="cpu")])[0].successful
        assert wait_for(lambda: node.diagnostics_status().values[0].value == "active", 20)
        assert "cpu" in node.diagnostics_status().hardware_id
    finally:
        ex.shutdown(timeout_sec=5)
        node.destroy_node()


class HumbleDepthNode(DepthNode):
    """The node as on Humble, whose rclpy has no post-set parameter callback: validate and apply on set."""

    post_set_available = False


@pytest.mark.parametrize("node_class", [DepthNode, HumbleDepthNode])
def test_parameter_changes_validate_then_apply_with_and_without_a_post_set_callback(harness, tmp_path, node_class):
    name = f"params_{node_class.__name__.lower()}"
    node = node_class(
        name,
        namespace=name,
        context=harness.ctx,
        cli_args=node_arguments(harness.checkpoints, image=f"/{name}/image", params={"router": "low", "device": "cpu"}),
    )
    try:
        pipe = node.pipeline
        broken = tmp_path / "broken.pt"
        broken.write_bytes(b"not a checkpoint")
        coarse = pipe.network("coarse")
        refused = node.set_parameters_atomically(
            [
                Parameter("weights.coarse", value=str(broken)),
                Parameter("router", value="coarse_depth"),
                Parameter("sigma", value=2.0),
            ]
        )
        assert not refused.successful and "weights.coarse" in refused.reason
        assert (node.get_parameter("router").value, pipe.router, pipe.sigma) == ("low", "low", 5.89)
        assert pipe.network("coarse") is coarse
        accepted = node.set_parameters_atomically(
            [Parameter("router", value="coarse_depth"), Parameter("sigma", value=2.0)]
        )
        assert accepted.successful
        assert (node.get_parameter("router").value, pipe.router, pipe.sigma) == ("coarse_depth", "coarse_depth", 2.0)
    finally:
        node.destroy_node()


def test_routing_follows_live_changes_while_frames_stream(ros):
    """A camera streams at ~20 Hz while parameters change; each change shows up in the following decisions,
    refusals change nothing, and at the end every received frame is accounted for."""
    rgb = pattern_image(120, 160, seed=4)
    ros.probe.info_pub.publish(camera_info_msg(160, 120, 100.0, 100.0, 80.0, 60.0))
    stop = threading.Event()

    def stream():
        while not stop.is_set():
            ros.send(image_msg(rgb, stamp=(next(_stamps), 1)))
            time.sleep(0.05)

    def next_scene(predicate, timeout=20.0):
        start = len(ros.probe.messages("scene"))
        found = []

        def ok():
            found[:] = [s for s in (json.loads(m.data) for m in ros.probe.messages("scene")[start:]) if predicate(s)]
            return bool(found)

        assert wait_for(ok, timeout), "routing did not follow"
        return found[0]

    before = ros.diagnostics_after(lambda v: v["frames_in_flight"] == "0")
    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        score = next_scene(lambda s: s["router"] == "coarse_depth")["score"]
        assert ros.set(sigma=score / 2)[0].successful
        next_scene(lambda s: s["range"] == "high" and s["threshold"] == pytest.approx(score / 2))
        assert ros.set(sigma=score * 2)[0].successful
        next_scene(lambda s: s["range"] == "low" and s["threshold"] == pytest.approx(score * 2))
        refused = ros.set(sigma=-1.0) + ros.set(top_k=0) + ros.set(router="bogus") + ros.set(voting="bogus")
        assert not any(r.successful for r in refused)
        next_scene(lambda s: s["threshold"] == pytest.approx(score * 2))  # unchanged, still flowing
        assert all(r.successful for r in ros.set(router="scene_classification", top_k=3, voting="weighted"))
        next_scene(lambda s: s["router"] == "scene_classification" and s["top_k"] == 3 and s["method"] == "weighted")
        assert ros.set(router="high")[0].successful
        next_scene(lambda s: s["router"] == "high" and s["range"] == "high")
    finally:
        stop.set()
        thread.join()
    after = ros.diagnostics_after(
        lambda v: v["frames_in_flight"] == "0" and int(v["frames_received"]) > int(before["frames_received"])
    )
    assert int(after["frames_received"]) == int(after["frames_published"]) + int(after["frames_dropped"])
    assert int(after["frames_published"]) - int(before["frames_published"]) >= 6


def test_sigma_follows_the_coarse_checkpoint_until_set_and_again_at_zero(harness, tmp_path):
    from side_ros.networks.checkpoint import load_sidenet, save_sidenet_checkpoint

    model, _ = load_sidenet(harness.checkpoints["coarse"])
    calibrated = save_sidenet_checkpoint(
        model, tmp_path / "calibrated.pt", {"recommended_sigma": 3.25, "recommended_statistic": "p90"}
    )
    name = "sigma_default"
    ckpts = {**harness.checkpoints, "coarse": calibrated}
    node = DepthNode(
        name,
        namespace=name,
        context=harness.ctx,
        cli_args=node_arguments(ckpts, image=f"/{name}/image", params={"device": "cpu"}),
    )
    try:
        pipe = node.pipeline
        assert node.get_parameter("sigma").value == 0.0 and node.get_parameter("statistic").value == ""
        assert (pipe.sigma, pipe.statistic) == (3.25, "p90")  # no sigma given: the checkpoint's calibration
        assert "recommended_sigma" in pipe.routing_origin()["sigma"]
        diag = {kv.key: kv.value for kv in node.diagnostics_status().values}
        assert (diag["sigma"], diag["statistic"]) == ("3.25", "p90")
        assert node.set_parameters([Parameter("sigma", value=7.0)])[0].successful
        assert (pipe.sigma, pipe.statistic) == (7.0, "p90") and pipe.routing_origin()["sigma"] == "set by the user"
        assert node.set_parameters([Parameter("statistic", value="max")])[0].successful
        assert pipe.statistic == "max"
        refused = node.set_parameters([Parameter("statistic", value="p10")])[0]
        assert not refused.successful and "statistic must be" in refused.reason and pipe.statistic == "max"
        assert not node.set_parameters([Parameter("sigma", value=0.001)])[0].successful
        assert node.set_parameters([Parameter("sigma", value=0.0), Parameter("statistic", value="")])[0].successful
        assert (pipe.sigma, pipe.statistic) == (3.25, "p90")
    finally:
        node.destroy_node()

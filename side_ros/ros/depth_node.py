"""`side_depth`: the ROS 2 depth node (lifecycle). Camera image in; depth, point cloud, colour map, routing decision
and diagnostics out.

Topics (relative, so namespace `side` gives /side/...):
  sub  image (sensor_msgs/Image) or image/compressed (CompressedImage), per `image_transport`; sensor-data QoS
  sub  camera_info (sensor_msgs/CameraInfo); sensor-data QoS
  pub  depth (32FC1 metres, NaN invalid), depth/camera_info (its CameraInfo), depth/confidence (32FC1 in [0, 1]),
       points (PointCloud2, depth_image_proc layout), depth/colormap (bgr8), scene (std_msgs/String JSON),
       /diagnostics (diagnostic_msgs/DiagnosticArray); reliable, keep last 5
depth + depth/camera_info is the pair image_pipeline's nodes take (depth_image_proc point_cloud_xyz,
depthimage_to_laserscan): same stamp and frame, and the CameraInfo describes the depth image's pixel grid.
Every publisher and subscription accepts ROS 2's QoS overrides (qos_overrides.<topic>.<publisher|subscription>.
reliability / history / depth), e.g. a reliable image subscription for large images between processes.

A thin node over ROS-free parts, as depth_image_proc is over its maths: the newest-frame worker (worker.py: the
subscription callback only stores the newest frame, one thread converts, infers and publishes, a replaced frame
is dropped as "skipped_newer_frame"), the CameraInfo pairing by stamp (camera_info.py), the parameters applied
to the pipeline (settings.py: validated in the on-set callback, applied in the post-set callback), the frame
accounting (stats.py), and the QoS profiles and parameter descriptors (interfaces.py). Every received frame is
published or dropped with a reason (diagnostics: received = published + dropped + in flight).

Lifecycle: configure loads the networks and creates the publishers, activate subscribes and publishes,
deactivate unsubscribes, cleanup frees everything. `autostart` (default true) runs configure + activate at start
so a plain `ros2 run` works. A missing weight file does not stop the node: it stays active, reports the reason
on /diagnostics and drops frames as "model_not_loaded" until a valid path is set.

Camera info: depth, colour map and scene are published without it (the network needs only the image); the point
cloud needs intrinsics, so without a valid CameraInfo (none yet, NaN or zero P, other size) the frame's cloud is
not published and is counted under clouds_dropped.<reason>, with a throttled warning.

Faults: frames larger than max_image_pixels or max_aspect_ratio are dropped as image_too_large before decoding.
A watchdog on the diagnostics timer restarts a worker thread that died, and when one frame takes longer than
watchdog_timeout it reports ERROR and asks main() to exit with status 1 (`exit_request`), so that launch's
`respawn` restarts the process. Shutdown (SIGINT, SIGTERM, twice as `ros2 launch` sends them): main() stops
taking frames, lets the frame in hand finish (or stops it from publishing), then tears down and exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String

from side_ros import geometry
from side_ros.image_conversion import ImageConversionError, ImageLimits, message_to_rgb
from side_ros.ros import interfaces, messages
from side_ros.ros.camera_info import CameraInfoCache, IntrinsicsCache
from side_ros.ros.params import SPEC_BY_NAME, SPECS
from side_ros.ros.settings import LOAD_ERRORS, Change, NodeSettings, initial_values
from side_ros.ros.stats import FrameStats, Problems, status_level
from side_ros.ros.worker import Frame, NewestFrameWorker

NODE_NAME = "side_depth"
PROBLEM_WINDOW_S = 5.0  # diagnostics stay WARN this long after a frame or cloud was dropped for a problem
DEFAULT_NAMESPACE = "side"
LOG_TEXT_LIMIT = 500  # characters of one log line's text (message fields can be megabytes)
SHUTDOWN_FRAME_WAIT_S = 5.0  # how long shutdown waits for the frame in hand (ros2 launch escalates after 5 s)


class DepthNode(LifecycleNode):
    """The side_depth lifecycle node; construct after rclpy.init(), spin with any executor."""

    # Iron and later validate in the on-set callback and apply in the post-set one; Humble has no post-set
    # callback, so there the on-set callback applies right after validating.
    post_set_available = hasattr(Node, "add_post_set_parameters_callback")

    def __init__(self, node_name: str = NODE_NAME, *, namespace: str = DEFAULT_NAMESPACE, **kwargs: Any):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self._state = "unconfigured"  # primary lifecycle state, tracked in the on_* callbacks
        self.stats = FrameStats()
        self._problems = Problems()
        interfaces.floats_from_integers(getattr(self, "_parameter_overrides", None))
        declared = {s.name: self.declare_parameter(s.name, s.default, interfaces.descriptor(s)).value for s in SPECS}
        self.settings = NodeSettings(initial_values(declared), self.get_logger(), self.get_fully_qualified_name())
        self._staged: OrderedDict[tuple, Change] = OrderedDict()  # validated, waiting for the post-set callback
        self._staged_lock = threading.Lock()
        if hasattr(self, "add_pre_set_parameters_callback"):  # Iron and later
            self.add_pre_set_parameters_callback(interfaces.integers_as_floats)
        self.add_on_set_parameters_callback(self._validate_parameters)
        if self.post_set_available:
            self.add_post_set_parameters_callback(self._apply_parameters)

        self._cameras = CameraInfoCache()
        self._intrinsics = IntrinsicsCache()
        self._worker = NewestFrameWorker(self._process, self.stats, self._on_worker_error)
        self._worker_fault: tuple[float, str] | None = None  # (when, what) the watchdog last found
        self._worker_restarts = 0
        self.exit_request = Future()  # done (with the reason) when the node cannot go on: main() exits 1
        self._publish_lock = threading.Lock()  # publishing vs closing: nothing is published once closed
        self._closed = False
        self._last_decision = ""
        self._said_no_focal = False
        self._said_no_confidence = False
        self._pubs: dict[str, Any] = {}
        self._image_sub = None
        self._info_sub = None
        self._resub_timer = None
        self._retry_timer = None
        self._diag_pub = self.create_publisher(
            DiagnosticArray,
            "/diagnostics",
            interfaces.publisher_qos(10),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )
        self._diag_timer = self.create_timer(self._values["diagnostics_period"], self._publish_diagnostics)

        if self._values["autostart"]:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    @property
    def _values(self) -> dict[str, Any]:
        return self.settings.values

    @property
    def pipeline(self) -> Any:
        """The RobustDepthPipeline while configured, else None."""
        return self.settings.pipeline

    @property
    def lifecycle_state(self) -> str:
        """unconfigured, inactive, active or finalized."""
        return self._state

    # ------------------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the networks once (a missing file leaves the node up, degraded) and create the publishers."""
        if not self.settings.configure():
            return TransitionCallbackReturn.FAILURE

        def publisher(kind: Any, topic: str) -> Any:
            qos, opts = interfaces.publisher_qos(), QoSOverridingOptions.with_default_policies()
            return self.create_lifecycle_publisher(kind, topic, qos, qos_overriding_options=opts)

        self._pubs = {
            "depth": publisher(Image, "depth"),
            "depth_info": publisher(CameraInfo, "depth/camera_info"),
            "confidence": publisher(Image, "depth/confidence"),
            "points": publisher(PointCloud2, "points"),
            "colormap": publisher(Image, "depth/colormap"),
            "scene": publisher(String, "scene"),
        }
        self._worker.start()
        self._state = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe and start publishing (subscriptions exist only while active, so nothing is received idle)."""
        self._subscribe()
        self.settings.schedule.reset()  # a new stream: its first frame is routed
        self._worker.accept(True)
        self.get_logger().info(f"active: {self._image_topic()} -> {self.resolve_topic_name('depth')}")
        result = super().on_activate(state)
        self._state = "active"
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker.quiesce("deactivated")
        self._unsubscribe()
        result = super().on_deactivate(state)
        self._state = "inactive"
        return result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        self._state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker.quiesce("shutdown")
        self._unsubscribe()
        self._teardown()
        self._state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker.quiesce("error")
        self._unsubscribe()
        self._teardown()
        self._state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def close(self, wait: float = SHUTDOWN_FRAME_WAIT_S) -> bool:
        """Stop taking frames, let the frame in hand finish for up to `wait` seconds, then publish nothing more and
        end the worker. True when the worker ended (a stalled frame may still be inside the networks)."""
        self._worker.quiesce("shutdown", timeout=wait)
        with self._publish_lock:
            self._closed = True
        self._worker.stop(timeout=0.5)
        return not self._worker.health().alive

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()

    def _teardown(self) -> None:
        self._worker.stop()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self.settings.teardown()

    # ------------------------------------------------------------------------------------------ subscriptions
    def _image_topic(self) -> str:
        base = self.resolve_topic_name("image")
        return base + "/compressed" if self._values["image_transport"] == "compressed" else base

    def _subscribe_image(self) -> None:
        compressed = self._values["image_transport"] == "compressed"
        self._image_sub = self.create_subscription(
            CompressedImage if compressed else Image,
            self._image_topic(),
            self._worker.offer,
            interfaces.sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )

    def _subscribe(self) -> None:
        """Image (per transport) and camera_info with sensor-data QoS, overridable per topic."""
        self._subscribe_image()
        self._info_sub = self.create_subscription(
            CameraInfo,
            "camera_info",
            self._cameras.add,
            interfaces.sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )

    def _unsubscribe(self) -> None:
        for sub in (self._image_sub, self._info_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self._image_sub = self._info_sub = None

    def _resubscribe(self) -> None:
        """Apply an image_transport change: a new subscription on the other topic (from a one-shot timer, because
        creating it declares QoS-override parameters, which must not happen inside a parameter callback)."""
        if self._resub_timer is not None:
            self.destroy_timer(self._resub_timer)
            self._resub_timer = None
        if self._image_sub is None:
            return
        self.destroy_subscription(self._image_sub)
        self._subscribe_image()
        self.get_logger().info(f"now subscribed to {self._image_topic()}")

    @property
    def latest_camera_info(self) -> CameraInfo | None:
        """The newest CameraInfo received (the point cloud uses it; the depth does not need it)."""
        return self._cameras.latest

    # ------------------------------------------------------------------------------------------ frames
    def _process(self, frame: Frame) -> None:
        """Worker thread: convert, infer, publish depth, scene, colour map and cloud, and count the outcome."""
        cfg, pipe, not_ready = self.settings.snapshot()
        t0 = time.perf_counter()
        try:
            rgb = message_to_rgb(frame.msg, ImageLimits(cfg["max_image_pixels"], cfg["max_aspect_ratio"]))
        except ImageConversionError as exc:
            frame.dropped(exc.reason)
            self._warn(exc.reason, f"dropped frame: {exc}")
            return
        t1 = time.perf_counter()
        if pipe is None or not_ready:
            frame.dropped("model_not_loaded")
            self._warn("model_not_loaded", f"dropped frame: {not_ready or 'not configured'}")
            return
        info = self._cameras.for_stamp(frame.msg.header.stamp)
        focal = geometry.camera_focal(info, rgb.shape[0], rgb.shape[1])
        if focal is None and not self._said_no_focal:
            self._said_no_focal = True
            self.get_logger().warning(
                "no usable CameraInfo for this image yet: depth is scaled for the networks' training camera until "
                f"one arrives on {self.resolve_topic_name('camera_info')} (metric scale needs the camera's focal)"
            )
        try:
            result = pipe(rgb, focal, schedule=self.settings.schedule)
        except Exception as exc:  # a failing network must not take the node down
            frame.dropped("inference_error")
            self._warn("inference_error", f"inference failed: {type(exc).__name__}: {exc}", error=True)
            return
        t2 = time.perf_counter()
        header = frame.msg.header
        depth = result.depth
        depth_info = self._depth_camera_info(header, info, depth.shape)
        if depth_info is not None:
            self._publish("depth_info", depth_info)
        if not self._publish("depth", messages.depth_image(header, depth)):
            frame.dropped("shutdown")
            return
        if result.confidence is not None and self._pubs["confidence"].get_subscription_count() > 0:
            self._publish("confidence", messages.depth_image(header, result.confidence))
        self._publish("scene", messages.scene_message(header, result.decision))
        self._last_decision = result.decision.to_json()
        t3 = time.perf_counter()
        timings = {"convert": t1 - t0, **result.timings, "publish_depth": t3 - t2}
        if cfg["colormap.enabled"] and self._pubs["colormap"].get_subscription_count() > 0:
            bgr = geometry.colorize_depth(depth, cfg["colormap.min_depth"], cfg["colormap.max_depth"], order="bgr")
            self._publish("colormap", messages.bgr_image(header, bgr))
            timings["colormap"] = time.perf_counter() - t3
        if cfg["points.enabled"] and self._pubs["points"].get_subscription_count() > 0:
            t4 = time.perf_counter()
            self._publish_cloud(header, depth, rgb, cfg, info, result.confidence)
            timings["points"] = time.perf_counter() - t4
        timings["total"] = time.perf_counter() - frame.received
        frame.published(timings)

    def _publish(self, key: str, msg: Any) -> bool:
        """Publish unless the node is closing (then False: the context may be gone at any moment)."""
        with self._publish_lock:
            if self._closed:
                return False
            self._pubs[key].publish(msg)
            return True

    def _depth_camera_info(self, header: Any, info: CameraInfo | None, shape: tuple[int, ...]) -> CameraInfo | None:
        """The CameraInfo of the depth image (the camera's, with the depth's header), or None without one that
        describes an image of this size (the cloud reports why)."""
        if info is None:
            return None
        try:
            self._intrinsics.get(info, shape[0], shape[1])
        except geometry.CameraInfoError:
            return None
        return messages.depth_camera_info(header, info, shape[0], shape[1])

    def _publish_cloud(
        self,
        header: Any,
        depth: np.ndarray,
        rgb: np.ndarray,
        cfg: dict[str, Any],
        info: CameraInfo | None,
        confidence: np.ndarray | None,
    ) -> None:
        try:
            if info is None:
                raise geometry.CameraInfoError(
                    "no_camera_info", f"no CameraInfo received on {self.resolve_topic_name('camera_info')} yet"
                )
            intr = self._intrinsics.get(info, depth.shape[0], depth.shape[1])
        except geometry.CameraInfoError as exc:
            self.stats.cloud(False, exc.reason)
            self._warn(exc.reason, f"no point cloud: {exc} (depth is still published)")
            return
        if cfg["points.min_confidence"] > 0 and confidence is None and not self._said_no_confidence:
            self._said_no_confidence = True
            self.get_logger().warning(
                "points.min_confidence is set but this network has no classification head "
                "(no bin distribution, no confidence): every point is kept"
            )
        cloud = geometry.depth_to_cloud(
            depth,
            intr,
            rgb if cfg["points.color"] else None,
            stride=cfg["points.stride"],
            min_depth=cfg["points.min_depth"],
            max_depth=cfg["points.max_depth"],
            confidence=confidence,
            min_confidence=cfg["points.min_confidence"],
        )
        if self._publish("points", messages.point_cloud(header, cloud)):
            self.stats.cloud(True)

    def _on_worker_error(self, exc: Exception) -> None:
        self._warn("internal_error", f"frame failed: {type(exc).__name__}: {exc}", error=True)

    def _warn(self, key: str, text: str, *, error: bool = False) -> None:
        """At most one message per key and warn_throttle_period (a bad stream at 30 Hz must not flood the log);
        the text is cut to LOG_TEXT_LIMIT characters."""
        if not self._problems.note(key, self._values["warn_throttle_period"]):
            return
        if len(text) > LOG_TEXT_LIMIT:
            text = f"{text[:LOG_TEXT_LIMIT]}... ({len(text)} characters)"
        # Two call sites, not one call with a chosen method: rclpy refuses a severity change between calls from the
        # same place in the code (ValueError), which killed the worker at its first error after a warning.
        if error:
            self.get_logger().error(f"[{key}] {text}")
        else:
            self.get_logger().warning(f"[{key}] {text}")

    def _watchdog(self) -> None:
        """Diagnostics timer: restart a worker thread that died; report a frame that exceeds watchdog_timeout and
        ask main() to exit 1 (respawn), since a thread stuck inside a network cannot be stopped from outside."""
        died = self._worker.revive()
        if died:
            self._worker_restarts += 1
            self._worker_fault = (time.monotonic(), f"worker thread died ({died}); restarted")
            self.get_logger().error(
                f"[worker_died] the frame worker thread died ({died[:LOG_TEXT_LIMIT]}); "
                f"restarted it (restart {self._worker_restarts})"
            )
        timeout = self._values["watchdog_timeout"]
        busy = self._worker.health().busy_s
        if timeout and busy > timeout:
            reason = f"worker stalled: one frame has been processing for {busy:.1f} s (watchdog_timeout {timeout:g} s)"
            self._worker_fault = (time.monotonic(), reason)
            if not self.exit_request.done():
                self.get_logger().fatal(
                    f"[worker_stalled] {reason}; exiting with status 1 so that the process is "
                    "restarted (launch respawn)"
                )
                self.exit_request.set_result(reason)

    # ------------------------------------------------------------------------------------------ parameters
    @staticmethod
    def _ours(params: list[Parameter]) -> dict[str, Any]:
        return {p.name: p.value for p in params if p.name in SPEC_BY_NAME}  # not QoS overrides, use_sim_time

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """On-set callback: check the whole change (weight files read, router needs, device); a refused change
        leaves every value and network as it was."""
        ours = self._ours(params)
        if not ours:
            return SetParametersResult(successful=True)
        try:
            change = self.settings.validate(ours)
        except LOAD_ERRORS as exc:
            self.get_logger().warning(f"refused parameter change {sorted(ours)}: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        if not self.post_set_available:
            self._apply_change(change)
            return SetParametersResult(successful=True)
        with self._staged_lock:
            self._staged[tuple(ours.items())] = change
            while len(self._staged) > 8:  # a change another callback refused never reaches post-set
                self._staged.popitem(last=False)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        """Post-set callback: apply the change validated for exactly these values."""
        with self._staged_lock:
            change = self._staged.pop(tuple(self._ours(params).items()), None)
        if change is not None:
            self._apply_change(change)

    def _apply_change(self, change: Change) -> None:
        self.settings.apply(change)
        changed = change.values
        if "diagnostics_period" in changed:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(self._values["diagnostics_period"], self._publish_diagnostics)
        if "image_transport" in changed and self._image_sub is not None and self._resub_timer is None:
            self._resub_timer = self.create_timer(0.0, self._resubscribe)
        if (
            ("device" in changed or "half" in changed or "precision" in changed)
            and self.pipeline is None
            and self._values["autostart"]
            and self._state == "unconfigured"
            and self._retry_timer is None
        ):
            # start-up failed on the device: retry configure + activate now that it changed (from a timer,
            # because transitions create publishers, which must not happen inside a parameter callback)
            self._retry_timer = self.create_timer(0.0, self._retry_autostart)

    def _retry_autostart(self) -> None:
        if self._retry_timer is not None:
            self.destroy_timer(self._retry_timer)
            self._retry_timer = None
        if self._state == "unconfigured" and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------------------------------ diagnostics
    def diagnostics_status(self) -> DiagnosticStatus:
        """The node's DiagnosticStatus now: state, device, routing settings, frame accounting, latency."""
        snap = self.stats.snapshot()
        values, pipe, not_ready = self.settings.snapshot()
        state = self._state
        device = pipe.describe() if pipe is not None else f"{values['device']} (not configured)"
        kv: dict[str, object] = {
            "state": state,
            "device": device,
            "router": values["router"],
            "sigma": pipe.sigma if pipe is not None else values["sigma"],
            "statistic": pipe.statistic if pipe is not None else values["statistic"],
            "top_k": values["top_k"],
            "voting": values["voting"],
            "image_topic": self._image_topic(),
            **snap.values(),
        }
        kv.update({f"weights.{k}": v for k, v in self.settings.net_status.items()})
        kv["last_decision"] = self._last_decision
        kv["worker_restarts"] = self._worker_restarts
        routing = self.settings.schedule.state()
        kv.update({f"routing.{k}": routing[k] for k in ("range", "routes", "switches", "frames_since_route")})
        recent = self._problems.recent(PROBLEM_WINDOW_S, ignore=("model_not_loaded",))
        fault = self._worker_fault
        current = fault is not None and (time.monotonic() - fault[0] < PROBLEM_WINDOW_S or self.exit_request.done())
        level, message = status_level(
            state, not_ready, fault[1] if current else None, recent, snap.rate_hz, device, PROBLEM_WINDOW_S
        )
        name = f"{self.get_fully_qualified_name().lstrip('/')}: depth estimation"
        return messages.diagnostic_status(name, device, bytes([level]), message, kv)

    def _publish_diagnostics(self) -> None:
        self._watchdog()
        self._diag_pub.publish(messages.diagnostic_array(self.get_clock().now().to_msg(), [self.diagnostics_status()]))


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run side_ros depth_node`. SIGINT and SIGTERM, at any moment and any number of times,
    end in a clean exit 0; a stalled worker (watchdog_timeout) or a bad parameter file in exit 1.

    The signals are handled here, not by rclpy: rclpy's handlers shut the context down at once (frames still in
    the worker then publish into an invalid context) and raise KeyboardInterrupt wherever the main thread is,
    a second time during clean-up when `ros2 launch` forwards the terminal's Ctrl-C. So the executor spins in a
    thread, and the main thread only waits for a signal or the node's exit request, then shuts down in order:
    frames, worker, executor, node, context."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # The handler only appends to a list: it runs in the main thread between any two bytecodes, and taking a lock
    # there (threading.Event.set) deadlocks when the main thread holds that lock at that moment.
    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: signals.append(signum))
    try:
        node = DepthNode()
    except Exception as exc:  # bad parameter file: say why and exit non-zero, like a failed rclcpp node
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(1) from exc
    code = 0
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name="side_depth_executor", daemon=True)
    try:
        spinner.start()
        while not signals and not node.exit_request.done():
            if not spinner.is_alive():  # a callback raised: the node cannot serve any more
                code = 1
                break
            time.sleep(0.1)  # a signal interrupts the sleep, runs the handler, and the loop ends
        if node.exit_request.done():
            code = 1
    finally:
        # Shutting down: later signals (launch forwards the terminal's Ctrl-C, then sends SIGTERM) are ignored, also
        # after rclpy.try_shutdown, which puts back the handlers it found at init (Python's KeyboardInterrupt one).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        worker_ended = node.close()
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)  # a thread left inside rcl's wait when the context goes aborts the process
        node.destroy_node()
        rclpy.try_shutdown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if not worker_ended or spinner.is_alive():
            # A thread is still inside native code (a stalled frame in the networks): leaving now, without
            # interpreter shutdown, avoids the abort ("terminate called without an active exception") of a thread
            # torn down there.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()

"""`side_depth`: the ROS 2 depth node (lifecycle). Camera image in; depth, point cloud, colour map, routing decision
and diagnostics out.

Topics (relative, so namespace `side` gives /side/...):
  sub  image (sensor_msgs/Image) or image/compressed (CompressedImage), per `image_transport`; sensor-data QoS
  sub  camera_info (sensor_msgs/CameraInfo); sensor-data QoS
  pub  depth (32FC1 metres, NaN invalid), points (PointCloud2, depth_image_proc layout), depth/colormap (bgr8),
       scene (std_msgs/String JSON), /diagnostics (diagnostic_msgs/DiagnosticArray); reliable, keep last 5
Every publisher and subscription accepts ROS 2's QoS overrides (qos_overrides.<topic>.<publisher|subscription>.
reliability / history / depth), e.g. a reliable image subscription for large images between processes.

Threading: the subscription callback only stores the newest frame; one worker thread converts, infers and
publishes. A frame replaced before the worker took it is dropped as "skipped_newer_frame", so the node always
works on the newest image and never queues up latency. Every received frame is published or dropped with a
reason (diagnostics: received = published + dropped + in flight).

Lifecycle: configure loads the networks and creates the publishers, activate subscribes and publishes,
deactivate unsubscribes, cleanup frees everything. `autostart` (default true) runs configure + activate at start
so a plain `ros2 run` works. A missing weight file does not stop the node: it stays active, reports the reason
on /diagnostics and drops frames as "model_not_loaded" until a valid path is set.

Camera info: depth, colour map and scene are published without it (the network needs only the image); the point
cloud needs intrinsics, so without a valid CameraInfo (none yet, NaN or zero P, other size) the frame's cloud is
not published and is counted under clouds_dropped.<reason>, with a throttled warning.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import String

from side_ros import geometry
from side_ros.image_conversion import ImageConversionError, message_to_rgb
from side_ros.networks.checkpoint import CheckpointError
from side_ros.pipeline import RobustDepthPipeline
from side_ros.resources import resolve
from side_ros.ros import messages
from side_ros.ros.params import SPEC_BY_NAME, SPECS, WEIGHT_PARAMS, ParamSpec
from side_ros.ros.stats import FrameStats
from side_ros.routing.options import ROUTER_NEEDS

NODE_NAME = "side_depth"
PROBLEM_WINDOW_S = 5.0  # diagnostics stay WARN this long after a frame or cloud was dropped for a problem
DEFAULT_NAMESPACE = "side"



# Fresh profiles per entity: rclpy's QoS overriding writes the overridden values into the profile it is given, so
# a shared module-level profile would carry one topic's overrides into every later publisher or subscription.
def sensor_qos() -> QoSProfile:
    """REP 2003 sensor-data QoS (rclpy's qos_profile_sensor_data): best effort, keep last 5, volatile."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def publisher_qos(depth: int = 5) -> QoSProfile:
    """image_pipeline's publishers are reliable; keep last 5 bounds memory when a subscriber is slow."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


CAMERA_INFO_WAIT_S = 0.1  # how long a frame's point cloud waits for the CameraInfo with the frame's stamp
CAMERA_INFO_KEEP = 16  # recent CameraInfos kept for pairing by stamp

def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    d = ParameterDescriptor(description=spec.description, read_only=spec.read_only,
                            additional_constraints=spec.constraint_text)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return d


@dataclass
class _Frame:
    msg: Any
    received: float  # time.perf_counter() at receipt


class DepthNode(LifecycleNode):
    """The side_depth lifecycle node; construct after rclpy.init(), spin with any executor."""

    def __init__(self, node_name: str = NODE_NAME, *, namespace: str = DEFAULT_NAMESPACE, **kwargs: Any):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self.stats = FrameStats()
        self._cfg_lock = threading.RLock()
        self._values: dict[str, Any] = {}
        for spec in SPECS:
            value = self.declare_parameter(spec.name, spec.default, _descriptor(spec)).value
            problem = spec.check(value)
            if problem:
                raise ValueError(f"invalid parameter: {problem}")
            self._values[spec.name] = float(value) if isinstance(spec.default, float) else value
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.pipeline: RobustDepthPipeline | None = None
        self._net_status: dict[str, str] = {n: "not loaded" for n in WEIGHT_PARAMS.values()}
        self._not_ready: str | None = "not configured"
        self._last_warn: dict[str, float] = {}
        self._problems: dict[str, float] = {}  # reason -> when it last happened (diagnostics WARN window)
        self._last_decision: str = ""
        self._camera_info: CameraInfo | None = None
        self._infos: OrderedDict[tuple[int, int], CameraInfo] = OrderedDict()  # recent CameraInfos by stamp
        self._info_cond = threading.Condition()
        self._infos_match_stamps = True  # this camera stamps CameraInfo like its images (wait for the pair)
        self._intrinsics_cache: tuple[tuple, geometry.Intrinsics | tuple[str, str]] | None = None

        self._cond = threading.Condition()
        self._pending: _Frame | None = None
        self._processing = False
        self._accepting = False
        self._stop = False
        self._worker: threading.Thread | None = None

        self._pubs: dict[str, Any] = {}
        self._image_sub = None
        self._info_sub = None
        self._resub_timer = None
        self._retry_timer = None
        self._diag_pub = self.create_publisher(
            DiagnosticArray, "/diagnostics", publisher_qos(10),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._diag_timer = self.create_timer(self._values["diagnostics_period"], self._publish_diagnostics)

        if self._values["autostart"]:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()

    # ------------------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the networks once (a missing file leaves the node up, degraded) and create the publishers."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipe = RobustDepthPipeline(None, None, router="low", device=self._values["device"],
                                           half=self._values["half"])
        except (ValueError, RuntimeError) as exc:
            hint = " (the node configures itself once it is set)" if self._values["autostart"] else \
                " and configure again"
            self.get_logger().error(f"cannot configure: {exc}; set `device` to a usable device{hint}")
            self._not_ready = f"not configured: {exc}"
            return TransitionCallbackReturn.FAILURE
        self.pipeline = pipe
        for param, which in WEIGHT_PARAMS.items():
            path = self._values[param]
            if not path:
                self._net_status[which] = "not loaded (no path set)"
                continue
            try:
                self._load_network(which, path)
            except (FileNotFoundError, CheckpointError, ValueError, RuntimeError) as exc:
                self._net_status[which] = f"not loaded: {exc}"
                self.get_logger().error(
                    f"{param}: {exc}. The node stays up and drops frames (model_not_loaded) until "
                    f"`ros2 param set {self.get_fully_qualified_name()} {param} <file>` names a valid checkpoint")
        if self._values["half"] and pipe.device.type != "cuda":
            self.get_logger().warning("half precision needs CUDA: running float32 on the CPU")
        self._sync_pipeline()
        self.get_logger().info(f"configured: {pipe.describe()}")
        if self._not_ready:
            self.get_logger().error(f"not ready: {self._not_ready}")

        opts = QoSOverridingOptions.with_default_policies
        self._pubs = {
            "depth": self.create_lifecycle_publisher(Image, "depth", publisher_qos(), qos_overriding_options=opts()),
            "points": self.create_lifecycle_publisher(PointCloud2, "points", publisher_qos(),
                                                      qos_overriding_options=opts()),
            "colormap": self.create_lifecycle_publisher(Image, "depth/colormap", publisher_qos(),
                                                        qos_overriding_options=opts()),
            "scene": self.create_lifecycle_publisher(String, "scene", publisher_qos(), qos_overriding_options=opts()),
        }
        self._stop = False
        self._worker = threading.Thread(target=self._worker_loop, name="side_depth_worker", daemon=True)
        self._worker.start()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe and start publishing (subscriptions exist only while active, so nothing is received idle)."""
        self._subscribe()
        with self._cond:
            self._accepting = True
        self.get_logger().info(f"active: {self._image_topic()} -> {self.resolve_topic_name('depth')}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._quiesce("deactivated")
        self._unsubscribe()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._quiesce("shutdown")
        self._unsubscribe()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._quiesce("error")
        self._unsubscribe()
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._quiesce("shutdown")
        self._stop_worker()
        super().destroy_node()

    def _quiesce(self, reason: str, timeout: float = 30.0) -> None:
        """Stop accepting frames, drop the pending one and wait for the frame in the worker to finish."""
        with self._cond:
            self._accepting = False
            if self._pending is not None:
                self._pending = None
                self.stats.dropped(reason)
            self._cond.wait_for(lambda: not self._processing, timeout=timeout)

    def _stop_worker(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=30.0)
        self._worker = None

    def _teardown(self) -> None:
        self._stop_worker()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self.pipeline = None
        self._net_status = {n: "not loaded" for n in WEIGHT_PARAMS.values()}
        self._not_ready = "not configured"

    # ------------------------------------------------------------------------------------------ subscriptions
    def _image_topic(self) -> str:
        base = self.resolve_topic_name("image")
        return base + "/compressed" if self._values["image_transport"] == "compressed" else base

    def _subscribe(self) -> None:
        """Image (per transport) and camera_info with sensor-data QoS, overridable per topic."""
        compressed = self._values["image_transport"] == "compressed"
        self._image_sub = self.create_subscription(
            CompressedImage if compressed else Image, self._image_topic(), self._on_image, sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._info_sub = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())

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
        self._retry_timer = None
        if self._image_sub is None:
            return
        self.destroy_subscription(self._image_sub)
        compressed = self._values["image_transport"] == "compressed"
        self._image_sub = self.create_subscription(
            CompressedImage if compressed else Image, self._image_topic(), self._on_image, sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self.get_logger().info(f"now subscribed to {self._image_topic()}")

    def _on_image(self, msg: Any) -> None:
        """Executor thread: count, keep only the newest frame, wake the worker. Never blocks on inference."""
        frame = _Frame(msg, time.perf_counter())
        self.stats.received()
        with self._cond:
            if not self._accepting:
                self.stats.dropped("inactive")
                return
            if self._pending is not None:
                self.stats.dropped("skipped_newer_frame")
            self._pending = frame
            self._cond.notify()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        with self._info_cond:
            self._camera_info = msg
            self._infos[key] = msg
            self._infos.move_to_end(key)
            while len(self._infos) > CAMERA_INFO_KEEP:
                self._infos.popitem(last=False)
            self._info_cond.notify_all()

    def _camera_info_for(self, stamp: Any) -> CameraInfo | None:
        """The CameraInfo with the image's stamp, as image_transport's CameraSubscriber pairs them.

        Image and CameraInfo travel on separate topics, so the info may arrive just after its image: wait up to
        CAMERA_INFO_WAIT_S for it. Drivers that stamp CameraInfo differently (a static publisher, say) never
        match; after one miss the node stops waiting and uses the newest CameraInfo, until stamps match again.
        """
        key = (stamp.sec, stamp.nanosec)
        with self._info_cond:
            if self._infos_match_stamps or self._camera_info is None:
                self._info_cond.wait_for(lambda: key in self._infos, timeout=CAMERA_INFO_WAIT_S)
            matched = self._infos.get(key)
            if self._camera_info is not None:
                self._infos_match_stamps = matched is not None
            return matched if matched is not None else self._camera_info

    @property
    def latest_camera_info(self) -> CameraInfo | None:
        """The newest CameraInfo received (the point cloud uses it; the depth does not need it)."""
        return self._camera_info

    # ------------------------------------------------------------------------------------------ worker
    def _worker_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                frame, self._pending = self._pending, None
                self._processing = True
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 - the node must survive any single frame
                self.stats.dropped("internal_error")
                self._warn("internal_error", f"frame failed: {type(exc).__name__}: {exc}", error=True)
            finally:
                with self._cond:
                    self._processing = False
                    self._cond.notify_all()

    def _process(self, frame: _Frame) -> None:
        with self._cfg_lock:
            cfg = dict(self._values)
            pipe, not_ready = self.pipeline, self._not_ready
        t0 = time.perf_counter()
        try:
            rgb = message_to_rgb(frame.msg)
        except ImageConversionError as exc:
            self.stats.dropped(exc.reason)
            self._warn(exc.reason, f"dropped frame: {exc}")
            return
        t1 = time.perf_counter()
        if pipe is None or not_ready:
            self.stats.dropped("model_not_loaded")
            self._warn("model_not_loaded", f"dropped frame: {not_ready or 'not configured'}")
            return
        try:
            result = pipe(rgb)
        except Exception as exc:  # noqa: BLE001 - a failing network must not take the node down
            self.stats.dropped("inference_error")
            self._warn("inference_error", f"inference failed: {type(exc).__name__}: {exc}", error=True)
            return
        t2 = time.perf_counter()
        header = frame.msg.header
        depth = result.depth
        self._pubs["depth"].publish(messages.depth_image(header, depth))
        self._pubs["scene"].publish(messages.scene_message(header, result.decision))
        self._last_decision = result.decision.to_json()
        t3 = time.perf_counter()
        timings = {"convert": t1 - t0, **result.timings, "publish_depth": t3 - t2}
        if cfg["colormap.enabled"] and self._pubs["colormap"].get_subscription_count() > 0:
            bgr = geometry.colorize_depth(depth, cfg["colormap.min_depth"], cfg["colormap.max_depth"], order="bgr")
            self._pubs["colormap"].publish(messages.bgr_image(header, bgr))
            timings["colormap"] = time.perf_counter() - t3
        if cfg["points.enabled"] and self._pubs["points"].get_subscription_count() > 0:
            t4 = time.perf_counter()
            self._publish_cloud(header, depth, rgb, cfg)
            timings["points"] = time.perf_counter() - t4
        timings["total"] = time.perf_counter() - frame.received
        self.stats.published(timings)

    def _publish_cloud(self, header: Any, depth: np.ndarray, rgb: np.ndarray, cfg: dict[str, Any]) -> None:
        intr = self._intrinsics(self._camera_info_for(header.stamp), depth.shape[0], depth.shape[1])
        if isinstance(intr, tuple):
            reason, text = intr
            self.stats.cloud(False, reason)
            self._warn(reason, f"no point cloud: {text} (depth is still published)")
            return
        cloud = geometry.depth_to_cloud(depth, intr, rgb if cfg["points.color"] else None,
                                        stride=cfg["points.stride"], min_depth=cfg["points.min_depth"],
                                        max_depth=cfg["points.max_depth"])
        self._pubs["points"].publish(messages.point_cloud(header, cloud))
        self.stats.cloud(True)

    def _intrinsics(self, info: CameraInfo | None, height: int,
                    width: int) -> geometry.Intrinsics | tuple[str, str]:
        """Intrinsics for an image of this size from its CameraInfo, or (reason, explanation)."""
        if info is None:
            return "no_camera_info", f"no CameraInfo received on {self.resolve_topic_name('camera_info')} yet"
        roi = info.roi
        key = (tuple(info.p), info.binning_x, info.binning_y, roi.x_offset, roi.y_offset, roi.width, roi.height,
               info.width, info.height, height, width)
        cached = self._intrinsics_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        value: geometry.Intrinsics | tuple[str, str]
        try:
            value = geometry.camera_intrinsics(info, height, width)
        except geometry.CameraInfoError as exc:
            value = (exc.reason, str(exc))
        self._intrinsics_cache = (key, value)
        return value

    def _warn(self, key: str, text: str, *, error: bool = False) -> None:
        """At most one message per key and warn_throttle_period (a bad stream at 30 Hz must not flood the log)."""
        now = time.monotonic()
        self._problems[key] = now
        last = self._last_warn.get(key)
        if last is not None and now - last < self._values["warn_throttle_period"]:
            return
        self._last_warn[key] = now
        (self.get_logger().error if error else self.get_logger().warning)(f"[{key}] {text}")

    # ------------------------------------------------------------------------------------------ networks
    def _load_network(self, which: str, path: str) -> None:
        """Load one network into the pipeline (old one stays on error); raises with a reason."""
        assert self.pipeline is not None
        resolved = resolve(path)
        self.pipeline.load_network(which, resolved)
        self._net_status[which] = f"loaded from {resolved}"
        self.get_logger().info(f"weights.{which}: {self._net_status[which]}")
        recommended = self.pipeline.metadata[which].get("recommended_sigma") if which == "coarse" else None
        if recommended is not None and abs(float(recommended) - self._values["sigma"]) > 1e-3 * float(recommended):
            self.get_logger().warning(
                f"weights.coarse was calibrated for sigma={float(recommended):.3f} m (its model card); sigma is "
                f"{self._values['sigma']:g} m: `ros2 param set {self.get_fully_qualified_name()} sigma "
                f"{float(recommended):.3f}` to use it")

    def _sync_pipeline(self) -> None:
        """Push router/sigma/top_k/voting into the pipeline when every network the router needs is loaded;
        otherwise record why frames cannot be processed."""
        with self._cfg_lock:
            pipe = self.pipeline
            if pipe is None:
                self._not_ready = "not configured"
                return
            router = self._values["router"]
            missing = [n for n in ROUTER_NEEDS[router] if pipe.network(n) is None]
            if missing:
                self._not_ready = f"router {router!r} needs " + "; ".join(
                    f"the {n} network (weights.{n}: {self._net_status[n]})" for n in missing)
                return
            pipe.configure(router=router, sigma=self._values["sigma"], top_k=self._values["top_k"],
                           voting=self._values["voting"])
            self._not_ready = None

    # ------------------------------------------------------------------------------------------ parameters
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate and apply live changes; a refused change leaves every value (and network) as it was."""
        changes: dict[str, Any] = {}
        for p in params:
            spec = SPEC_BY_NAME.get(p.name)
            if spec is None:
                continue  # QoS overrides, use_sim_time: rclpy's own
            value = p.value
            if isinstance(spec.default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            problem = spec.check(value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
            changes[p.name] = value
        if not changes:
            return SetParametersResult(successful=True)
        with self._cfg_lock:
            try:
                self._apply(changes)
            except (ValueError, FileNotFoundError, CheckpointError, RuntimeError) as exc:
                self.get_logger().warning(f"refused parameter change {sorted(changes)}: {exc}")
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply(self, changes: dict[str, Any]) -> None:
        """Weights, then the router check, then the device; undo the weight loads if a later step fails."""
        pipe = self.pipeline
        new = {**self._values, **changes}
        loaded: list[tuple[str, str]] = []  # (param, old path) for rollback
        try:
            for param, which in WEIGHT_PARAMS.items():
                if param not in changes:
                    continue  # the same path again reloads it: the file may have been retrained
                path = changes[param]
                if not path:
                    raise ValueError(f"{param}: an empty path cannot unload a network; give a checkpoint file")
                if pipe is None:
                    if not resolve(path).is_file():
                        raise FileNotFoundError(f"{param}: weight file not found: {resolve(path)}")
                    continue
                try:
                    self._load_network(which, path)
                except (FileNotFoundError, CheckpointError, ValueError, RuntimeError) as exc:
                    raise type(exc)(f"{param}: {exc}") from exc
                loaded.append((param, self._values[param]))
                self.get_logger().info(f"{param}: {self._net_status[which]}")
            if pipe is not None and changes.get("router", self._values["router"]) != self._values["router"]:
                missing = [n for n in ROUTER_NEEDS[new["router"]] if pipe.network(n) is None]
                if missing:
                    raise ValueError(f"router {new['router']!r} needs the {', '.join(missing)} network(s), not "
                                     f"loaded: set " + ", ".join(f"weights.{n}" for n in missing) + " first")
            if pipe is not None and ("device" in changes or "half" in changes):
                if (new["device"], new["half"]) != (self._values["device"], self._values["half"]):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pipe.set_device(new["device"], new["half"])
                    if new["half"] and pipe.device.type != "cuda":
                        self.get_logger().warning("half precision needs CUDA: running float32 on the CPU")
                    self.get_logger().info(f"device: {pipe.describe()}")
        except Exception:
            for param, old in reversed(loaded):
                try:
                    self._load_network(WEIGHT_PARAMS[param], old)
                except (FileNotFoundError, CheckpointError, ValueError, RuntimeError) as exc:
                    self._net_status[WEIGHT_PARAMS[param]] = f"not loaded: {exc}"
            raise
        self._values = new
        self._sync_pipeline()
        if "diagnostics_period" in changes:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(new["diagnostics_period"], self._publish_diagnostics)
        if "image_transport" in changes and self._image_sub is not None and self._resub_timer is None:
            self._resub_timer = self.create_timer(0.0, self._resubscribe)
        if ("device" in changes or "half" in changes) and self.pipeline is None and new["autostart"] and \
                self._state_machine.current_state[1] == "unconfigured" and self._retry_timer is None:
            # start-up failed on the device: retry configure + activate now that it changed (from a timer,
            # because transitions create publishers, which must not happen inside a parameter callback)
            self._retry_timer = self.create_timer(0.0, self._retry_autostart)

    def _retry_autostart(self) -> None:
        if self._retry_timer is not None:
            self.destroy_timer(self._retry_timer)
            self._retry_timer = None
        if self._state_machine.current_state[1] == "unconfigured" and \
                self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------------------------------ diagnostics
    def diagnostics_status(self) -> DiagnosticStatus:
        """The node's DiagnosticStatus now: state, device, routing settings, frame accounting, latency."""
        snap = self.stats.snapshot()
        with self._cfg_lock:
            values = dict(self._values)
            pipe, not_ready = self.pipeline, self._not_ready
        state = self._state_machine.current_state[1]
        device = pipe.describe() if pipe is not None else f"{values['device']} (not configured)"
        kv: dict[str, object] = {
            "state": state, "device": device, "router": values["router"], "sigma": values["sigma"],
            "top_k": values["top_k"], "voting": values["voting"], "image_topic": self._image_topic(),
            "frames_received": snap.received, "frames_published": snap.published,
            "frames_dropped": snap.dropped_total, "frames_in_flight": snap.in_flight,
        }
        kv.update({f"dropped.{k}": v for k, v in sorted(snap.dropped.items())})
        kv.update({"clouds_published": snap.clouds_published})
        kv.update({f"clouds_dropped.{k}": v for k, v in sorted(snap.clouds_dropped.items())})
        kv["rate_hz"] = snap.rate_hz
        kv.update({f"latency_ms.{k}": v for k, v in sorted(snap.latency_ms.items())})
        kv.update({f"weights.{k}": v for k, v in self._net_status.items()})
        kv["last_decision"] = self._last_decision
        now = time.monotonic()
        recent = sorted(k for k, t in self._problems.items()
                        if now - t < PROBLEM_WINDOW_S and k != "model_not_loaded")
        if state != "active":
            level, message = DiagnosticStatus.WARN, f"{state}: not processing images"
            if not_ready and not_ready != "not configured":
                level, message = DiagnosticStatus.ERROR, f"{message} ({not_ready})"
        elif not_ready:
            level, message = DiagnosticStatus.ERROR, not_ready
        elif recent:
            level = DiagnosticStatus.WARN
            message = f"in the last {PROBLEM_WINDOW_S:g} s: " + ", ".join(recent)
        else:
            level, message = DiagnosticStatus.OK, f"{snap.rate_hz:.1f} Hz on {device.split(' ')[0]}"
        name = f"{self.get_fully_qualified_name().lstrip('/')}: depth estimation"
        return messages.diagnostic_status(name, device, level, message, kv)

    def _publish_diagnostics(self) -> None:
        self._diag_pub.publish(messages.diagnostic_array(self.get_clock().now().to_msg(),
                                                         [self.diagnostics_status()]))


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run side_ros depth_node`. Ctrl-C at any moment, start-up included, exits cleanly."""
    rclpy.init(args=args)
    node: DepthNode | None = None
    try:
        try:
            node = DepthNode()
        except Exception as exc:  # bad parameter file: say why and exit non-zero, like a failed rclcpp node
            rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
            raise SystemExit(1) from exc
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()


"""The depth node's parameters applied to the pipeline, without ROS: validate a change completely, then apply it.

`validate` does everything that can refuse a change before anything is touched: types and ranges (params.py),
new weight files read into memory (not yet used), the router's networks, the device. `apply` then puts the
change to use and cannot be refused. The node calls them from its on-set and post-set parameter callbacks, the
pattern of ros2/demos' set_parameters_callback.py (on Humble, which has no post-set callback, one after the
other): a refused change leaves every value and network as it was.

Also here: configuring (building the pipeline and loading every network at lifecycle configure) and why frames
cannot be processed (`not_ready`), which diagnostics report.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from side_ros.execution import choose_path
from side_ros.networks.checkpoint import CheckpointError
from side_ros.pipeline import RobustDepthPipeline, resolve_device
from side_ros.resources import resolve
from side_ros.ros.params import SCHEDULE_PARAMS, SPEC_BY_NAME, WEIGHT_PARAMS
from side_ros.routing.options import ROUTER_NEEDS
from side_ros.routing.schedule import RoutingSchedule, ScheduleSettings

WARM_UP_SIZE = (480, 640)  # (H, W) the networks are prepared for at configure; a camera of another size pays once

# What a weight file or a device can fail with; each becomes a refused change or a network "not loaded".
LOAD_ERRORS = (FileNotFoundError, CheckpointError, ValueError, RuntimeError)


class Log(Protocol):
    """The logger methods used (an rclpy logger or a logging.Logger)."""

    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...

    def error(self, msg: str) -> Any: ...


@dataclass
class Change:
    """A validated change: the new values and the networks already read from the new weight files."""

    values: dict[str, Any]
    networks: dict[str, tuple[torch.nn.Module, dict[str, Any], str]] = field(default_factory=dict)


def schedule_settings(values: Mapping[str, Any]) -> ScheduleSettings:
    """The RoutingSchedule settings in the node's parameter values (routing.*)."""
    return ScheduleSettings(**{field_name: values[param] for param, field_name in SCHEDULE_PARAMS.items()})


def device_key(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parameters that decide where and how the networks run (a change moves them)."""
    return values["device"], values["half"], values["precision"]


def initial_values(declared: Mapping[str, Any]) -> dict[str, Any]:
    """The declared values (start-up parameters) checked and typed; ValueError names the first bad one."""
    out = {}
    for name, value in declared.items():
        try:
            out[name] = SPEC_BY_NAME[name].coerce(value)
        except ValueError as exc:
            raise ValueError(f"invalid parameter: {exc}") from exc
    return out


class NodeSettings:
    """Parameter values, the pipeline they configure, each network's status and why frames cannot be processed.

    Thread-safe: parameter callbacks, lifecycle transitions, the worker and diagnostics share it.
    """

    def __init__(self, values: Mapping[str, Any], log: Log, node_name: str = "side_depth"):
        self._lock = threading.RLock()
        self._log = log
        self._node_name = node_name
        self.values: dict[str, Any] = dict(values)
        self.pipeline: RobustDepthPipeline | None = None
        self.net_status: dict[str, str] = {n: "not loaded" for n in WEIGHT_PARAMS.values()}
        self.not_ready: str | None = "not configured"
        self.schedule = RoutingSchedule(schedule_settings(self.values))  # the camera stream's routing

    def snapshot(self) -> tuple[dict[str, Any], RobustDepthPipeline | None, str | None]:
        """(values, pipeline, not_ready) at one instant."""
        with self._lock:
            return dict(self.values), self.pipeline, self.not_ready

    # ------------------------------------------------------------------------------------------ configure
    def configure(self) -> bool:
        """Build the pipeline and load every network whose path is set. A missing or broken file leaves the node
        up, degraded (frames dropped as model_not_loaded until a valid path is set); False when the device cannot
        be used at all."""
        with self._lock:
            values = self.values
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pipe = RobustDepthPipeline(
                        None,
                        None,
                        router="low",
                        device=values["device"],
                        half=values["half"],
                        precision=values["precision"],
                    )
            except (ValueError, RuntimeError) as exc:
                hint = " (the node configures itself once it is set)" if values["autostart"] else " and configure again"
                self._log.error(f"cannot configure: {exc}; set `device` (or `precision`) to a usable one{hint}")
                self.not_ready = f"not configured: {exc}"
                return False
            pipe.warn_missing_focal = False  # the node says it itself, naming its camera_info topic
            self.pipeline = pipe
            for param, which in WEIGHT_PARAMS.items():
                path = values[param]
                if not path:
                    self.net_status[which] = "not loaded (no path set)"
                    continue
                try:
                    self._install(which, *self._read(which, path))
                except LOAD_ERRORS as exc:
                    self.net_status[which] = f"not loaded: {exc}"
                    self._log.error(
                        f"{param}: {exc}. The node stays up and drops frames (model_not_loaded) until "
                        f"`ros2 param set {self._node_name} {param} <file>` names a valid checkpoint"
                    )
            if values["half"] and pipe.device.type != "cuda":
                self._log.warning("half precision needs CUDA: running float32 on the CPU")
            self.sync()
            t0 = time.perf_counter()
            pipe.warm_up(WARM_UP_SIZE)
            self._log.info(
                f"configured: {pipe.describe()}; warmed up for {WARM_UP_SIZE[1]}x{WARM_UP_SIZE[0]} images "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            if values["router"] == "coarse_depth":
                self._log_routing(pipe)
            if self.not_ready:
                self._log.error(f"not ready: {self.not_ready}")
            return True

    def _log_routing(self, pipe: RobustDepthPipeline) -> None:
        """Say which sigma and statistic the cde router uses and where each came from."""
        origin = pipe.routing_origin()
        self._log.info(
            f"coarse_depth: high range iff the {pipe.statistic} of the coarse depth > {pipe.sigma:.3f} m "
            f"(sigma {origin['sigma']}; statistic {origin['statistic']})"
        )

    def teardown(self) -> None:
        """Free the pipeline (lifecycle cleanup)."""
        with self._lock:
            self.schedule.reset()
            self.pipeline = None
            self.net_status = {n: "not loaded" for n in WEIGHT_PARAMS.values()}
            self.not_ready = "not configured"

    def sync(self) -> None:
        """Push router / sigma / top_k / voting into the pipeline when every network the router needs is loaded;
        otherwise record why frames cannot be processed."""
        with self._lock:
            self.schedule.configure(**asdict(schedule_settings(self.values)))
            pipe = self.pipeline
            if pipe is None:
                self.not_ready = "not configured"
                return
            router = self.values["router"]
            missing = [n for n in ROUTER_NEEDS[router] if pipe.network(n) is None]
            if missing:
                self.not_ready = f"router {router!r} needs " + "; ".join(
                    f"the {n} network (weights.{n}: {self.net_status[n]})" for n in missing
                )
                return
            before = (pipe.sigma, pipe.statistic)
            pipe.configure(
                router=router,
                sigma=self.values["sigma"] or None,
                statistic=self.values["statistic"] or None,
                top_k=self.values["top_k"],
                voting=self.values["voting"],
            )
            pipe.follow_checkpoint(*[k for k in ("sigma", "statistic") if not self.values[k]])
            if router == "coarse_depth" and (pipe.sigma, pipe.statistic) != before:
                self._log_routing(pipe)
            self.not_ready = None

    # ------------------------------------------------------------------------------------------ changes
    def validate(self, params: Mapping[str, Any]) -> Change:
        """Check a change of the node's parameters (others are ignored) as a whole; raises one of LOAD_ERRORS
        with the reason. New weight files are read here, so a file that cannot be used refuses the change."""
        values = {name: SPEC_BY_NAME[name].coerce(value) for name, value in params.items() if name in SPEC_BY_NAME}
        change = Change(values)
        with self._lock:
            pipe = self.pipeline
            new = {**self.values, **values}
            for param, which in WEIGHT_PARAMS.items():
                if param not in values:
                    continue  # the same path again reloads it: the file may have been retrained
                path = values[param]
                if not path:
                    raise ValueError(f"{param}: an empty path cannot unload a network; give a checkpoint file")
                if pipe is None:  # loaded at configure
                    if not resolve(path).is_file():
                        raise FileNotFoundError(f"{param}: weight file not found: {resolve(path)}")
                    continue
                try:
                    change.networks[which] = self._read(which, path)
                except LOAD_ERRORS as exc:
                    raise type(exc)(f"{param}: {exc}") from exc
            if pipe is not None and new["router"] != self.values["router"]:
                missing = [
                    n for n in ROUTER_NEEDS[new["router"]] if pipe.network(n) is None and n not in change.networks
                ]
                if missing:
                    raise ValueError(
                        f"router {new['router']!r} needs the {', '.join(missing)} network(s), not "
                        f"loaded: set " + ", ".join(f"weights.{n}" for n in missing) + " first"
                    )
            if pipe is not None and device_key(new) != device_key(self.values):
                # a device that is not available, or a precision it cannot run, is refused
                choose_path(resolve_device(new["device"]), "float32" if new["half"] else new["precision"])
            problem = schedule_settings(new).problem()
            if problem:
                raise ValueError(problem)
        return change

    def apply(self, change: Change) -> None:
        """Put a validated change to use: device, networks, values, routing. Nothing here refuses it; a failure
        (out of memory on the new device, say) is logged and leaves that part as it was."""
        with self._lock:
            pipe = self.pipeline
            old = self.values
            self.values = {**old, **change.values}
            new = self.values
            if pipe is not None and device_key(new) != device_key(old):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pipe.set_device(new["device"], new["half"], precision=new["precision"])
                except (ValueError, RuntimeError) as exc:
                    self._log.error(f"device: could not move the networks: {exc}")
                if new["half"] and pipe.device.type != "cuda":
                    self._log.warning("half precision needs CUDA: running float32 on the CPU")
                self._log.info(f"device: {pipe.describe()}")
            for which, (model, meta, path) in change.networks.items():
                try:
                    self._install(which, model, meta, path)
                except RuntimeError as exc:
                    self.net_status[which] = f"not loaded: {exc}"
                    self._log.error(f"weights.{which}: {exc}")
            self.sync()

    # ------------------------------------------------------------------------------------------ networks
    @staticmethod
    def _read(which: str, path: str) -> tuple[torch.nn.Module, dict[str, Any], str]:
        resolved = resolve(path)
        model, meta = RobustDepthPipeline.read_network(which, resolved)
        return model, meta, str(resolved)

    def _install(self, which: str, model: torch.nn.Module, meta: dict[str, Any], path: str) -> None:
        assert self.pipeline is not None
        self.pipeline.install_network(which, model, meta, path)
        self.net_status[which] = f"loaded from {path}"
        self._log.info(f"weights.{which}: {self.net_status[which]}")
        recommended = meta.get("recommended_sigma") if which == "coarse" else None
        sigma = self.values["sigma"]
        if sigma and recommended is not None and abs(float(recommended) - sigma) > 1e-3 * float(recommended):
            self._log.warning(
                f"weights.coarse was calibrated for sigma={float(recommended):.3f} m (its model card); sigma is set "
                f"to {sigma:g} m: `ros2 param set {self._node_name} sigma 0` follows the checkpoint"
            )

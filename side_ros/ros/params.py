"""The depth node's parameters: one table with defaults, descriptions, ranges and choices, and their checks.

The table is the single source for the declarations (ParameterDescriptor with ranges / additional_constraints),
for the live validation that refuses bad values with a reason, and for config/depth.yaml's test that the file
lists every parameter with its default.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from side_ros.execution import PRECISIONS
from side_ros.routing.options import (
    DEFAULT_ROUTER,
    DEFAULT_TOP_K,
    DEFAULT_VOTING,
    PAPER_SIGMA,
    ROUTERS,
    VOTING,
    check_statistic,
)
from side_ros.routing.schedule import ScheduleSettings

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default (its type is the parameter's type), description, and its allowed values."""

    name: str
    default: Any
    description: str
    choices: tuple[str, ...] | None = None
    range: tuple[float, float] | None = None
    read_only: bool = False
    constraints: str = ""
    unit: str = ""  # of a number: `ros2 param describe` shows it after the description

    @property
    def full_description(self) -> str:
        """The description with the unit, as declared (ParameterDescriptor.description)."""
        return f"{self.description} (unit: {self.unit})" if self.unit else self.description

    def check(self, value: Any) -> str | None:
        """Why `value` cannot be used, or None."""
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            return f"{self.name} must be a {kind.__name__}, got {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}"
        if self.range is not None:
            lo, hi = self.range
            if isinstance(value, float) and not math.isfinite(value):
                return f"{self.name} must be a finite number, got {value!r}"
            if not lo <= value <= hi:
                return f"{self.name} must be in [{lo}, {hi}], got {value!r}"
        if self.name == "device" and not DEVICE_RE.match(value):
            return f"device must be auto, cpu, cuda or cuda:N; got {value!r}"
        if self.name == "sigma" and 0.0 < value < 0.01:
            return f"sigma must be 0 (the coarse checkpoint's calibrated value) or >= 0.01 m, got {value!r}"
        if self.name == "statistic" and value and check_statistic(value):
            return check_statistic(value)
        return None

    def coerce(self, value: Any) -> Any:
        """`value` as the parameter's type (an integer for a float parameter becomes a float); ValueError with the
        reason when it cannot be used."""
        if isinstance(self.default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = self.check(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def constraint_text(self) -> str:
        if self.constraints:
            return self.constraints
        if self.choices is not None:
            return "one of: " + ", ".join(self.choices)
        return ""


WEIGHT_PARAMS = {"weights.low": "low", "weights.high": "high", "weights.coarse": "coarse", "weights.places": "places"}
# The stream's RoutingSchedule, one parameter per ScheduleSettings field.
SCHEDULE_PARAMS = {f"routing.{f.name}": f.name for f in fields(ScheduleSettings)}

SPECS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "autostart",
        True,
        "Configure and activate the lifecycle node at start-up (false: wait for "
        "`ros2 lifecycle set` transitions, as a lifecycle manager does)",
        read_only=True,
    ),
    ParamSpec(
        "image_transport",
        "raw",
        "Input transport: 'raw' subscribes to sensor_msgs/Image on `image`, "
        "'compressed' to sensor_msgs/CompressedImage on `image/compressed` (image_transport's naming)",
        choices=("raw", "compressed"),
    ),
    ParamSpec(
        "router",
        DEFAULT_ROUTER,
        "Scene-understanding router choosing the depth range per image: "
        "scene_classification (Places365 top-K vote), coarse_depth (max coarse depth vs sigma), "
        "or fixed low / high",
        choices=ROUTERS,
    ),
    ParamSpec(
        "sigma",
        0.0,
        "Depth threshold between low and high range (coarse_depth router; also the "
        "expected-range threshold of the 'expected' voting). 0: the value the loaded coarse checkpoint was "
        f"calibrated for (its recommended_sigma; the paper's {PAPER_SIGMA} m if it has none)",
        range=(0.0, 1000.0),
        unit="m",
    ),
    ParamSpec(
        "statistic",
        "",
        "Statistic of the coarse depth map compared with sigma: max (the paper's), median, "
        "mean or pNN (a percentile, e.g. p95). Empty: the coarse checkpoint's recommended_statistic "
        "(max if it has none)",
        constraints="'' (checkpoint's), max, median, mean or p50..p100",
    ),
    ParamSpec(
        "top_k",
        DEFAULT_TOP_K,
        "Number of top Places365 categories that vote (scene_classification)",
        range=(1, 365),
        unit="categories",
    ),
    ParamSpec(
        "voting",
        DEFAULT_VOTING,
        "How the top-K scene categories decide: majority vote, probability-weighted vote, or expected range",
        choices=VOTING,
    ),
    ParamSpec(
        "routing.route_every",
        ScheduleSettings.route_every,
        "Run the router on every N-th frame and keep its "
        "range in between (1: every frame, the paper's per-image routing); a drift, a routing setting or new "
        "router weights re-route at once",
        range=(1, 10000),
        unit="frames",
    ),
    ParamSpec(
        "routing.drift",
        ScheduleSettings.drift,
        "Re-route at once when the frame's depth (its 90th "
        "percentile) moved by more than this factor since the range was decided: 0.5 = 1.5x nearer or "
        "farther; 0: off",
        range=(0.0, 100.0),
        unit="fraction",
    ),
    ParamSpec(
        "routing.hysteresis_sigma",
        ScheduleSettings.hysteresis_sigma,
        "coarse_depth (and 'expected' "
        "voting): leave low only above sigma * (1 + h), leave high only at or below sigma * (1 - h); 0: switch "
        "at sigma",
        range=(0.0, 0.49),
        unit="fraction of sigma",
    ),
    ParamSpec(
        "routing.hysteresis_votes",
        ScheduleSettings.hysteresis_votes,
        "scene_classification majority / "
        "weighted voting: switch only when the vote clears its threshold (top_k / 2 votes, 0.5 share) by "
        "this fraction of the vote",
        range=(0.0, 0.49),
        unit="fraction of the vote",
    ),
    ParamSpec(
        "routing.min_dwell",
        ScheduleSettings.min_dwell,
        "Frames a range is kept after a switch before the next switch (0: none)",
        range=(0, 100000),
        unit="frames",
    ),
    ParamSpec(
        "weights.low",
        "models/low.pt",
        "Low-range DS-SIDENet checkpoint (relative paths: package share "
        "directory); setting it reloads that network live",
    ),
    ParamSpec(
        "weights.high",
        "models/high.pt",
        "High-range DS-SIDENet checkpoint (relative paths: package share "
        "directory); setting it reloads that network live",
    ),
    ParamSpec(
        "weights.coarse",
        "models/coarse.pt",
        "Coarse depth network checkpoint for the coarse_depth router; empty: not loaded",
    ),
    ParamSpec(
        "weights.places",
        "",
        "Official wideresnet18_places365.pth.tar for the scene_classification router "
        "(get it with side-download-places365); empty: not loaded",
    ),
    ParamSpec(
        "device",
        "auto",
        "Inference device: auto (CUDA when available, else CPU), cpu, cuda or cuda:N; "
        "a device that is not available is refused",
        constraints="auto, cpu, cuda or cuda:N",
    ),
    ParamSpec(
        "precision",
        "auto",
        "Inference precision: auto picks the fastest accurate path for the device "
        "(bfloat16 depth networks on CPUs with native bf16, float16 on CUDA; the router stays float32), or "
        "float32, bfloat16, float16 (CUDA only) for every network; the path in use is in diagnostics "
        "(device)",
        choices=PRECISIONS,
    ),
    ParamSpec(
        "half", False, "float16 inference: the same as precision float16 (CUDA only; ignored with a warning on the CPU)"
    ),
    ParamSpec("points.enabled", True, "Publish the point cloud on `points` (needs camera_info)"),
    ParamSpec(
        "points.color", True, "XYZRGB cloud with the image's colours (point_step 32) instead of XYZ (point_step 16)"
    ),
    ParamSpec(
        "points.stride",
        1,
        "Keep every N-th row and column in the organized cloud (1: every pixel)",
        range=(1, 16),
        unit="pixels",
    ),
    ParamSpec("points.min_depth", 0.0, "Points with depth Z below this become NaN", range=(0.0, 1000.0), unit="m"),
    ParamSpec(
        "points.max_depth", 0.0, "Points with depth Z above this become NaN; 0: no limit", range=(0.0, 1000.0), unit="m"
    ),
    ParamSpec(
        "points.min_confidence",
        0.0,
        "Points whose confidence (depth/confidence: probability mass within one "
        "depth bin of the estimate) is below this become NaN, so the cloud stays organized; 0: keep all",
        range=(0.0, 1.0),
        unit="fraction, 0 to 1",
    ),
    ParamSpec("colormap.enabled", True, "Publish a colour-mapped depth image (bgr8, turbo) on `depth/colormap`"),
    ParamSpec(
        "colormap.min_depth",
        0.0,
        "Depth mapped to the first colour; 0: the frame's minimum",
        range=(0.0, 1000.0),
        unit="m",
    ),
    ParamSpec(
        "colormap.max_depth",
        0.0,
        "Depth mapped to the last colour; 0: the frame's maximum",
        range=(0.0, 1000.0),
        unit="m",
    ),
    ParamSpec(
        "max_image_pixels",
        8_294_400,
        "Largest image processed (default: 4K UHD, 3840x2160); larger frames "
        "are dropped as image_too_large before they are decoded, so memory stays bounded. 0: no limit",
        range=(0, 1_000_000_000),
        unit="pixels",
    ),
    ParamSpec(
        "max_aspect_ratio",
        16.0,
        "Frames whose long side is more than this many times the short side are "
        "dropped as image_too_large (a 10000x1 image would make a 96x960000 network canvas). 0: no limit",
        range=(0.0, 100000.0),
        unit="long side / short side",
    ),
    ParamSpec(
        "watchdog_timeout",
        30.0,
        "Time one frame may take; beyond it diagnostics say ERROR and the node "
        "exits with status 1 so that `respawn` restarts it (a worker thread that dies is restarted at once). "
        "0: no limit",
        range=(0.0, 3600.0),
        unit="s",
    ),
    ParamSpec("diagnostics_period", 1.0, "Time between /diagnostics messages", range=(0.05, 60.0), unit="s"),
    ParamSpec(
        "warn_throttle_period",
        5.0,
        "At most one warning per reason (bad input, missing camera_info, ...) in this time",
        range=(0.0, 3600.0),
        unit="s",
    ),
)

SPEC_BY_NAME = {s.name: s for s in SPECS}
DEFAULTS = {s.name: s.default for s in SPECS}

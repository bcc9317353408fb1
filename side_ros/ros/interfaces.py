"""The depth node's ROS interface definitions: QoS profiles, parameter descriptors, and integers taken for float
parameters (what `ros2 param set` and params files send for `sigma: 6`)."""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from side_ros.ros.params import SPEC_BY_NAME, SPECS, ParamSpec


# Fresh profiles per entity: rclpy's QoS overriding writes the overridden values into the profile it is given, so
# a shared module-level profile would carry one topic's overrides into every later publisher or subscription.
def sensor_qos() -> QoSProfile:
    """REP 2003 sensor-data QoS (rclpy's qos_profile_sensor_data): best effort, keep last 5, volatile."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=5,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def publisher_qos(depth: int = 5) -> QoSProfile:
    """Reliable, keep last 5. A reliable publisher matches both reliable and best-effort subscribers, and large
    depth images and clouds between processes arrive only when delivered reliably (README, troubleshooting);
    image_pipeline itself is mixed (depth_image_proc's `points` publisher uses SensorDataQoS). Keep last 5 bounds
    memory when a subscriber is slow."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor `ros2 param describe` shows: description, constraints, range, read-only."""
    d = ParameterDescriptor(
        description=spec.full_description, read_only=spec.read_only, additional_constraints=spec.constraint_text
    )
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return d


def floats_from_integers(overrides: Any) -> None:
    """Start-up values given as integers for float parameters (`-p sigma:=6`, `sigma: 6` in a params file)
    become floats before the declarations, which would refuse them. `overrides` is the node's
    `_parameter_overrides`, where rclpy keeps the start-up values with no public way to change them; anything else
    (another rclpy) is left alone."""
    if not isinstance(overrides, dict):
        return
    for spec in SPECS:
        p = overrides.get(spec.name)
        if isinstance(spec.default, float) and p is not None and p.type_ == Parameter.Type.INTEGER:
            overrides[spec.name] = Parameter(spec.name, value=float(p.value))


def integers_as_floats(params: list[Parameter]) -> list[Parameter]:
    """Pre-set callback: `ros2 param set /side/side_depth sigma 5` sends an integer; for a float parameter it
    is the float 5.0 (rclpy would refuse the type before any validation)."""
    return [
        Parameter(p.name, value=float(p.value))
        if p.type_ == Parameter.Type.INTEGER and isinstance(getattr(SPEC_BY_NAME.get(p.name), "default", None), float)
        else p
        for p in params
    ]

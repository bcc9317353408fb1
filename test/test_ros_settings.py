"""The node's parameters applied to the pipeline, without ROS (side_ros/ros/settings.py): a change is validated
as a whole (weight files read, router needs, device) before anything changes, then applied."""

import logging

import pytest
import torch

from side_ros.ros.params import DEFAULTS, SPECS
from side_ros.ros.settings import LOAD_ERRORS, NodeSettings, initial_values
from side_ros.routing.options import NETWORKS
from side_ros.testing import tiny_checkpoints


def configured(weights, **values):
    paths = {f"weights.{k}": str(p) for k, p in weights.items()}
    s = NodeSettings(initial_values({**DEFAULTS, "device": "cpu", **paths, **values}), logging.getLogger("test"))
    assert s.configure()
    return s


def state(s):
    return dict(s.values), {n: s.pipeline.network(n) for n in NETWORKS}, dict(s.pipeline.settings()), s.not_ready


def test_initial_values_are_checked_and_typed():
    values = initial_values({**DEFAULTS, "sigma": 3})
    assert values["sigma"] == 3.0 and isinstance(values["sigma"], float)
    with pytest.raises(ValueError, match="invalid parameter: top_k"):
        initial_values({**DEFAULTS, "top_k": 0})


def test_every_number_parameter_has_a_unit():
    """`ros2 param describe` shows the unit at the end of the description (ParamSpec.full_description)."""
    for spec in SPECS:
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert spec.unit, spec.name
            assert spec.full_description == f"{spec.description} (unit: {spec.unit})"
        else:
            assert spec.full_description == spec.description


def test_configure_loads_each_network_and_a_missing_file_leaves_it_degraded(weights, tmp_path):
    s = configured(weights)
    assert s.not_ready is None and s.pipeline.router == "coarse_depth"
    assert all(s.net_status[n].startswith("loaded from") for n in ("low", "high", "coarse"))
    assert s.net_status["places"] == "not loaded (no path set)"
    degraded = configured(weights, **{"weights.coarse": str(tmp_path / "missing.pt")})
    assert degraded.pipeline.network("coarse") is None and "weights.coarse: not loaded" in degraded.not_ready


def test_validate_reads_new_weights_and_changes_nothing_until_apply(weights, tmp_path):
    s = configured(weights)
    before = state(s)
    other = tiny_checkpoints(tmp_path, seed=7)["low"]
    change = s.validate({"weights.low": str(other), "sigma": 2.5, "qos_overrides./x.subscription.depth": 3})
    assert set(change.values) == {"weights.low", "sigma"} and set(change.networks) == {"low"}
    assert state(s)[0] == before[0] and state(s)[1] == before[1] and state(s)[2] == before[2]
    s.apply(change)
    assert s.pipeline.network("low") is not before[1]["low"] and s.net_status["low"] == f"loaded from {other}"
    assert s.values["sigma"] == 2.5 and s.pipeline.sigma == 2.5


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"sigma": -1.0}, "sigma must be in"),
        ({"router": "nearest_wall"}, "must be one of"),
        ({"weights.low": ""}, "empty path"),
        ({"weights.high": "/nonexistent/high.pt"}, "weights.high: .*not found"),
        ({"router": "scene_classification"}, "needs the places network"),
        ({"weights.coarse": "BROKEN", "sigma": 2.0}, "weights.coarse"),  # the valid sigma is refused with it
    ],
)
def test_a_refused_change_leaves_every_value_and_network(weights, tmp_path, change, reason):
    s = configured(weights)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    change = {k: str(broken) if v == "BROKEN" else v for k, v in change.items()}
    before = state(s)
    with pytest.raises(LOAD_ERRORS, match=reason):
        s.validate(change)
    assert state(s) == before


def test_a_router_and_the_network_it_needs_in_one_change(weights):
    s = configured(weights, router="low", **{"weights.coarse": ""})
    with pytest.raises(ValueError, match="needs the coarse network"):
        s.validate({"router": "coarse_depth"})
    s.apply(s.validate({"router": "coarse_depth", "weights.coarse": str(weights["coarse"])}))
    assert s.not_ready is None and s.pipeline.router == "coarse_depth" and s.pipeline.network("coarse") is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_unavailable_device_is_refused(weights):
    s = configured(weights)
    with pytest.raises(ValueError, match="CUDA is not available"):
        s.validate({"device": "cuda"})
    assert s.pipeline.device.type == "cpu" and s.values["device"] == "cpu"


def test_unconfigured_weights_are_only_checked_for_existence(weights):
    s = NodeSettings(initial_values({**DEFAULTS, "device": "cpu"}), logging.getLogger("test"))
    with pytest.raises(FileNotFoundError, match="weights.low"):
        s.validate({"weights.low": "/nonexistent/low.pt"})
    change = s.validate({"weights.low": str(weights["low"])})
    assert change.networks == {}
    s.apply(change)
    assert s.values["weights.low"] == str(weights["low"]) and s.not_ready == "not configured"

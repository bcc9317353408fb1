"""The routing facts every front end shares: routers, voting rules, defaults, and which networks a router needs.

One ROS-free, torch-free module, so the node's parameter table (side_ros/ros/params.py), the commands' options
(side_ros/cli/common.py, which must answer `--help` without importing torch), the pipeline and the evaluation
all read the same values instead of copies kept in sync.
"""

from __future__ import annotations

import argparse
import math

ROUTERS = ("scene_classification", "coarse_depth", "low", "high")
VOTING = ("majority", "weighted", "expected")
NETWORKS = ("low", "high", "coarse", "places")

DEFAULT_ROUTER = "coarse_depth"
DEFAULT_VOTING = "majority"
PAPER_SIGMA = 5.89  # metres: the cde threshold of the paper's section 3, calibrated for its ROB-trained coarse net
DEFAULT_SIGMA = PAPER_SIGMA
DEFAULT_TOP_K = 15
DEFAULT_STATISTIC = "max"  # the paper's: the single largest coarse depth; see check_statistic for the others

# The network each router decides with (fixed routing needs none).
ROUTING_NETWORK: dict[str, str | None] = {
    "scene_classification": "places",
    "coarse_depth": "coarse",
    "low": None,
    "high": None,
}
# Every network a router needs before a frame can be processed: its routing network, then the depth networks.
ROUTER_NEEDS: dict[str, tuple[str, ...]] = {
    "coarse_depth": ("coarse", "low", "high"),
    "scene_classification": ("places", "low", "high"),
    "low": ("low",),
    "high": ("high",),
}


def check_statistic(statistic: str) -> str | None:
    """The reason `statistic` is not a coarse-map statistic, or None.

    "max" is the paper's (the single largest pixel); "median", "mean" and "pNN" (a percentile, 50 <= NN <= 100,
    e.g. "p95") are robust alternatives: one noisy far pixel cannot flip the decision.
    """
    if statistic in ("max", "median", "mean"):
        return None
    if isinstance(statistic, str) and statistic.startswith("p"):
        try:
            q = float(statistic[1:])
        except ValueError:
            q = math.nan
        if 50.0 <= q <= 100.0:
            return None
    return f"statistic must be 'max', 'median', 'mean' or a percentile 'p50'..'p100' (e.g. 'p95'), got {statistic!r}"


def add_routing_arguments(group: argparse._ActionsContainer) -> None:
    """--sigma, --statistic, --top-k and --voting, as every command takes them (None: the coarse checkpoint's
    calibrated value, else the default here)."""
    group.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="range threshold in metres (coarse_depth; default: the coarse checkpoint's calibrated "
        f"recommended_sigma, else the paper's {DEFAULT_SIGMA})",
    )
    group.add_argument(
        "--statistic",
        default=None,
        help="coarse-map statistic compared with sigma: max (the paper's), median, mean or pNN "
        f"(default: the coarse checkpoint's recommended_statistic, else {DEFAULT_STATISTIC})",
    )
    group.add_argument(
        "--top-k", type=int, default=DEFAULT_TOP_K, help="voting scene categories (scene_classification)"
    )
    group.add_argument("--voting", choices=VOTING, default=DEFAULT_VOTING, help="how the top-K categories decide")

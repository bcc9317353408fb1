"""Scene understanding (section 3): decide per image whether the low- or the high-range DS-SIDENet predicts it."""

from side_ros.routing.decision import RANGES, RangeDecision
from side_ros.routing.routers import ROUTERS
from side_ros.routing.scenes import VOTING, SceneTable, vote

__all__ = ["RANGES", "ROUTERS", "VOTING", "RangeDecision", "SceneTable", "vote"]

"""Scene understanding (section 3): decide per image whether the low- or the high-range DS-SIDENet predicts it.

Importing the package stays light (no torch): `options` (routers, voting rules, defaults, which networks a router
needs) and `decision` are all that the commands' argument parsing needs; `routers` and `scenes` hold the torch
code and are imported by name.
"""

from side_ros.routing.decision import RANGES, RangeDecision
from side_ros.routing.options import ROUTERS, VOTING

__all__ = ["RANGES", "ROUTERS", "VOTING", "RangeDecision"]

"""The routing decision: which depth range an image goes to, by which router, and the evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

RANGES = ("low", "high")


@dataclass(frozen=True)
class RangeDecision:
    """range: 'low' | 'high'; router: the router that decided; score: the value it compared with its threshold
    (low votes, low probability share, expected or maximum coarse depth in metres; NaN for fixed routing)."""

    range: str
    router: str
    score: float
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.range not in RANGES:
            raise ValueError(f"range must be one of {RANGES}, got {self.range!r}")

    def to_dict(self) -> dict[str, Any]:
        """range, router, score (None for NaN, which JSON lacks) and the details, for messages and logs."""
        score = None if self.score != self.score else self.score
        return {"range": self.range, "router": self.router, "score": score, **self.details}

    def to_json(self) -> str:
        """Compact JSON for messages, bags and logs."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

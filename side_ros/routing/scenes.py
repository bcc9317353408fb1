"""Places365 categories with their depth-range labels, and the voting rules of the paper's section 3.

Default labels come from the official `IO_places365.txt` (1 = indoor, 2 = outdoor): indoor scenes are low
depth-range, outdoor scenes high depth-range. Each category also carries a typical depth (metres) for the
'expected range' rule; defaults are one value per label, and a CSV can override any category.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from side_ros.routing.decision import RangeDecision
from side_ros.routing.options import DEFAULT_SIGMA, DEFAULT_TOP_K, DEFAULT_VOTING, VOTING

LOW_TYPICAL_DEPTH_M = 3.5
HIGH_TYPICAL_DEPTH_M = 20.0


@dataclass(frozen=True)
class SceneTable:
    """One row per Places365 class index: name, high-range flag and typical depth."""

    names: tuple[str, ...]
    is_high: torch.Tensor  # (C,) bool
    typical_depth: torch.Tensor  # (C,) float32 metres

    def __post_init__(self) -> None:
        c = len(self.names)
        if self.is_high.shape != (c,) or self.typical_depth.shape != (c,):
            raise ValueError("scene table columns differ in length")
        if not bool((self.typical_depth > 0).all()):
            raise ValueError("scene table typical depths must be positive")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @classmethod
    def default(cls) -> SceneTable:
        """The 365 official categories, labelled by the official indoor/outdoor file."""
        data = resources.files("side_ros") / "data"
        names = _read_indexed((data / "categories_places365.txt").read_text(), "categories_places365.txt")
        io_labels = _read_io((data / "IO_places365.txt").read_text())
        missing = [n for n in names if n not in io_labels]
        if missing:
            raise ValueError(f"IO_places365.txt lacks {len(missing)} categories, e.g. {missing[:3]}")
        high = torch.tensor([io_labels[n] == 2 for n in names])
        depth = torch.where(high, torch.tensor(HIGH_TYPICAL_DEPTH_M), torch.tensor(LOW_TYPICAL_DEPTH_M))
        return cls(tuple(n[3:] for n in names), high, depth.float())

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> SceneTable:
        """A custom table: CSV with header `index,category,range,typical_depth_m` (range 'low' or 'high')."""
        rows = list(csv.DictReader(Path(path).read_text().splitlines()))
        need = {"index", "category", "range", "typical_depth_m"}
        if not rows or not need <= set(rows[0]):
            raise ValueError(f"{path}: scene table CSV needs the columns {sorted(need)}")
        rows.sort(key=lambda r: int(r["index"]))
        if [int(r["index"]) for r in rows] != list(range(len(rows))):
            raise ValueError(f"{path}: indices must be 0..{len(rows) - 1} without gaps")
        bad = [r["category"] for r in rows if r["range"] not in ("low", "high")]
        if bad:
            raise ValueError(f"{path}: range must be 'low' or 'high' (rows {bad[:3]})")
        return cls(
            tuple(r["category"] for r in rows),
            torch.tensor([r["range"] == "high" for r in rows]),
            torch.tensor([float(r["typical_depth_m"]) for r in rows], dtype=torch.float32),
        )

    def to_csv(self, path: str | os.PathLike) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "category", "range", "typical_depth_m"])
            for i, name in enumerate(self.names):
                w.writerow([i, name, "high" if self.is_high[i] else "low", f"{float(self.typical_depth[i]):g}"])


def _read_indexed(text: str, source: str) -> list[str]:
    pairs = [line.split() for line in text.splitlines() if line.strip()]
    names = [p[0] for p in sorted(pairs, key=lambda p: int(p[1]))]
    if [int(p[1]) for p in sorted(pairs, key=lambda p: int(p[1]))] != list(range(len(names))):
        raise ValueError(f"{source}: class indices are not 0..N-1")
    return names


def _read_io(text: str) -> dict[str, int]:
    return {p[0]: int(p[1]) for p in (line.split() for line in text.splitlines() if line.strip())}


def vote(
    probs: torch.Tensor,
    table: SceneTable,
    *,
    method: str = DEFAULT_VOTING,
    top_k: int = DEFAULT_TOP_K,
    sigma: float = DEFAULT_SIGMA,
) -> list[RangeDecision]:
    """Depth range of each image from its scene probabilities (N, C), by one of the section-3 rules.

    majority: low iff more than K/2 of the top-K categories are low-range (the paper's rule; a tie is not
        'more than K/2', so it goes high). score = number of low votes.
    weighted: each top-K category votes with its probability; low iff the low share of the top-K mass is
        above 0.5 (ties high). score = low share.
    expected: expected depth of the top-K categories, geometric (probability-weighted mean of log depth,
        the scale Eq. 1 bins depth in); high iff above sigma. score = expected depth in metres.
    """
    if method not in VOTING:
        raise ValueError(f"voting must be one of {VOTING}, got {method!r}")
    if probs.dim() != 2 or probs.shape[1] != table.num_classes:
        raise ValueError(f"scene probabilities must be (N, {table.num_classes}), got {tuple(probs.shape)}")
    if not 1 <= top_k <= table.num_classes:
        raise ValueError(f"top_k must be in 1..{table.num_classes}, got {top_k}")
    probs = probs.detach().float().cpu()
    top_p, top_i = probs.topk(top_k, dim=1)
    high = table.is_high[top_i]
    decisions = []
    for n in range(probs.shape[0]):
        low_votes = int((~high[n]).sum())
        details = {
            "method": method,
            "top_k": top_k,
            "low_votes": low_votes,
            "high_votes": top_k - low_votes,
            "top_categories": [table.names[int(i)] for i in top_i[n, :5]],
        }
        if method == "majority":
            is_low, score = low_votes > top_k / 2, float(low_votes)
            details["threshold"] = top_k / 2
        elif method == "weighted":
            mass = float(top_p[n].sum())
            score = float(top_p[n][~high[n]].sum()) / mass if mass > 0 else 0.0
            is_low = score > 0.5
            details["threshold"] = 0.5
        else:
            w = top_p[n] / top_p[n].sum().clamp_min(1e-12)
            score = math.exp(float((w * table.typical_depth[top_i[n]].log()).sum()))
            is_low = not score > sigma
            details["threshold"] = sigma
        decisions.append(RangeDecision("low" if is_low else "high", "scene_classification", score, details))
    return decisions

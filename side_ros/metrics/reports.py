"""Routing accuracy of the two-stage system and result tables in the paper's columns and units."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from side_ros.metrics.definitions import METRIC_INFO, METRIC_KEYS, PAPER_TABLES
from side_ros.metrics.depth import to_leaderboard_units

# ---------------------------------------------------------------------------------------------------------
# Routing accuracy of the two-stage system


@dataclass(frozen=True)
class RoutingReport:
    """Routing accuracy and confusion counts; confusion[i, j] = images of true range labels[i] routed to j."""

    labels: tuple[Hashable, ...]
    confusion: np.ndarray
    accuracy: float
    per_range_accuracy: dict[Hashable, float]
    num_images: int

    def to_markdown(self) -> str:
        """Confusion table (rows: true range, columns: chosen range) with the overall accuracy."""
        head = "| true \\ chosen | " + " | ".join(str(x) for x in self.labels) + " | accuracy |"
        sep = "|" + "---|" * (len(self.labels) + 2)
        lines = [head, sep]
        for i, lab in enumerate(self.labels):
            acc = self.per_range_accuracy[lab]
            acc_text = "n/a" if np.isnan(acc) else f"{acc:.3f}"
            lines.append(f"| {lab} | " + " | ".join(str(int(c)) for c in self.confusion[i]) + f" | {acc_text} |")
        lines.append("| all | " + " | " * (len(self.labels) - 1) + f" | {self.accuracy:.3f} |")
        return "\n".join(lines)


def routing_accuracy(
    chosen: Iterable[Hashable], true: Iterable[Hashable], labels: Sequence[Hashable] | None = None
) -> RoutingReport:
    """Fraction of images whose chosen range equals the true range, plus the per-range confusion counts.

    Ranges may be any labels ('low'/'high', or the datasets' 0/1); `labels` fixes the table order (default:
    sorted union of the labels seen).
    """

    def _list(x: Iterable[Hashable]) -> list[Hashable]:
        if hasattr(x, "tolist"):
            x = x.tolist()
        return list(x)

    c, t = _list(chosen), _list(true)
    if len(c) != len(t):
        raise ValueError(f"{len(c)} chosen ranges for {len(t)} true ranges")
    if not t:
        raise ValueError("routing accuracy of zero images is undefined")
    if labels is None:
        seen = set(c) | set(t)
        try:
            labels = sorted(seen)
        except TypeError:
            labels = sorted(seen, key=str)
    labels = tuple(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = {x for x in c + t if x not in index}
    if unknown:
        raise ValueError(f"ranges {sorted(map(str, unknown))} are not among the labels {labels}")
    ti = np.array([index[x] for x in t])
    ci = np.array([index[x] for x in c])
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (ti, ci), 1)
    rows = confusion.sum(axis=1)
    per_range = {lab: (float(confusion[i, i] / rows[i]) if rows[i] else float("nan")) for i, lab in enumerate(labels)}
    return RoutingReport(labels, confusion, float(np.trace(confusion) / len(t)), per_range, len(t))


# ---------------------------------------------------------------------------------------------------------
# Tables


def column_header(key: str, units: str = "plain") -> str:
    """Column title with its unit, e.g. 'RMSE (m)', 'REL (%)', 'iRMSE (1/km)'."""
    if units not in ("plain", "leaderboard"):
        raise ValueError(f"units must be 'plain' or 'leaderboard', got {units!r}")
    info = METRIC_INFO.get(key)
    if info is None:
        return key
    unit = info.leaderboard_unit if units == "leaderboard" and info.leaderboard_unit else info.unit
    if key == "sq_rel_eigen":
        unit = "m, /gt"
    elif key == "sq_rel_kitti":
        unit = f"{unit}, /gt²" if unit else "/gt²"
    arrow = "↑" if info.higher_is_better else "↓"
    return f"{info.label} ({unit}) {arrow}" if unit else f"{info.label} {arrow}"


def format_table(
    rows: Mapping[str, Mapping[str, float]],
    columns: Sequence[str] | str | None = None,
    units: str | None = None,
    digits: int = 3,
    title: str = "method",
) -> str:
    """Markdown table of {row_name: metrics_dict (plain units)}.

    `columns` is a list of metric keys or a paper table name from PAPER_TABLES ('nyu', 'scannet', 'kitti'),
    which also picks the units; `units` 'plain' or 'leaderboard' (converted here with to_leaderboard_units).
    Missing values print as '-'.
    """
    if isinstance(columns, str):
        if columns not in PAPER_TABLES:
            raise ValueError(f"unknown table {columns!r}; choose one of {sorted(PAPER_TABLES)} or pass metric keys")
        columns, table_units = PAPER_TABLES[columns]
        units = units or table_units
    units = units or "plain"
    if units not in ("plain", "leaderboard"):
        raise ValueError(f"units must be 'plain' or 'leaderboard', got {units!r}")
    if columns is None:
        seen: dict[str, None] = {}
        for m in rows.values():
            seen.update(dict.fromkeys(k for k in m if k in METRIC_INFO))
        columns = [k for k in METRIC_KEYS if k in seen]
    columns = list(columns)
    lines = [
        "| " + " | ".join([title] + [column_header(c, units) for c in columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for name, metrics in rows.items():
        vals = to_leaderboard_units(metrics) if units == "leaderboard" else dict(metrics)
        cells = []
        for c in columns:
            v = vals.get(c)
            cells.append("-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}")
        lines.append("| " + " | ".join([str(name)] + cells) + " |")
    return "\n".join(lines)

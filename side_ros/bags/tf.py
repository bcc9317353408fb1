"""A small tf2 buffer for recorded transforms (/tf_static and /tf), without ROS.

Why not tf2_ros: it is not installable from PyPI, and the offline LiDAR evaluation needs only chained lookups of
rigid transforms. Semantics follow tf2: a TransformStamped(header.frame_id = parent, child_frame_id = child)
is the pose of the child in the parent, p_parent = T @ p_child; frame names are compared without a leading '/'.
Dynamic edges (/tf) are looked up at the sample nearest in time (no interpolation: camera-LiDAR chains on a rig
are static, and a moving-base edge is outside the chain between two sensors of the same vehicle).
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from side_ros.bags.messages import quaternion_matrix, stamp_ns


class TransformError(LookupError):
    """No transform between two frames (unknown frame, or frames in unconnected trees)."""


def _name(frame: str) -> str:
    return str(frame).lstrip("/")


def matrix_from_transform(transform: Any) -> np.ndarray:
    """geometry_msgs/Transform -> 4x4 homogeneous matrix."""
    t, q = transform.translation, transform.rotation
    m = np.eye(4)
    m[:3, :3] = quaternion_matrix(q.x, q.y, q.z, q.w)
    m[:3, 3] = (t.x, t.y, t.z)
    return m


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (R^T, -R^T t)."""
    out = np.eye(4)
    r = m[:3, :3].T
    out[:3, :3] = r
    out[:3, 3] = -r @ m[:3, 3]
    return out


class TransformTree:
    """Edges child -> (parent, transform); static edges hold one transform, dynamic ones a time series."""

    def __init__(self) -> None:
        self._static: dict[str, tuple[str, np.ndarray]] = {}
        self._dynamic: dict[str, tuple[str, list[int], list[np.ndarray]]] = {}

    def add(self, parent: str, child: str, matrix: np.ndarray, stamp: int = 0, *, static: bool = True) -> None:
        parent, child = _name(parent), _name(child)
        if parent == child:
            raise ValueError(f"a transform from frame {child!r} to itself")
        if static:
            self._static[child] = (parent, np.asarray(matrix, dtype=np.float64))
            return
        entry = self._dynamic.get(child)
        if entry is None or entry[0] != parent:
            entry = (parent, [], [])
            self._dynamic[child] = entry
        i = bisect.bisect_right(entry[1], stamp)
        entry[1].insert(i, int(stamp))
        entry[2].insert(i, np.asarray(matrix, dtype=np.float64))

    def add_message(self, tf_message: Any, *, static: bool) -> None:
        """Every TransformStamped of a tf2_msgs/TFMessage."""
        for t in tf_message.transforms:
            self.add(
                t.header.frame_id,
                t.child_frame_id,
                matrix_from_transform(t.transform),
                stamp_ns(t.header.stamp),
                static=static,
            )

    @property
    def frames(self) -> set[str]:
        out: set[str] = set()
        for child, (parent, *_rest) in list(self._static.items()) + list(self._dynamic.items()):
            out.update((child, parent))
        return out

    def _edge(self, child: str, stamp: int | None) -> tuple[str, np.ndarray] | None:
        if child in self._static:
            return self._static[child]
        entry = self._dynamic.get(child)
        if entry is None:
            return None
        parent, stamps, mats = entry
        if stamp is None:
            return parent, mats[-1]
        i = bisect.bisect_left(stamps, stamp)
        cands = [j for j in (i - 1, i) if 0 <= j < len(stamps)]
        j = min(cands, key=lambda k: abs(stamps[k] - stamp))
        return parent, mats[j]

    def _to_root(self, frame: str, stamp: int | None) -> list[tuple[str, np.ndarray]]:
        """[(frame, T_frame<-frame), (parent, T_parent<-frame), ...] up to the root."""
        chain = [(frame, np.eye(4))]
        seen = {frame}
        while True:
            edge = self._edge(chain[-1][0], stamp)
            if edge is None:
                return chain
            parent, m = edge
            if parent in seen:
                raise TransformError(f"the transform tree has a loop through frame {parent!r}")
            seen.add(parent)
            chain.append((parent, m @ chain[-1][1]))

    def lookup(self, target: str, source: str, stamp: int | None = None) -> np.ndarray:
        """T_target<-source (4x4): maps points in `source` coordinates to `target` coordinates at `stamp`."""
        target, source = _name(target), _name(source)
        if target == source:
            return np.eye(4)
        known = self.frames
        for f in (target, source):
            if f not in known:
                raise TransformError(
                    f"frame {f!r} is not in the recorded transforms (frames: "
                    f"{', '.join(sorted(known)) or 'none'}; are /tf_static and /tf recorded?)"
                )
        up_source = self._to_root(source, stamp)
        up_target = {f: m for f, m in self._to_root(target, stamp)}
        for frame, t_anc_source in up_source:
            if frame in up_target:
                return invert(up_target[frame]) @ t_anc_source
        raise TransformError(f"frames {source!r} and {target!r} are not connected by the recorded transforms")

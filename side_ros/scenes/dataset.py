"""Rendered scenes as samples: `render_scene` (one seed, one kind, one size) and the training `ProceduralDataset`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from side_ros.scenes.description import check_kind, check_seed, check_size, focal_scale_of, torch_device, zoomed
from side_ros.scenes.indoor import build_indoor_scene
from side_ros.scenes.lidar import lidar_mask
from side_ros.scenes.outdoor import build_outdoor_scene
from side_ros.scenes.shading import render

RANGE_LABELS = {"indoor": "low", "outdoor": "high"}
RANGE_INDEX = {"low": 0, "high": 1}
# Default sizes: the low-range network's 320x240 input, the high-range network's zero-padded KITTI input.
DEFAULT_SIZES = {"indoor": (320, 240), "outdoor": (1248, 384)}


@dataclass
class ProceduralSample:
    """One rendered scene, as numpy arrays."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, 0 = invalid (sky / beyond max / not hit by LiDAR)
    intrinsics: np.ndarray  # (3, 3) float64 K matrix
    range_label: str  # "low" (indoor) or "high" (outdoor)
    kind: str  # "indoor" | "outdoor"
    seed: int


def render_scene(
    seed: int,
    kind: str,
    width: int,
    height: int,
    *,
    device: str | torch.device = "cpu",
    sparse_lidar: bool = False,
    focal_scale: float = 1.0,
) -> ProceduralSample:
    """Render the procedural scene of `seed` and `kind` at width x height.

    Deterministic: the same arguments give bit-identical RGB and depth on the CPU.  `sparse_lidar` keeps depth
    only where the simulated 64-beam LiDAR samples (KITTI-like ground truth).  `focal_scale` zooms the camera
    (both focal lengths times it) without changing the scene.
    """
    check_kind(kind)
    check_seed(seed)
    check_size(width, height)
    dev = torch_device(device)
    build = build_indoor_scene if kind == "indoor" else build_outdoor_scene
    scene, cam = build(int(seed), int(width), int(height), float(focal_scale))
    out = render(scene, cam, dev)
    depth = out.depth
    if sparse_lidar:
        depth = torch.where(lidar_mask(depth, cam), depth, 0.0)
    return ProceduralSample(
        rgb=out.rgb.cpu().numpy(),
        depth=depth.float().cpu().numpy(),
        intrinsics=cam.K.copy(),
        range_label=RANGE_LABELS[kind],
        kind=kind,
        seed=int(seed),
    )


class ProceduralDataset(Dataset):
    """Procedural scenes as training samples (the package's shared sample dict), rendered on each read.

    Sample i uses seed seeds[i] and kind kinds[i % len(kinds)]; size is (width, height) or None for the
    kind's default (indoor 320x240, outdoor 1248x384).  Tensors are returned on the CPU whatever the render
    device, so a DataLoader can collate them; render on "cuda" only with num_workers=0 (CUDA cannot be used
    in forked DataLoader workers).  `focal_range` (low, high) zooms each scene's camera by a log-uniform factor
    fixed per seed (canonical-focal training sees many fields of view); `focal_scale` zooms every scene by
    one factor (the focal test).
    """

    def __init__(
        self,
        seeds: Sequence[int] | range,
        kinds: Sequence[str] = ("indoor", "outdoor"),
        size: tuple[int, int] | None = None,
        sparse_lidar: bool = False,
        device: str | torch.device = "cpu",
        focal_range: Sequence[float] | None = None,
        focal_scale: float = 1.0,
    ):
        if isinstance(kinds, str):
            kinds = (kinds,)
        if len(kinds) == 0:
            raise ValueError("kinds must name at least one of 'indoor', 'outdoor'")
        for k in kinds:
            check_kind(k)
        self.seeds = list(seeds)
        for s in self.seeds:
            check_seed(s)
        if size is not None:
            if len(size) != 2:
                raise ValueError(f"size must be (width, height), got {size!r}")
            check_size(size[0], size[1])
            size = (int(size[0]), int(size[1]))
        self.kinds = tuple(kinds)
        self.size = size
        self.sparse_lidar = bool(sparse_lidar)
        self.device = torch_device(device)
        self.focal_range = None if focal_range is None else (float(focal_range[0]), float(focal_range[1]))
        if self.focal_range is not None:
            focal_scale_of(0, self.focal_range)  # validates the range
        zoomed(np.eye(3), float(focal_scale))  # validates the scale
        self.focal_scale = float(focal_scale)

    def __len__(self) -> int:
        return len(self.seeds)

    def kind_of(self, i: int) -> str:
        """The kind of sample i (without rendering it)."""
        return self.kinds[i % len(self.kinds)]

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} procedural samples")
        i = i % len(self)
        kind = self.kind_of(i)
        w, h = self.size if self.size is not None else DEFAULT_SIZES[kind]
        zoom = self.focal_scale
        if self.focal_range is not None:
            zoom *= focal_scale_of(self.seeds[i], self.focal_range)
        s = render_scene(
            self.seeds[i], kind, w, h, device=self.device, sparse_lidar=self.sparse_lidar, focal_scale=zoom
        )
        return {
            "rgb": torch.from_numpy(s.rgb).permute(2, 0, 1).float() / 255.0,
            "depth": torch.from_numpy(s.depth)[None],
            "intrinsics": torch.from_numpy(s.intrinsics).float(),
            "range": RANGE_INDEX[s.range_label],
            "name": f"procedural_{kind}_{s.seed:07d}",
        }

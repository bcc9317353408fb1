"""Training data: datasets from a config, per-range input handling with augmentation, and an in-memory cache.

Every dataset yields the shared sample dict {"rgb": 3xHxW float [0,1], "depth": 1xHxW metres (0 = invalid),
"intrinsics": 3x3, "range": 0 low / 1 high, "name": str}. Training samples are brought to the network's
working geometry the way inference does it (`side_ros.preprocess`), then randomly cropped to a fixed size so
they batch, flipped and colour-jittered. Depth is resized with the losses' valid-aware nearest neighbour, so
sparse LiDAR ground truth keeps its measurements and is never interpolated between valid and invalid pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset

from side_ros.networks.config import SIDENetConfig
from side_ros.preprocess import fitted_size, resize
from side_ros.training.losses import resize_depth_nearest


def build_from_spec(spec: Mapping[str, Any]) -> Dataset:
    """A dataset from a config entry: {"name": ..., "root": ..., "split": ..., other reader options}.

    `name: procedural` takes {"seeds": [start, stop], "kinds": [...], "size": [w, h], "sparse_lidar": bool,
    "cache": bool}; a list of specs is concatenated (e.g. indoor + outdoor for the coarse network).
    """
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return ConcatDataset([build_from_spec(s) for s in spec])
    spec = dict(spec)
    name = spec.pop("name")
    cache = spec.pop("cache", False)
    if name == "procedural":
        from side_ros.training.procedural import ProceduralDataset

        start, stop = spec.pop("seeds")
        size = spec.pop("size", None)
        ds: Dataset = ProceduralDataset(range(int(start), int(stop)), tuple(spec.pop("kinds", ("indoor", "outdoor"))),
                                        size=tuple(size) if size else None, **spec)
    else:
        from side_ros.training.datasets import build_dataset

        ds = build_dataset(name, spec.pop("root"), spec.pop("split"), **spec)
    return CachedDataset(ds) if cache else ds


class CachedDataset(Dataset):
    """Keeps every sample in memory after its first read (uint8 RGB, float16 depth: 5 bytes/pixel).

    For procedural scenes, which cost a render per read, and small real subsets; not for full datasets.
    """

    def __init__(self, base: Dataset):
        self.base = base
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self._items.get(i)
        if item is None:
            s = self.base[i]
            item = {**s, "rgb": (s["rgb"] * 255).round().to(torch.uint8), "depth": s["depth"].half()}
            self._items[i] = item
        return {**item, "rgb": item["rgb"].float() / 255, "depth": item["depth"].float()}


class TrainTransform:
    """Working geometry of the network's range, random crop to `crop` (w, h), flip, colour jitter.

    The crop is padded with zeros (invalid depth) where the image is smaller, e.g. the 320x240 low-range
    image becomes a 320x256 crop whose last 16 rows carry no loss.
    """

    def __init__(self, cfg: SIDENetConfig, crop: Sequence[int] | None = None, flip: bool = True,
                 color_jitter: float = 0.2, generator: torch.Generator | None = None):
        self.cfg = cfg
        m = cfg.size_multiple
        w, h = crop if crop is not None else cfg.input_size
        self.crop = (int(math.ceil(h / m) * m), int(math.ceil(w / m) * m))  # (h, w), network multiples
        self.flip, self.jitter = flip, color_jitter
        self.gen = generator

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.gen))

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        rgb, depth = sample["rgb"], sample["depth"]
        h, w = fitted_size(rgb.shape[-2], rgb.shape[-1], self.cfg)
        rgb = resize(rgb[None], (h, w))[0]
        depth = resize_depth_nearest(depth[None], (h, w))[0]
        ch, cw = self.crop
        y = int(self._rand() * (h - ch + 1)) if h > ch else 0
        x = int(self._rand() * (w - cw + 1)) if w > cw else 0
        rgb, depth = rgb[:, y:y + ch, x:x + cw], depth[:, y:y + ch, x:x + cw]
        ph, pw = ch - rgb.shape[-2], cw - rgb.shape[-1]
        if ph or pw:
            if self.cfg.input_handling == "pad":  # KITTI style: zeros on top and on the right
                rgb, depth = F.pad(rgb, (0, pw, ph, 0)), F.pad(depth, (0, pw, ph, 0))
            else:
                rgb, depth = F.pad(rgb, (0, pw, 0, ph)), F.pad(depth, (0, pw, 0, ph))
        if self.flip and self._rand() < 0.5:
            rgb, depth = rgb.flip(-1), depth.flip(-1)
        if self.jitter > 0:
            j = self.jitter
            bright = 1 + (self._rand() * 2 - 1) * j
            contrast = 1 + (self._rand() * 2 - 1) * j
            sat = 1 + (self._rand() * 2 - 1) * j
            gray = rgb.mean(0, keepdim=True)
            rgb = (gray + (rgb - gray) * sat)
            rgb = ((rgb - rgb.mean()) * contrast + rgb.mean()) * bright
            rgb = rgb.clamp(0, 1)
        return {"rgb": rgb.contiguous(), "depth": depth.contiguous(), "range": int(sample.get("range", 0))}


class Transformed(Dataset):
    """A dataset with a transform applied per item."""

    def __init__(self, base: Dataset, transform: TrainTransform):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.transform(self.base[i])

"""Depth datasets in their real on-disk formats, behind one factory.

Every dataset is a `torch.utils.data.Dataset` whose items are
`{"rgb": 3xHxW float32 [0,1], "depth": 1xHxW float32 metres (0 = invalid), "intrinsics": 3x3 float32,
"range": 0 (low/indoor) | 1 (high/outdoor), "name": str}`; an optional `transform` maps that dict.

Names and splits:
    "nyu"      NYU Depth v2, BTS extracted layout            train, test
    "nyu_mat"  NYU Depth v2 labeled .mat + splits.mat        train (795), test (654), all (1449)
    "scannet"  ScanNet, Robust Vision Challenge 2018 layout  train, val, test
    "kitti"    KITTI depth benchmark (+ raw RGB)             train, val, val_selection, eigen_train/val/test
Each module's docstring gives the exact layout and its sources.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from torch.utils.data import Dataset

from .common import RANGE_HIGH, RANGE_LOW, DatasetFormatError, DepthDataset, nyu_intrinsics
from .kitti import KITTI_SPLITS, KITTIDepthDataset
from .nyu import MAT_SPLITS, NYUDataset, NYUMatDataset
from .scannet import SCANNET_SPLITS, ScanNetROBDataset

__all__ = [
    "DATASETS",
    "RANGE_HIGH",
    "RANGE_LOW",
    "DatasetFormatError",
    "DepthDataset",
    "KITTIDepthDataset",
    "NYUDataset",
    "NYUMatDataset",
    "ScanNetROBDataset",
    "build_dataset",
    "dataset_splits",
    "nyu_intrinsics",
    "register_dataset",
]

DatasetFactory = Callable[..., Dataset]

DATASETS: dict[str, DatasetFactory] = {
    "nyu": NYUDataset,
    "nyu_mat": NYUMatDataset,
    "scannet": ScanNetROBDataset,
    "kitti": KITTIDepthDataset,
}

_SPLITS: dict[str, tuple[str, ...]] = {
    "nyu": ("train", "test"),
    "nyu_mat": MAT_SPLITS,
    "scannet": SCANNET_SPLITS,
    "kitti": KITTI_SPLITS,
}


def register_dataset(name: str, factory: DatasetFactory, splits: tuple[str, ...] | None = None) -> None:
    """Make `build_dataset(name, root, split, **kw)` call `factory(root, split, **kw)` (e.g. procedural scenes)."""
    if not name or not callable(factory):
        raise ValueError(f"register_dataset needs a name and a callable factory, got {name!r}, {factory!r}")
    DATASETS[name] = factory
    if splits is not None:
        _SPLITS[name] = tuple(splits)


def dataset_splits(name: str) -> tuple[str, ...]:
    """The split names a dataset accepts (empty if the factory did not declare them)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return _SPLITS.get(name, ())


def build_dataset(name: str, root: str | os.PathLike, split: str, **kw) -> Dataset:
    """Construct dataset `name` over the files at `root` for `split`; extra keywords go to its reader."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    allowed = _SPLITS.get(name)
    if allowed and split not in allowed:
        raise ValueError(f"dataset {name!r} has no split {split!r}; expected one of {', '.join(allowed)}")
    return DATASETS[name](root, split, **kw)

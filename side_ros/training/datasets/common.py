"""Shared pieces of the dataset readers: the sample convention, file checks, image/depth decoding.

Every reader returns samples of the same shape so training, evaluation and the procedural renderer are
interchangeable:

    {"rgb": float32 3xHxW in [0, 1], "depth": float32 1xHxW metres (0 = invalid),
     "intrinsics": float32 3x3, "range": int (0 = low/indoor, 1 = high/outdoor), "name": str}

Depth PNGs in the formats read here are single-channel 16-bit images whose value divided by a per-dataset
scale is metres, with 0 meaning "no measurement": KITTI and the ROB 2018 exports use 256 (KITTI depth
devkit readme.txt, "depth(u,v) = ((float)I(u,v))/256.0; valid(u,v) = I(u,v)>0"), the BTS extraction of
NYU uses millimetres (cleinc/bts utils/extract_official_train_test_set_from_mat.py writes depth*1000 as
uint16; bts_dataloader.py divides by 1000).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

RANGE_LOW = 0
RANGE_HIGH = 1

# NYU Depth v2 RGB camera at 640x480: toolbox camera_params.m (fx_rgb, fy_rgb, cx_rgb, cy_rgb).
NYU_FX = 5.1885790117450188e02
NYU_FY = 5.1946961112127485e02
NYU_CX = 3.2558244941119034e02
NYU_CY = 2.5373616633400465e02

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]


class DatasetFormatError(ValueError):
    """The files on disk do not have the layout or encoding a reader expects."""


def nyu_intrinsics() -> np.ndarray:
    """The NYU Depth v2 RGB camera matrix at 640x480 (float64 3x3)."""
    return np.array([[NYU_FX, 0.0, NYU_CX], [0.0, NYU_FY, NYU_CY], [0.0, 0.0, 1.0]], dtype=np.float64)


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a directory, else raise naming what was expected there."""
    if not path.is_dir():
        raise DatasetFormatError(f"{what}: expected a directory at {path}, but it does not exist")
    return path


def require_file(path: Path, what: str) -> Path:
    """Return `path` if it is a file, else raise naming what was expected there."""
    if not path.is_file():
        raise DatasetFormatError(f"{what}: expected a file at {path}, but it does not exist")
    return path


def first_existing(candidates: Sequence[Path]) -> Path | None:
    """The first path of `candidates` that exists, or None: formats differ in where they put a file."""
    for p in candidates:
        if p.exists():
            return p
    return None


def check_split(split: str, allowed: Sequence[str], dataset: str) -> None:
    """Reject an unknown split name with the list of valid ones."""
    if split not in allowed:
        raise ValueError(f"{dataset}: unknown split {split!r}; expected one of {', '.join(allowed)}")


def read_rgb(path: Path) -> np.ndarray:
    """Read an 8-bit colour image as HxWx3 uint8 in R, G, B order (PIL decodes PNG/JPEG as RGB)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                if im.mode not in ("L", "P", "RGBA", "CMYK", "YCbCr"):
                    raise DatasetFormatError(f"{path}: expected an 8-bit colour image, got PIL mode {im.mode}")
                im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8)
    except FileNotFoundError as e:
        raise DatasetFormatError(f"colour image missing: expected a file at {path}") from e
    except OSError as e:
        raise DatasetFormatError(f"{path}: cannot decode colour image ({e})") from e


def read_depth_png(path: Path, scale: float) -> np.ndarray:
    """Read a single-channel 16-bit PNG and return metres = value / scale (float32 HxW), 0 stays 0 (invalid)."""
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except FileNotFoundError as e:
        raise DatasetFormatError(f"depth map missing: expected a 16-bit PNG at {path}") from e
    except OSError as e:
        raise DatasetFormatError(f"{path}: cannot decode depth PNG ({e})") from e
    # Pillow >= 10 opens 16-bit greyscale PNGs as "I;16"; older versions widen them to 32-bit "I".
    if mode not in ("I;16", "I;16B", "I;16L", "I") or arr.ndim != 2:
        raise DatasetFormatError(
            f"{path}: expected a single-channel 16-bit depth PNG (value/{scale:g} = metres), got PIL mode {mode}"
        )
    if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise DatasetFormatError(f"{path}: depth values outside the uint16 range")
    return (arr.astype(np.float32) / np.float32(scale)).astype(np.float32)


def parse_numbers(path: Path) -> np.ndarray:
    """All whitespace/comma separated numbers of a small text file (intrinsics files) as float64."""
    try:
        text = path.read_text()
    except FileNotFoundError as e:
        raise DatasetFormatError(f"intrinsics missing: expected a text file at {path}") from e
    try:
        return np.array([float(t) for t in text.replace(",", " ").split()], dtype=np.float64)
    except ValueError as e:
        raise DatasetFormatError(f"{path}: expected only numbers in an intrinsics file ({e})") from e


def intrinsics_from_numbers(values: np.ndarray, source: Path) -> np.ndarray:
    """3x3 camera matrix from 9 (3x3, row-major), 12 (3x4 projection) or 16 (4x4) numbers."""
    n = values.size
    if n == 9:
        k = values.reshape(3, 3)
    elif n == 12:
        k = values.reshape(3, 4)[:, :3]
    elif n == 16:
        k = values.reshape(4, 4)[:3, :3]
    else:
        raise DatasetFormatError(f"{source}: expected 9, 12 or 16 numbers for a camera matrix, found {n}")
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise DatasetFormatError(f"{source}: camera matrix has non-positive focal lengths: {k.tolist()}")
    return k


def make_sample(rgb: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray, range_label: int, name: str) -> Sample:
    """Pack HxWx3 uint8 RGB, HxW metres and a 3x3 matrix into the shared sample dict of tensors."""
    if rgb.shape[:2] != depth.shape:
        raise DatasetFormatError(
            f"{name}: colour image is {rgb.shape[1]}x{rgb.shape[0]} but depth is {depth.shape[1]}x{depth.shape[0]}"
        )
    rgb_t = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)
    depth_t = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None]
    k_t = torch.as_tensor(np.asarray(intrinsics, dtype=np.float32))
    return {"rgb": rgb_t, "depth": depth_t, "intrinsics": k_t, "range": int(range_label), "name": name}


class DepthDataset(Dataset):
    """Base class: bounds-checked indexing and the optional transform; subclasses implement `_load`."""

    range_label: int = RANGE_LOW

    def __init__(self, transform: Transform | None = None) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _load(self, index: int) -> Sample:  # pragma: no cover - overridden
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {n} samples")
        sample = self._load(index % n)
        return self.transform(sample) if self.transform is not None else sample

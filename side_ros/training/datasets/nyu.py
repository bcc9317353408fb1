"""NYU Depth v2 readers: the official labeled `.mat` and the BTS extracted RGB/PNG layout.

Labeled `.mat` (`NYUMatDataset`, name "nyu_mat")
    `nyu_depth_v2_labeled.mat` (cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html) is a MATLAB v7.3 file,
    i.e. HDF5 (with MATLAB's 512-byte user block). MATLAB stores `images` as HxWx3xN uint8 and `depths`
    as HxWxN float32 metres (in-painted, dense); `rawDepths` are the Kinect's raw depths with 0 = no reading.
    HDF5 keeps MATLAB's column-major order, so h5py sees the axes reversed: `images` is (N, 3, W, H) =
    (1449, 3, 640, 480) and `depths` is (N, W, H); one frame is `images[i].transpose(2, 1, 0)` -> HxWx3 and
    `depths[i].T` -> HxW (see e.g. cleinc/bts utils/extract_official_train_test_set_from_mat.py, which writes
    `image.T` / `depth_raw[i].T`, and the shape comment "(1449, 3, 640, 480)" in several public converters).
    The official split is `splits.mat` (horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/splits.mat, a
    MATLAB v5 file that scipy.io.loadmat reads) with 1-based `trainNdxs` (795) and `testNdxs` (654).
    The file is opened lazily, per process (DataLoader workers fork), and each item reads one slice.

Extracted layout (`NYUDataset`, name "nyu")
    The layout of BTS (cleinc/bts, also used by AdaBins, NeWCRFs, ZoeDepth, Depth-Anything's metric
    models), the most widely used extracted form:
        <root>/sync/<scene>/rgb_00045.jpg, sync_depth_00045.png            (train, from the raw dataset)
        <root>/official_splits/test/<scene>/rgb_00045.jpg, sync_depth_00045.png   (the 654 official test)
    with list files `nyudepthv2_train_files_with_gt.txt` / `nyudepthv2_test_files_with_gt.txt`
    (cleinc/bts train_test_inputs/), one sample per line: `<rgb> <depth> <focal>`, e.g.
        /kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579
        bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png 518.8579
    Paths are relative to the data directory (BTS joins "./" + path, so a leading "/" is relative too).
    Depth PNGs are uint16 millimetres (bts_dataloader.py: `depth_gt / 1000.0` for nyu), 0 = invalid.

Intrinsics: the RGB camera of the NYU toolbox's camera_params.m at 640x480 (fx 518.8579, fy 519.4696,
cx 325.5824, cy 253.7362). NYU is indoor, range label 0.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    RANGE_LOW,
    DatasetFormatError,
    DepthDataset,
    Sample,
    Transform,
    check_split,
    make_sample,
    nyu_intrinsics,
    read_depth_png,
    read_rgb,
    require_dir,
    require_file,
)

MAT_NAME = "nyu_depth_v2_labeled.mat"
SPLITS_NAME = "splits.mat"
MAT_SPLITS = ("train", "test", "all")
NYU_DEPTH_SCALE = 1000.0  # BTS extraction: uint16 millimetres


def _load_hdf5_vars(path: Path, key: str) -> dict[str, np.ndarray]:
    """Read one variable of a MATLAB v7.3 (HDF5) file; empty dict if it is absent."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return {key: np.asarray(f[key])} if key in f else {}
    except OSError as e:
        raise DatasetFormatError(f"{path}: cannot read as a MATLAB v7.3 split file ({e})") from e


def _load_split_indices(split_file: Path, key: str, n_frames: int) -> np.ndarray:
    """0-based frame indices from a 1-based MATLAB index vector in splits.mat (v5 via scipy, v7.3 via h5py)."""
    import h5py
    import scipy.io

    if h5py.is_hdf5(split_file):  # MATLAB v7.3
        data = _load_hdf5_vars(split_file, key)
    else:  # MATLAB v5 (the published splits.mat)
        try:
            data = scipy.io.loadmat(str(split_file), variable_names=[key])
        except (ValueError, OSError, NotImplementedError) as e:
            raise DatasetFormatError(f"{split_file}: cannot read as a MATLAB split file ({e})") from e
    if key not in data:
        raise DatasetFormatError(f"{split_file}: expected a variable {key!r} (1-based frame indices)")
    raw = np.asarray(data[key])
    idx = raw.reshape(-1)
    if idx.size == 0 or not np.all(np.equal(np.mod(idx, 1), 0)):
        raise DatasetFormatError(f"{split_file}: {key!r} must be a non-empty vector of integer frame numbers")
    idx = idx.astype(np.int64)
    if idx.min() < 1 or idx.max() > n_frames:
        raise DatasetFormatError(
            f"{split_file}: {key!r} holds 1-based indices in [{idx.min()}, {idx.max()}], "
            f"but the labeled .mat has {n_frames} frames"
        )
    return idx - 1


class NYUMatDataset(DepthDataset):
    """Frames of `nyu_depth_v2_labeled.mat` in the official split, read one h5py slice at a time."""

    range_label = RANGE_LOW

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        mat_file: str | os.PathLike | None = None,
        split_file: str | os.PathLike | None = None,
        depth_key: str = "depths",
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        check_split(split, MAT_SPLITS, "nyu_mat")
        if depth_key not in ("depths", "rawDepths"):
            raise ValueError(f"nyu_mat: depth_key must be 'depths' or 'rawDepths', got {depth_key!r}")
        root_p = Path(root)
        if root_p.is_file():  # the .mat itself was given
            mat_p, base = root_p, root_p.parent
        else:
            base = require_dir(root_p, "NYU Depth v2 root (folder with nyu_depth_v2_labeled.mat and splits.mat)")
            mat_p = base / MAT_NAME
        self.mat_file = require_file(Path(mat_file) if mat_file is not None else mat_p, "NYU labeled .mat")
        self.depth_key = depth_key
        self.split = split

        n = self._check_layout()
        if split == "all":
            self.indices = np.arange(n, dtype=np.int64)
        else:
            sp = require_file(
                Path(split_file) if split_file is not None else base / SPLITS_NAME,
                "NYU official split file splits.mat (trainNdxs/testNdxs)",
            )
            self.indices = _load_split_indices(sp, "trainNdxs" if split == "train" else "testNdxs", n)
        self._file = None
        self._pid: int | None = None
        self._k = nyu_intrinsics()

    def _check_layout(self) -> int:
        """Open the file once to check the datasets and shapes; returns the number of frames."""
        import h5py

        try:
            f = h5py.File(self.mat_file, "r")
        except OSError as e:
            raise DatasetFormatError(
                f"{self.mat_file}: not an HDF5 file; expected the MATLAB v7.3 nyu_depth_v2_labeled.mat ({e})"
            ) from e
        with f:
            for key in ("images", self.depth_key):
                if key not in f:
                    raise DatasetFormatError(f"{self.mat_file}: expected a dataset {key!r}, found {sorted(f.keys())}")
            img, dep = f["images"], f[self.depth_key]
            if img.ndim != 4 or img.shape[1] != 3 or img.dtype != np.uint8:
                raise DatasetFormatError(
                    f"{self.mat_file}: 'images' should be uint8 (N, 3, W, H) as MATLAB v7.3 stores HxWx3xN, "
                    f"got {img.dtype} {img.shape}"
                )
            if dep.ndim != 3 or dep.shape != (img.shape[0], img.shape[2], img.shape[3]):
                raise DatasetFormatError(
                    f"{self.mat_file}: {self.depth_key!r} should be (N, W, H) = "
                    f"{(img.shape[0], img.shape[2], img.shape[3])} to match 'images', got {dep.shape}"
                )
            return int(img.shape[0])

    def _handle(self) -> Any:  # an h5py.File (h5py is imported only when a .mat file is read)
        """The open HDF5 file of this process (reopened after fork so workers never share a handle)."""
        if self._file is None or self._pid != os.getpid():
            import h5py

            self._file = h5py.File(self.mat_file, "r")
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return int(self.indices.size)

    def _load(self, index: int) -> Sample:
        i = int(self.indices[index])
        f = self._handle()
        rgb = np.asarray(f["images"][i]).transpose(2, 1, 0)  # (3, W, H) -> (H, W, 3)
        depth = np.asarray(f[self.depth_key][i], dtype=np.float32).T  # (W, H) -> (H, W), metres
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0.0)).astype(np.float32)
        return make_sample(rgb, depth, self._k, self.range_label, f"nyu_labeled/{i + 1:04d}")

    def close(self) -> None:
        """Close the HDF5 handle (it reopens on the next access)."""
        if self._file is not None:
            self._file.close()
            self._file = None


BTS_LISTS = {"train": "nyudepthv2_train_files_with_gt.txt", "test": "nyudepthv2_test_files_with_gt.txt"}
BTS_DATA_DIRS = {"train": Path("sync"), "test": Path("official_splits") / "test"}


class NYUDataset(DepthDataset):
    """NYU Depth v2 in the BTS extracted layout (RGB jpg + uint16 millimetre PNG, BTS list files)."""

    range_label = RANGE_LOW

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        list_file: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        check_split(split, tuple(BTS_LISTS), "nyu")
        base = require_dir(Path(root), "NYU Depth v2 extracted root (BTS layout: sync/, official_splits/)")
        if list_file is None:
            cands = [base / BTS_LISTS[split], base / "train_test_inputs" / BTS_LISTS[split]]
            found = next((p for p in cands if p.is_file()), None)
            if found is None:
                raise DatasetFormatError(
                    f"nyu {split} list: expected {BTS_LISTS[split]} (lines '<rgb> <depth> <focal>') at "
                    + " or ".join(str(p) for p in cands)
                )
            list_path = found
        else:
            list_path = require_file(Path(list_file), f"nyu {split} list file")
        ddir = Path(data_dir) if data_dir is not None else base / BTS_DATA_DIRS[split]
        self.data_dir = require_dir(ddir, f"nyu {split} data directory")
        self.split = split
        self.items: list[tuple[Path, Path, str]] = []
        for lineno, line in enumerate(list_path.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DatasetFormatError(f"{list_path}:{lineno}: expected '<rgb> <depth> [focal]', got {line!r}")
            rgb_rel, depth_rel = parts[0].lstrip("/"), parts[1].lstrip("/")
            if depth_rel == "None":
                raise DatasetFormatError(f"{list_path}:{lineno}: sample {rgb_rel} has no ground-truth depth")
            depth_p = self.data_dir / depth_rel
            require_file(depth_p, f"depth of {rgb_rel} ({list_path}:{lineno})")
            self.items.append((self.data_dir / rgb_rel, depth_p, str(Path(rgb_rel).with_suffix(""))))
        if not self.items:
            raise DatasetFormatError(f"{list_path}: the list file holds no samples")
        self._k = nyu_intrinsics()

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, index: int) -> Sample:
        rgb_p, depth_p, name = self.items[index]
        rgb = read_rgb(rgb_p)
        depth = read_depth_png(depth_p, NYU_DEPTH_SCALE)
        return make_sample(rgb, depth, self._k, self.range_label, f"nyu/{name}")

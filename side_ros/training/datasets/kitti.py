"""KITTI depth prediction / completion benchmark layout (name "kitti").

Sources: the KITTI depth devkit readme.txt (copied in github.com/ozendelait/rvc_devkit depth/KITTI/readme.txt),
the ROB devkit's KITTI/gather_raw_images.py, nianticlabs/monodepth2 splits/ and cleinc/bts train_test_inputs/.

Ground truth (`data_depth_annotated.zip`):
    <ann>/{train,val}/<date>_drive_<nnnn>_sync/proj_depth/groundtruth/image_0{2,3}/<frame:010d>.png
  uint16 PNG, metres = value / 256, 0 = invalid ("depth(u,v) = ((float)I(u,v))/256.0; valid(u,v) = I(u,v)>0").
  Frame ids start at 5 (11 scans are accumulated, +-5 around the frame). `<ann>` is `<root>/data_depth_annotated`
  as unzipped, or `<root>` itself (the ROB devkit's datasets_KITTI/{train,val}), or, for the Eigen splits, the
  flattened `<ann>/<drive>/...` that BTS's README builds by moving train/* and val/* up one level.
RGB (KITTI raw, `raw_root`, default `root`):
    <raw_root>/<date>/<date>_drive_<nnnn>_sync/image_0{2,3}/data/<frame:010d>.png
  or where gather_raw_images.py -t copy/move/softlink puts it: <ann>/<split>/<drive>/image_0{2,3}/<frame>.png.
Intrinsics: `P_rect_02` / `P_rect_03` (3x4, row-major, 12 numbers after the key) of
  <raw_root>/<date>/calib_cam_to_cam.txt, K = P[:, :3] (what gather_raw_images.py extracts as f_x, o_x, f_y,
  o_y); or the per-frame `<ann>/<split>/<drive>/intrinsics/image_0X/<frame>.txt` (9 numbers) that script writes.
Official selected validation ("val_selection", 1000 frames cropped to 1216x352, `data_depth_selection.zip`):
    <root>/depth_selection/val_selection_cropped/image/<drive>_image_<frame>_image_0X.png
                                                /groundtruth_depth/<drive>_groundtruth_depth_<frame>_image_0X.png
                                                /intrinsics/<drive>_image_<frame>_image_0X.txt   (9 numbers)
  (the ROB devkit renames the folder to `<root>/val_selection`; both are accepted).
Eigen splits ("eigen_test", "eigen_train", "eigen_val"): a list file, default `<root>/<split>_files.txt`,
  in monodepth2's format `2011_09_26/2011_09_26_drive_0002_sync 69 l` (frame padded or not; l = image_02,
  r = image_03) or BTS's `2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png <gt|None> <focal>`.
  Ground truth is the annotated depth of that frame (the "improved" Eigen ground truth of monodepth2's
  eigen_benchmark and BTS); frames without it are an error unless `skip_missing_depth=True` (the original
  697-frame Eigen test list has 45 such frames; monodepth2's eigen_benchmark list has 652 with ground truth).
KITTI is outdoor: range label 1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .common import (
    RANGE_HIGH,
    DatasetFormatError,
    DepthDataset,
    Sample,
    Transform,
    check_split,
    first_existing,
    intrinsics_from_numbers,
    make_sample,
    parse_numbers,
    read_depth_png,
    read_rgb,
    require_dir,
    require_file,
)

KITTI_SPLITS = ("train", "val", "val_selection", "eigen_train", "eigen_val", "eigen_test")
KITTI_DEPTH_SCALE = 256.0
SIDES = {"l": "image_02", "r": "image_03"}
CAMERAS = ("image_02", "image_03")
_DRIVE_RE = re.compile(r"^(\d{4}_\d{2}_\d{2})_drive_\d{4}_sync$")
_BTS_RGB_RE = re.compile(r"(\d{4}_\d{2}_\d{2})/(\d{4}_\d{2}_\d{2}_drive_\d{4}_sync)/(image_0[23])/data/(\d+)\.png$")


def read_calib_cam_to_cam(path: Path) -> dict[str, np.ndarray]:
    """Numeric entries of a KITTI raw calib_cam_to_cam.txt ("KEY: v v v ..."); text entries are skipped."""
    require_file(path, "KITTI raw calibration calib_cam_to_cam.txt")
    out: dict[str, np.ndarray] = {}
    for line in path.read_text().splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            out[key.strip()] = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            continue  # calib_time: 09-Jan-2012 13:57:47
    return out


class KITTIDepthDataset(DepthDataset):
    """KITTI depth benchmark ground truth with the matching raw RGB frames and rectified intrinsics."""

    range_label = RANGE_HIGH

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "val",
        raw_root: str | os.PathLike | None = None,
        split_file: str | os.PathLike | None = None,
        cameras: tuple[str, ...] = CAMERAS,
        skip_missing_depth: bool = False,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        check_split(split, KITTI_SPLITS, "kitti")
        bad = [c for c in cameras if c not in CAMERAS]
        if bad or not cameras:
            raise ValueError(f"kitti: cameras must be a non-empty subset of {CAMERAS}, got {cameras}")
        self.root = require_dir(Path(root), "KITTI root")
        self.raw_root = require_dir(Path(raw_root), "KITTI raw root") if raw_root is not None else self.root
        self.split = split
        self.cameras = tuple(cameras)
        self._calib: dict[str, dict[str, np.ndarray]] = {}
        ann = self.root / "data_depth_annotated"
        self.ann = ann if ann.is_dir() else self.root
        # (rgb path, depth path, 3x3 K, name)
        self.items: list[tuple[Path, Path, np.ndarray, str]] = []
        if split in ("train", "val"):
            self._index_annotated(split)
        elif split == "val_selection":
            self._index_selection()
        else:
            self._index_eigen(split, split_file, skip_missing_depth)
        if not self.items:
            raise DatasetFormatError(f"kitti {split}: no frames found (cameras {', '.join(self.cameras)})")

    # --- path resolution -------------------------------------------------------------------------------
    def _rgb_path(self, date: str, drive: str, cam: str, frame: str) -> Path:
        cands = [self.raw_root / date / drive / cam / "data" / f"{frame}.png"]
        cands += [self.ann / s / drive / cam / f"{frame}.png" for s in ("train", "val")]
        found = first_existing(cands)
        if found is None:
            raise DatasetFormatError(f"kitti: RGB frame of {drive}/{cam}/{frame} missing; expected {cands[0]}")
        return found

    def _intrinsics(self, date: str, drive: str, cam: str, frame: str) -> np.ndarray:
        calib_p = self.raw_root / date / "calib_cam_to_cam.txt"
        if calib_p.is_file():
            if date not in self._calib:
                self._calib[date] = read_calib_cam_to_cam(calib_p)
            key = f"P_rect_{cam[-2:]}"
            p = self._calib[date].get(key)
            if p is None:
                raise DatasetFormatError(f"{calib_p}: expected a line '{key}: <12 numbers>'")
            if p.size != 12:
                raise DatasetFormatError(f"{calib_p}: {key} should hold 12 numbers (3x4), found {p.size}")
            return intrinsics_from_numbers(p, calib_p)
        cands = [self.ann / s / drive / "intrinsics" / cam / f"{frame}.txt" for s in ("train", "val")]
        found = first_existing(cands)
        if found is None:
            raise DatasetFormatError(
                f"kitti: no intrinsics for {drive}/{cam}/{frame}; expected {calib_p} (P_rect_{cam[-2:]}) "
                f"or the devkit's {cands[0]}"
            )
        return intrinsics_from_numbers(parse_numbers(found), found)

    def _add(self, date: str, drive: str, cam: str, frame: str, depth_p: Path) -> None:
        rgb_p = self._rgb_path(date, drive, cam, frame)
        k = self._intrinsics(date, drive, cam, frame)
        self.items.append((rgb_p, depth_p, k, f"{drive}/{cam}/{frame}"))

    # --- split indexing --------------------------------------------------------------------------------
    def _index_annotated(self, split: str) -> None:
        split_dir = require_dir(self.ann / split, f"KITTI annotated depth {split} split (data_depth_annotated)")
        depth_files = sorted(split_dir.glob("*_sync/proj_depth/groundtruth/image_0[23]/*.png"))
        if not depth_files:
            raise DatasetFormatError(
                f"kitti {split}: expected <drive>/proj_depth/groundtruth/image_0{{2,3}}/<frame>.png under {split_dir}"
            )
        for dp in depth_files:
            cam, drive = dp.parent.name, dp.parents[3].name
            m = _DRIVE_RE.match(drive)
            if cam not in self.cameras or m is None:
                continue
            self._add(m.group(1), drive, cam, dp.stem, dp)

    def _index_selection(self) -> None:
        cands = [
            self.root / "depth_selection" / "val_selection_cropped",
            self.root / "val_selection_cropped",
            self.root / "val_selection",
        ]
        sel = first_existing(cands)
        if sel is None:
            raise DatasetFormatError(f"kitti val_selection: expected a directory at {' or '.join(map(str, cands))}")
        img_dir = require_dir(sel / "image", "kitti val_selection images")
        gt_dir = require_dir(sel / "groundtruth_depth", "kitti val_selection ground truth")
        k_dir = require_dir(sel / "intrinsics", "kitti val_selection intrinsics")
        for ip in sorted(img_dir.glob("*.png")):
            if "_sync_image_" not in ip.name:
                raise DatasetFormatError(f"{ip}: expected a name like <drive>_sync_image_<frame>_image_0X.png")
            cam = ip.stem[-8:]
            if cam not in self.cameras:
                continue
            gt = require_file(gt_dir / ip.name.replace("_sync_image_", "_sync_groundtruth_depth_", 1), f"depth of {ip}")
            kp = require_file(k_dir / f"{ip.stem}.txt", f"intrinsics of {ip}")
            k = intrinsics_from_numbers(parse_numbers(kp), kp)
            self.items.append((ip, gt, k, f"val_selection/{ip.stem}"))

    def _parse_split_line(self, line: str, where: str) -> tuple[str, str, str, str, bool]:
        """(date, drive, camera, frame, ground truth listed) from a monodepth2 or BTS split line."""
        parts = line.split()
        if parts[0].endswith(".png"):
            m = _BTS_RGB_RE.search(parts[0])
            if m is None:
                raise DatasetFormatError(
                    f"{where}: expected '<date>/<drive>/image_0X/data/<frame>.png <gt|None> <focal>', got {line!r}"
                )
            has_gt = len(parts) < 2 or parts[1] != "None"
            return m.group(1), m.group(2), m.group(3), f"{int(m.group(4)):010d}", has_gt
        if len(parts) != 3 or parts[2] not in SIDES or not parts[1].isdigit() or parts[0].count("/") != 1:
            raise DatasetFormatError(f"{where}: expected '<date>/<drive> <frame> <l|r>', got {line!r}")
        date, drive = parts[0].split("/")
        if _DRIVE_RE.match(drive) is None or not drive.startswith(date):
            raise DatasetFormatError(f"{where}: {parts[0]!r} is not '<date>/<date>_drive_<nnnn>_sync'")
        return date, drive, SIDES[parts[2]], f"{int(parts[1]):010d}", True

    def _index_eigen(self, split: str, split_file: str | os.PathLike | None, skip_missing: bool) -> None:
        sf = require_file(
            Path(split_file) if split_file is not None else self.root / f"{split}_files.txt",
            f"kitti {split} list (lines like '2011_09_26/2011_09_26_drive_0002_sync 69 l'); pass split_file=",
        )
        for lineno, line in enumerate(sf.read_text().splitlines(), 1):
            if not line.strip():
                continue
            date, drive, cam, frame, has_gt = self._parse_split_line(line, f"{sf}:{lineno}")
            if cam not in self.cameras:
                continue
            rel = Path(drive) / "proj_depth" / "groundtruth" / cam / f"{frame}.png"
            cands = [self.ann / "train" / rel, self.ann / "val" / rel, self.ann / rel]
            depth_p = first_existing(cands) if has_gt else None
            if depth_p is None:
                if skip_missing:
                    continue
                raise DatasetFormatError(
                    f"{sf}:{lineno}: no annotated depth for {drive}/{cam}/{frame}; expected {cands[0]} "
                    "(or under val/); pass skip_missing_depth=True to drop such frames"
                )
            self._add(date, drive, cam, frame, depth_p)

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, index: int) -> Sample:
        rgb_p, depth_p, k, name = self.items[index]
        rgb = read_rgb(rgb_p)
        depth = read_depth_png(depth_p, KITTI_DEPTH_SCALE)
        return make_sample(rgb, depth, k, self.range_label, f"kitti/{name}")

"""ScanNet as the Robust Vision Challenge 2018 distributes it (name "scannet").

Source: the ROB 2018 single-image depth devkit, github.com/ozendelait/rvc_devkit `depth/` (README of the
2018 release, ScanNet/SensorData.py, ScanNet/downsample_color_imgs.py, ScanNet/assign_scenes_to_split.py).

- `download-scannet.py --rob_task_data` fetches one zip per scene with every 100th frame; unzipped, each
  `datasets_ScanNet/scene*_*/` holds full-resolution colour (1296x968) in `color/`, depth maps at 640x480,
  and intrinsics in `intrinsic_color/` (for the full-resolution images) and `intrinsic_depth/` (for 640x480).
  `downsample_color_imgs.py` resizes `color/*` to 640x480 into `color_rob/` (same file names).
- Converting raw `.sens` files instead (`reader.py --rob`, SensorData.export_*_rob) writes
  `depth_rob/%010d.png`, `color_rob/%010d.png` (resized to the depth resolution) and `intrinsic_rob/%010d.txt`
  (the colour intrinsics rescaled to 640x480, 9 numbers on one line).
- Depth is encoded KITTI-style: uint16 PNG, metres = value / 256, 0 = invalid (SensorData.export_depth_images_rob:
  `depth / 1000.0 * 256.0` from ScanNet's millimetres; the devkit README's "Dataset Format": "we use the
  original KITTI depth prediction format ... depth(u,v) = ((float)I(u,v))/256.0; valid(u,v) = I(u,v)>0").
  Intrinsics files are "9 float values, that, if cast to a 3x3 matrix represent f_x 0 o_x / 0 f_y o_y / 0 0 1"
  (devkit README); ScanNet's own SensReader writes 4x4 matrices, which are read too.
- `assign_scenes_to_split.py` moves each scene into `datasets_ScanNet/{train,val,test}/` by the lists in
  `ScanNet/data_splits/scannet_{train,val,test,rob_test}.txt` (one scene name per line; the devkit puts the
  ScanNet val and test scenes in `val/`, the ROB test scenes, which have no public depth, in `test/`).

So this reader expects `<root>/<split>/<scene>/` with a colour folder (`color_rob/` preferred, else `color/`,
resized here to the depth resolution with bilinear filtering as the devkit's downsampling does), a depth
folder (`depth/` or `depth_rob/`), and an intrinsics folder at the depth resolution (`intrinsic_rob/` or
`intrinsic_depth/`: a per-frame `<frame>.txt`, or one file for the whole scene). Frames are the colour images;
a colour frame without its depth map is an error. Optionally `split_file` (a devkit scene list) restricts
the scenes; scenes are then looked up in `<root>/<split>/` and, before assignment, in `<root>/`.
ScanNet is indoor: range label 0.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from .common import (
    RANGE_LOW,
    DatasetFormatError,
    DepthDataset,
    Sample,
    Transform,
    check_split,
    intrinsics_from_numbers,
    make_sample,
    parse_numbers,
    read_depth_png,
    read_rgb,
    require_dir,
    require_file,
)

SCANNET_SPLITS = ("train", "val", "test")
COLOR_DIRS = ("color_rob", "color")
DEPTH_DIRS = ("depth", "depth_rob")
INTRINSIC_DIRS = ("intrinsic_rob", "intrinsic_depth")
IMAGE_EXTS = (".png", ".jpg", ".jpeg")
ROB_DEPTH_SCALE = 256.0
_SCENE_RE = re.compile(r"^scene\d{4}_\d{2}$")


def _frame_key(stem: str) -> tuple[int, int | str]:
    """Sort numerically when frame names are numbers ("9" before "10"), else by name."""
    return (0, int(stem)) if stem.isdigit() else (1, stem)


class ScanNetROBDataset(DepthDataset):
    """ScanNet frames in the ROB 2018 devkit layout (RGB, depth as value/256 m, per-scene intrinsics)."""

    range_label = RANGE_LOW

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        split_file: str | os.PathLike | None = None,
        frame_step: int = 1,
        depth_scale: float = ROB_DEPTH_SCALE,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        check_split(split, SCANNET_SPLITS, "scannet")
        if frame_step < 1:
            raise ValueError(f"scannet: frame_step must be >= 1, got {frame_step}")
        if depth_scale <= 0:
            raise ValueError(f"scannet: depth_scale must be > 0, got {depth_scale}")
        base = require_dir(Path(root), "ScanNet ROB root (datasets_ScanNet with train/ val/ test/)")
        self.split = split
        self.depth_scale = float(depth_scale)
        scene_dirs = self._scene_dirs(base, split, split_file)
        self.items: list[tuple[Path, Path, np.ndarray, str]] = []
        for scene in scene_dirs:
            self.items.extend(self._scene_frames(scene, frame_step))
        if not self.items:
            raise DatasetFormatError(f"scannet {split}: no frames found under {base / split}")

    @staticmethod
    def _scene_dirs(base: Path, split: str, split_file: str | os.PathLike | None) -> list[Path]:
        split_dir = base / split
        if split_file is None:
            require_dir(split_dir, f"scannet {split} split (scenes moved there by assign_scenes_to_split.py)")
            scenes = sorted(p for p in split_dir.iterdir() if p.is_dir() and _SCENE_RE.match(p.name))
            if not scenes:
                raise DatasetFormatError(f"scannet {split}: expected scene*_* folders in {split_dir}, found none")
            return scenes
        sf = require_file(Path(split_file), f"scannet {split} scene list")
        names = [ln.strip() for ln in sf.read_text().splitlines() if ln.strip()]
        if not names:
            raise DatasetFormatError(f"{sf}: the scene list is empty")
        out = []
        for name in names:
            cands = [split_dir / name, base / name]
            found = next((p for p in cands if p.is_dir()), None)
            if found is None:
                raise DatasetFormatError(
                    f"scannet: scene {name} from {sf} not found; expected " + " or ".join(str(p) for p in cands)
                )
            out.append(found)
        return out

    @staticmethod
    def _pick(scene: Path, names: tuple[str, ...], what: str) -> Path:
        for n in names:
            if (scene / n).is_dir():
                return scene / n
        raise DatasetFormatError(f"scannet scene {scene}: expected a {what} folder named one of {', '.join(names)}")

    def _scene_frames(self, scene: Path, frame_step: int) -> list[tuple[Path, Path, np.ndarray, str]]:
        color_dir = self._pick(scene, COLOR_DIRS, "colour")
        depth_dir = self._pick(scene, DEPTH_DIRS, "depth")
        intr_dir = self._pick(scene, INTRINSIC_DIRS, "intrinsics (at the depth resolution)")
        colors = sorted(
            (p for p in color_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=lambda p: _frame_key(p.stem)
        )
        if not colors:
            raise DatasetFormatError(f"scannet scene {scene}: no colour images in {color_dir}")
        shared = [p for p in intr_dir.iterdir() if p.suffix == ".txt"]
        shared_k = None
        frames = []
        for c in colors[::frame_step]:
            depth_p = require_file(depth_dir / f"{c.stem}.png", f"depth map of {c}")
            per_frame = intr_dir / f"{c.stem}.txt"
            if per_frame.is_file():
                k = intrinsics_from_numbers(parse_numbers(per_frame), per_frame)
            else:
                if shared_k is None:
                    if len(shared) != 1:
                        raise DatasetFormatError(
                            f"scannet scene {scene}: expected {per_frame} or a single intrinsics file in {intr_dir}"
                        )
                    shared_k = intrinsics_from_numbers(parse_numbers(shared[0]), shared[0])
                k = shared_k
            frames.append((c, depth_p, k, f"{scene.name}/{c.stem}"))
        return frames

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, index: int) -> Sample:
        color_p, depth_p, k, name = self.items[index]
        depth = read_depth_png(depth_p, self.depth_scale)
        rgb = read_rgb(color_p)
        h, w = depth.shape
        if rgb.shape[:2] != (h, w):
            # Full-resolution colour/ (1296x968): downsample to the depth grid like downsample_color_imgs.py.
            rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)
        return make_sample(rgb, depth, k, self.range_label, f"scannet/{name}")

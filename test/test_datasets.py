"""Dataset readers: tiny datasets written in each real on-disk format, read back and checked exactly."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from torch.utils.data import DataLoader

from side_ros.training.datasets import (
    DATASETS,
    DatasetFormatError,
    KITTIDepthDataset,
    NYUDataset,
    NYUMatDataset,
    ScanNetROBDataset,
    build_dataset,
    dataset_splits,
    register_dataset,
)
from side_ros.training.datasets.common import NYU_CX, NYU_CY, NYU_FX, NYU_FY

H, W = 4, 6  # deliberately non-square so a transposed read changes the shape


def pattern_rgb(h: int, w: int, seed: int) -> np.ndarray:
    """Asymmetric HxWx3 uint8 image: every pixel and channel distinct, so flips/transposes/BGR are caught."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 37 + y * 5 + seed * 11) % 256
    g = (y * 53 + x * 3 + seed * 7 + 100) % 256
    b = (x * y * 13 + x + 2 * y + seed * 3 + 200) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def block_rgb(h: int, w: int, seed: int) -> np.ndarray:
    """8x8-block image with well separated colours, reproduced almost exactly by a quality-100 JPEG."""
    by, bx = np.mgrid[0:h, 0:w] // 8
    r = (bx * 90 + by * 30 + seed * 40) % 256
    g = (by * 120 + bx * 20 + 60) % 256
    b = (200 - bx * 60 - by * 50 + seed * 10) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def depth_counts(h: int, w: int, seed: int) -> np.ndarray:
    """Asymmetric uint16 depth counts with some zeros (invalid)."""
    y, x = np.mgrid[0:h, 0:w]
    d = (1 + x * 300 + y * 1700 + seed * 50).astype(np.uint16)
    d[0, w - 1] = 0
    d[h - 1, 0] = 0
    return d


def save_png16(path: Path, counts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(counts.astype(np.uint16)).save(path)


def save_rgb(path: Path, rgb: np.ndarray, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kw)


def check_sample(s: dict, rgb: np.ndarray, depth_m: np.ndarray, k: np.ndarray, rng: int, atol_rgb: float = 0.0) -> None:
    assert set(s) == {"rgb", "depth", "intrinsics", "range", "name"}
    assert s["rgb"].dtype == torch.float32 and s["rgb"].shape == (3, *rgb.shape[:2])
    assert s["depth"].dtype == torch.float32 and s["depth"].shape == (1, *depth_m.shape)
    assert s["intrinsics"].dtype == torch.float32 and s["intrinsics"].shape == (3, 3)
    expected_rgb = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
    if atol_rgb == 0.0:
        assert torch.equal(s["rgb"], expected_rgb)
    else:
        assert torch.allclose(s["rgb"], expected_rgb, atol=atol_rgb, rtol=0)
    assert torch.equal(s["depth"][0], torch.from_numpy(depth_m.astype(np.float32)))
    assert torch.equal(s["intrinsics"], torch.from_numpy(k.astype(np.float32)))
    assert s["range"] == rng and isinstance(s["range"], int)


NYU_K = np.array([[NYU_FX, 0, NYU_CX], [0, NYU_FY, NYU_CY], [0, 0, 1]])


# ---------------------------------------------------------------------------------------------- NYU .mat
def add_matlab73_header(path: Path) -> None:
    """MATLAB's 128-byte v7.3 header in the HDF5 user block (text, version 0x0200, 'IM' endian mark)."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM")


def write_nyu_mat(root: Path, n: int = 3, raw_zero: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 writes it: HDF5 with a 512-byte header, axes reversed."""
    root.mkdir(parents=True, exist_ok=True)
    rgbs = [pattern_rgb(H, W, i) for i in range(n)]
    y, x = np.mgrid[0:H, 0:W]
    depths = [(0.5 + 0.25 * x + 1.0 * y + 0.125 * i).astype(np.float32) for i in range(n)]
    raws = [d.copy() for d in depths]
    if raw_zero:
        for r in raws:
            r[0, 1] = 0.0
    path = root / "nyu_depth_v2_labeled.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["images"] = np.stack([im.transpose(2, 1, 0) for im in rgbs])  # (N, 3, W, H)
        f["depths"] = np.stack([d.T for d in depths])  # (N, W, H)
        f["rawDepths"] = np.stack([d.T for d in raws])
    add_matlab73_header(path)
    scipy.io.savemat(root / "splits.mat", {"trainNdxs": np.array([[1.0], [3.0]]), "testNdxs": np.array([[2.0]])})
    return rgbs, raws if raw_zero else depths


def test_nyu_mat_official_split_exact(tmp_path: Path) -> None:
    rgbs, depths = write_nyu_mat(tmp_path / "nyu")
    train = NYUMatDataset(tmp_path / "nyu", "train")
    test = NYUMatDataset(tmp_path / "nyu", "test")
    assert (len(train), len(test), len(NYUMatDataset(tmp_path / "nyu", "all"))) == (2, 1, 3)
    check_sample(train[0], rgbs[0], depths[0], NYU_K, 0)
    check_sample(train[1], rgbs[2], depths[2], NYU_K, 0)  # trainNdxs are 1-based: 3 -> frame index 2
    check_sample(test[0], rgbs[1], depths[1], NYU_K, 0)
    assert train[-1]["name"] == "nyu_labeled/0003" and test[0]["name"] == "nyu_labeled/0002"
    with pytest.raises(IndexError):
        test[1]
    with h5py.File(tmp_path / "splits73.mat", "w", userblock_size=512) as f:  # v7.3: column vector as (1, n)
        f["testNdxs"] = np.array([[3.0, 1.0]])
    add_matlab73_header(tmp_path / "splits73.mat")
    alt = NYUMatDataset(tmp_path / "nyu", "test", split_file=tmp_path / "splits73.mat")
    assert [alt[i]["name"] for i in range(len(alt))] == ["nyu_labeled/0003", "nyu_labeled/0001"]


def test_nyu_mat_raw_depths_keep_zero_invalid_and_path_to_file(tmp_path: Path) -> None:
    rgbs, raws = write_nyu_mat(tmp_path / "nyu", raw_zero=True)
    ds = NYUMatDataset(tmp_path / "nyu" / "nyu_depth_v2_labeled.mat", "test", depth_key="rawDepths")
    s = ds[0]
    check_sample(s, rgbs[1], raws[1], NYU_K, 0)
    assert s["depth"][0, 0, 1] == 0.0 and s["depth"][0, 1, 0] > 0


def test_nyu_mat_opens_lazily_and_pickles_for_workers(tmp_path: Path) -> None:
    write_nyu_mat(tmp_path / "nyu")
    ds = NYUMatDataset(tmp_path / "nyu", "train")
    assert ds._file is None  # nothing held open (or loaded) until an item is read
    first = ds[0]
    assert ds._file is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._file is None and torch.equal(clone[0]["rgb"], first["rgb"])
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["rgb"].shape == (2, 3, H, W) and batch["range"].tolist() == [0, 0]
    ds.close()


def test_nyu_mat_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="does not exist"):
        NYUMatDataset(tmp_path / "missing", "train")
    write_nyu_mat(tmp_path / "nyu")
    with pytest.raises(ValueError, match="unknown split"):
        NYUMatDataset(tmp_path / "nyu", "val")
    (tmp_path / "nyu" / "splits.mat").unlink()
    with pytest.raises(DatasetFormatError, match=r"splits\.mat"):
        NYUMatDataset(tmp_path / "nyu", "train")
    scipy.io.savemat(tmp_path / "nyu" / "splits.mat", {"trainNdxs": np.array([[1.0], [4.0]]), "testNdxs": [[2.0]]})
    with pytest.raises(DatasetFormatError, match="3 frames"):
        NYUMatDataset(tmp_path / "nyu", "train")
    scipy.io.savemat(tmp_path / "v5.mat", {"images": np.zeros((2, 2), np.uint8)})  # a MATLAB v5 file, not HDF5
    with pytest.raises(DatasetFormatError, match="v7.3"):
        NYUMatDataset(tmp_path / "nyu", "all", mat_file=tmp_path / "v5.mat")
    with h5py.File(tmp_path / "wrong.mat", "w") as f:
        f["images"] = np.zeros((2, 3, W, H), np.uint8)
        f["depths"] = np.zeros((2, H, W), np.float32)  # not transposed like MATLAB writes it
    with pytest.raises(DatasetFormatError, match="depths"):
        NYUMatDataset(tmp_path / "nyu", "all", mat_file=tmp_path / "wrong.mat")


# ---------------------------------------------------------------------------------------------- NYU BTS
def write_nyu_bts(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """BTS layout: sync/<scene>/rgb_*.jpg + sync_depth_*.png (mm), official_splits/test/..., list files."""
    h, w = 16, 24
    frames = {
        "train": [("kitchen_0028b", 45), ("kitchen_0028b", 46)],
        "test": [("bathroom", 507)],
    }
    data_dirs = {"train": root / "sync", "test": root / "official_splits" / "test"}
    lists = {"train": "nyudepthv2_train_files_with_gt.txt", "test": "nyudepthv2_test_files_with_gt.txt"}
    truth = {}
    for split, items in frames.items():
        lines = []
        for i, (scene, idx) in enumerate(items):
            rgb, mm = block_rgb(h, w, i + (split == "test") * 5), depth_counts(h, w, i)
            save_rgb(data_dirs[split] / scene / f"rgb_{idx:05d}.jpg", rgb, quality=100, subsampling=0)
            save_png16(data_dirs[split] / scene / f"sync_depth_{idx:05d}.png", mm)
            lead = "/" if split == "train" else ""  # BTS's train list starts with '/', its test list does not
            lines.append(f"{lead}{scene}/rgb_{idx:05d}.jpg {lead}{scene}/sync_depth_{idx:05d}.png 518.8579")
            truth[f"{split}/{scene}/{idx}"] = (rgb, mm.astype(np.float32) / 1000.0)
        (root / lists[split]).write_text("\n".join(lines) + "\n")
    return truth


def test_nyu_bts_layout(tmp_path: Path) -> None:
    truth = write_nyu_bts(tmp_path / "nyu_depth_v2")
    train = NYUDataset(tmp_path / "nyu_depth_v2", "train")
    test = NYUDataset(tmp_path / "nyu_depth_v2", "test", transform=lambda s: {**s, "seen": True})
    assert (len(train), len(test)) == (2, 1)
    rgb, dep = truth["train/kitchen_0028b/46"]
    check_sample(train[1], rgb, dep, NYU_K, 0, atol_rgb=4 / 255)  # JPEG: near-exact on flat 8x8 blocks
    assert train[1]["name"] == "nyu/kitchen_0028b/rgb_00046"
    rgb, dep = truth["test/bathroom/507"]
    s = test[0]
    check_sample({k: v for k, v in s.items() if k != "seen"}, rgb, dep, NYU_K, 0, atol_rgb=4 / 255)
    assert s["seen"] is True
    assert s["depth"][0, 0, -1] == 0.0 and s["depth"][0, 0, 0] == pytest.approx(0.001)


def test_nyu_bts_errors(tmp_path: Path) -> None:
    root = tmp_path / "nyu_depth_v2"
    write_nyu_bts(root)
    (root / "nyudepthv2_test_files_with_gt.txt").rename(root / "elsewhere.txt")
    with pytest.raises(DatasetFormatError, match="nyudepthv2_test_files_with_gt.txt"):
        NYUDataset(root, "test")
    assert len(NYUDataset(root, "test", list_file=root / "elsewhere.txt")) == 1
    (root / "sync" / "kitchen_0028b" / "sync_depth_00046.png").unlink()
    with pytest.raises(DatasetFormatError, match="sync_depth_00046.png"):
        NYUDataset(root, "train")
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(root / "sync" / "kitchen_0028b" / "sync_depth_00046.png")
    ds = NYUDataset(root, "train")
    with pytest.raises(DatasetFormatError, match="16-bit"):
        ds[1]


# ---------------------------------------------------------------------------------------------- ScanNet
def write_scannet_scene(scene: Path, frames: list[str], layout: str, seed: int) -> dict:
    """One ROB scene: 'zip' = color_rob/ + depth/ + intrinsic_depth/<frame>.txt (9 numbers);
    'sens' = color_rob/%010d.png + depth_rob/ + intrinsic_rob/ (reader.py --rob)."""
    depth_dir, k_dir = ("depth", "intrinsic_depth") if layout == "zip" else ("depth_rob", "intrinsic_rob")
    truth = {}
    for j, fr in enumerate(frames):
        rgb, counts = pattern_rgb(H, W, seed + j), depth_counts(H, W, seed + j)
        save_rgb(scene / "color_rob" / f"{fr}.png", rgb)
        save_png16(scene / depth_dir / f"{fr}.png", counts)
        k = np.array([[577.5 + j, 0, 319.5], [0, 578.25, 239.5 - j], [0, 0, 1]])
        (scene / k_dir).mkdir(parents=True, exist_ok=True)
        (scene / k_dir / f"{fr}.txt").write_text(" ".join(f"{v:f}" for v in k.reshape(-1)) + " ")
        truth[fr] = (rgb, counts.astype(np.float32) / 256.0, k)
    return truth


def test_scannet_rob_layouts(tmp_path: Path) -> None:
    root = tmp_path / "datasets_ScanNet"
    t0 = write_scannet_scene(root / "train" / "scene0000_00", ["0", "200", "1000"], "zip", 0)
    t1 = write_scannet_scene(root / "train" / "scene0002_01", ["0000000000"], "sens", 10)
    write_scannet_scene(root / "val" / "scene0001_00", ["0"], "zip", 20)
    train = ScanNetROBDataset(root, "train")
    assert [train[i]["name"] for i in range(len(train))] == [
        "scannet/scene0000_00/0",
        "scannet/scene0000_00/200",
        "scannet/scene0000_00/1000",  # numeric order
        "scannet/scene0002_01/0000000000",
    ]
    for i, fr in enumerate(["0", "200", "1000"]):
        check_sample(train[i], *t0[fr], 0)
    check_sample(train[3], *t1["0000000000"], 0)
    assert train[0]["depth"][0, 0, -1] == 0.0
    assert len(ScanNetROBDataset(root, "val")) == 1
    assert len(ScanNetROBDataset(root, "train", frame_step=2)) == 3  # frames 0, 1000 of scene0000_00 + 1


def test_scannet_full_res_color_and_scene_intrinsics(tmp_path: Path) -> None:
    scene = tmp_path / "root" / "test" / "scene0707_00"
    save_rgb(scene / "color" / "0.jpg", block_rgb(2 * H * 4, 2 * W * 4, 0))  # full-res colour, 2x the depth
    save_png16(scene / "depth" / "0.png", depth_counts(H * 4, W * 4, 0))
    k4 = np.eye(4)
    k4[0, 0], k4[1, 1], k4[0, 2], k4[1, 2] = 577.0, 578.0, 319.0, 239.0
    (scene / "intrinsic_depth").mkdir()
    np.savetxt(scene / "intrinsic_depth" / "intrinsic_depth.txt", k4, fmt="%f")  # SensReader's 4x4 form
    s = ScanNetROBDataset(tmp_path / "root", "test")[0]
    assert s["rgb"].shape == (3, H * 4, W * 4)
    assert torch.equal(s["intrinsics"], torch.tensor(k4[:3, :3], dtype=torch.float32))


def test_scannet_split_list_and_errors(tmp_path: Path) -> None:
    root = tmp_path / "datasets_ScanNet"
    write_scannet_scene(root / "scene0000_00", ["0"], "zip", 0)  # before assign_scenes_to_split.py
    write_scannet_scene(root / "train" / "scene0001_00", ["0", "1"], "zip", 0)
    (tmp_path / "scannet_train.txt").write_text("scene0001_00\nscene0000_00\n")
    ds = ScanNetROBDataset(root, "train", split_file=tmp_path / "scannet_train.txt")
    assert [ds[i]["name"] for i in range(len(ds))] == [
        "scannet/scene0001_00/0",
        "scannet/scene0001_00/1",
        "scannet/scene0000_00/0",
    ]
    with pytest.raises(DatasetFormatError, match="val"):
        ScanNetROBDataset(root, "val")
    with pytest.raises(ValueError, match="unknown split"):
        ScanNetROBDataset(root, "training")
    (tmp_path / "bad.txt").write_text("scene0999_00\n")
    with pytest.raises(DatasetFormatError, match="scene0999_00"):
        ScanNetROBDataset(root, "train", split_file=tmp_path / "bad.txt")
    (root / "train" / "scene0001_00" / "depth" / "1.png").unlink()
    with pytest.raises(DatasetFormatError, match=r"depth map of .*color_rob/1\.png"):
        ScanNetROBDataset(root, "train")
    save_png16(root / "train" / "scene0001_00" / "depth" / "1.png", depth_counts(H, W, 0))
    for p in (root / "train" / "scene0001_00" / "intrinsic_depth").iterdir():
        p.unlink()
    (root / "train" / "scene0001_00" / "intrinsic_depth").rmdir()
    with pytest.raises(DatasetFormatError, match="intrinsic_rob, intrinsic_depth"):
        ScanNetROBDataset(root, "train")


# ---------------------------------------------------------------------------------------------- KITTI
P2 = np.array([[721.5377, 0, 609.5593, 44.85728], [0, 721.5377, 172.854, 0.2163791], [0, 0, 1, 0.002745884]])
# The real P_rect_03 shares P_rect_02's 3x3; this one differs so reading the wrong camera's matrix fails.
P3 = np.array([[707.0493, 0, 604.0814, -379.7842], [0, 707.5493, 180.5066, 2.199936], [0, 0, 1, 0.002729905]])


def write_kitti(root: Path) -> dict:
    """data_depth_annotated/{train,val}/<drive>/proj_depth/groundtruth/image_0X + raw drives + calib."""
    date = "2011_09_26"
    calib = (
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        + "S_rect_02: 6.000000e+00 4.000000e+00\n"
        + "P_rect_02: "
        + " ".join(f"{v:e}" for v in P2.reshape(-1))
        + "\n"
        + "P_rect_03: "
        + " ".join(f"{v:e}" for v in P3.reshape(-1))
        + "\n"
    )
    (root / date).mkdir(parents=True)
    (root / date / "calib_cam_to_cam.txt").write_text(calib)
    truth = {}
    plan = [("train", "2011_09_26_drive_0001_sync", [5, 6]), ("val", "2011_09_26_drive_0002_sync", [5, 69])]
    seed = 0
    for split, drive, frames in plan:
        for fr in frames:
            for cam in ("image_02", "image_03"):
                seed += 1
                rgb, counts = pattern_rgb(H, W, seed), depth_counts(H, W, seed)
                save_rgb(root / date / drive / cam / "data" / f"{fr:010d}.png", rgb)
                gt = root / "data_depth_annotated" / split / drive / "proj_depth" / "groundtruth" / cam
                save_png16(gt / f"{fr:010d}.png", counts)
                k = (P2 if cam == "image_02" else P3)[:, :3]
                truth[f"{drive}/{cam}/{fr:010d}"] = (rgb, counts.astype(np.float32) / 256.0, k)
    # a raw frame without annotated depth (as in 45 frames of the original Eigen test list)
    save_rgb(root / date / "2011_09_26_drive_0002_sync" / "image_02" / "data" / "0000000000.png", pattern_rgb(H, W, 99))
    return truth


def test_kitti_annotated_train_val(tmp_path: Path) -> None:
    truth = write_kitti(tmp_path)
    train = KITTIDepthDataset(tmp_path, "train")
    names = [train[i]["name"] for i in range(len(train))]
    assert names == [
        "kitti/2011_09_26_drive_0001_sync/image_02/0000000005",
        "kitti/2011_09_26_drive_0001_sync/image_02/0000000006",
        "kitti/2011_09_26_drive_0001_sync/image_03/0000000005",
        "kitti/2011_09_26_drive_0001_sync/image_03/0000000006",
    ]
    for i, n in enumerate(names):
        check_sample(train[i], *truth[n.removeprefix("kitti/")], 1)
    s = train[0]
    assert s["depth"][0, 0, -1] == 0.0 and s["depth"][0, 0, 0] == pytest.approx(truth[names[0][6:]][1][0, 0])
    val = KITTIDepthDataset(tmp_path, "val", cameras=("image_03",))
    assert len(val) == 2 and all("image_03" in val[i]["name"] for i in range(2))
    batch = next(iter(DataLoader(val, batch_size=2)))
    assert batch["depth"].shape == (2, 1, H, W) and batch["range"].tolist() == [1, 1]


def test_kitti_eigen_split_formats(tmp_path: Path) -> None:
    truth = write_kitti(tmp_path)
    (tmp_path / "eigen_test_files.txt").write_text(
        "2011_09_26/2011_09_26_drive_0002_sync 69 l\n"  # monodepth2 eigen_benchmark (unpadded)
        "2011_09_26/2011_09_26_drive_0001_sync 0000000005 r\n"  # monodepth2 eigen (padded)
        "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000005.png "  # BTS eigen_test_files_with_gt
        "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000005.png 721.5377\n"
    )
    ds = KITTIDepthDataset(tmp_path, "eigen_test")
    keys = [
        "2011_09_26_drive_0002_sync/image_02/0000000069",
        "2011_09_26_drive_0001_sync/image_03/0000000005",
        "2011_09_26_drive_0002_sync/image_02/0000000005",
    ]
    assert len(ds) == 3
    for i, key in enumerate(keys):
        check_sample(ds[i], *truth[key], 1)
        assert ds[i]["name"] == f"kitti/{key}"
    lst = tmp_path / "with_missing.txt"
    lst.write_text("2011_09_26/2011_09_26_drive_0002_sync 0 l\n2011_09_26/2011_09_26_drive_0002_sync 5 l\n")
    with pytest.raises(DatasetFormatError, match="no annotated depth for .*drive_0002_sync/image_02/0000000000"):
        KITTIDepthDataset(tmp_path, "eigen_test", split_file=lst)
    assert len(KITTIDepthDataset(tmp_path, "eigen_test", split_file=lst, skip_missing_depth=True)) == 1
    lst.write_text("2011_09_26/2011_09_26_drive_0002_sync 0 x\n")
    with pytest.raises(DatasetFormatError, match="<l|r>"):
        KITTIDepthDataset(tmp_path, "eigen_test", split_file=lst)
    with pytest.raises(DatasetFormatError, match="eigen_train_files.txt"):
        KITTIDepthDataset(tmp_path, "eigen_train")


def test_kitti_val_selection(tmp_path: Path) -> None:
    sel = tmp_path / "depth_selection" / "val_selection_cropped"
    stem = "2011_09_26_drive_0002_sync_{}_0000000005_image_02"
    rgb, counts = pattern_rgb(H, W, 3), depth_counts(H, W, 3)
    save_rgb(sel / "image" / f"{stem.format('image')}.png", rgb)
    save_png16(sel / "groundtruth_depth" / f"{stem.format('groundtruth_depth')}.png", counts)
    k = np.array([[721.5377, 0, 596.5593], [0, 721.5377, 149.854], [0, 0, 1]])
    (sel / "intrinsics").mkdir()
    (sel / "intrinsics" / f"{stem.format('image')}.txt").write_text(" ".join(f"{v:f}" for v in k.reshape(-1)))
    ds = build_dataset("kitti", tmp_path, "val_selection")
    check_sample(ds[0], rgb, counts.astype(np.float32) / 256.0, k, 1)
    (sel / "groundtruth_depth" / f"{stem.format('groundtruth_depth')}.png").unlink()
    with pytest.raises(DatasetFormatError, match="groundtruth_depth_0000000005_image_02.png"):
        build_dataset("kitti", tmp_path, "val_selection")


def test_kitti_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="KITTI root"):
        KITTIDepthDataset(tmp_path / "nope", "train")
    write_kitti(tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        KITTIDepthDataset(tmp_path, "test")
    rgb = tmp_path / "2011_09_26" / "2011_09_26_drive_0001_sync" / "image_02" / "data" / "0000000006.png"
    rgb.unlink()
    with pytest.raises(DatasetFormatError, match=r"RGB frame of 2011_09_26_drive_0001_sync/image_02/0000000006"):
        KITTIDepthDataset(tmp_path, "train")
    assert len(KITTIDepthDataset(tmp_path, "train", cameras=("image_03",))) == 2
    (tmp_path / "2011_09_26" / "calib_cam_to_cam.txt").unlink()
    with pytest.raises(DatasetFormatError, match="calib_cam_to_cam.txt"):
        KITTIDepthDataset(tmp_path, "val")


# ---------------------------------------------------------------------------------------------- factory
def test_build_dataset_factory(tmp_path: Path) -> None:
    write_nyu_mat(tmp_path / "nyu")
    assert {"nyu", "nyu_mat", "scannet", "kitti"} <= set(DATASETS)
    ds = build_dataset("nyu_mat", tmp_path / "nyu", "test")
    assert isinstance(ds, NYUMatDataset) and len(ds) == 1
    assert "eigen_test" in dataset_splits("kitti") and dataset_splits("nyu_mat") == ("train", "test", "all")
    with pytest.raises(ValueError, match="unknown dataset 'sintel'"):
        build_dataset("sintel", tmp_path, "test")
    with pytest.raises(ValueError, match="no split 'val'"):
        build_dataset("nyu", tmp_path, "val")
    register_dataset("_unit_test", lambda root, split, **kw: [root, split, kw], splits=("a",))
    try:
        assert build_dataset("_unit_test", "r", "a", x=1) == ["r", "a", {"x": 1}]
    finally:
        DATASETS.pop("_unit_test")

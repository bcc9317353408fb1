"""The offline commands as a user runs them (real subprocesses): side-depth-images, side-depth-bag, side-eval-bag.
Bad input must end in one `error: ...` line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from side_ros import geometry
from side_ros.bags.io import BagReader, storage_of
from side_ros.bags.sample import GT_DEPTH_TOPIC, IMAGE_TOPIC
from side_ros.bags.testing import tiny_sample_bag

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OMP_NUM_THREADS": "1"}


def run(module: str, *args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=ROOT)


def assert_clean_error(proc: subprocess.CompletedProcess, pattern: str) -> str:
    """Non-zero exit, no traceback, exactly one `error:` line, matching `pattern`."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    import re

    assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_bags")
    return {s: tiny_sample_bag(d / s, storage=s) for s in ("mcap", "sqlite3")}


# ------------------------------------------------------------------------------------------- images
def test_images_folder_to_png_npy_colormap_ply(tmp_path, nets):
    from side_ros.scenes import render_scene

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    indoor = render_scene(5, "indoor", 64, 48)
    Image.fromarray(indoor.rgb).save(src / "room.png")
    Image.fromarray(render_scene(6, "outdoor", 128, 48).rgb).save(src / "sub" / "street.jpg")
    out = tmp_path / "out"
    k = indoor.intrinsics
    proc = run("side_ros.cli.images", src, "-o", out, "--recursive", "--formats", "png,npy,colormap,ply",
               "--intrinsics", k[0, 0], k[1, 1], k[0, 2], k[1, 2], "--intrinsics-size", 64, 48, *nets)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 image(s)" in proc.stdout
    for rel, (w, h) in (("room", (64, 48)), ("sub/street", (128, 48))):
        depth = np.load(out / f"{rel}_depth.npy")
        assert depth.shape == (h, w) and depth.dtype == np.float32
        png = np.asarray(Image.open(out / f"{rel}_depth.png"))
        assert png.dtype == np.uint16
        finite = np.isfinite(depth) & (depth * 1000 <= 65535)
        np.testing.assert_array_equal(png[finite], np.rint(depth[finite] * 1000).astype(np.uint16))
        assert (png[~finite] == 0).all()
        colours = np.asarray(Image.open(out / f"{rel}_colormap.png"))
        np.testing.assert_array_equal(colours, geometry.colorize_depth(depth, order="rgb"))
        pts, cols = geometry.read_ply(out / f"{rel}.ply")
        assert len(pts) == int(np.isfinite(depth).sum()) and cols is not None
    # The 128x48 image got intrinsics scaled from the 64x48 calibration: x by 2, y by 1.
    depth = np.load(out / "sub/street_depth.npy")
    intr = geometry.Intrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2]).scaled(2.0, 1.0)
    expected = geometry.depth_to_points(depth, intr).reshape(-1, 3)
    pts, _ = geometry.read_ply(out / "sub/street.ply")
    np.testing.assert_allclose(pts, expected[np.isfinite(expected).all(axis=1)], rtol=1e-6)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["output"] for r in rows] == ["room", "sub/street"]
    assert all(r["range"] in ("low", "high") and r["router"] == "coarse_depth" for r in rows)


def test_images_bad_input(tmp_path, nets, weights):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    assert_clean_error(run("side_ros.cli.images", tmp_path / "missing.png", "-o", tmp_path / "o", *nets),
                       "input not found")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert_clean_error(run("side_ros.cli.images", bad, "-o", tmp_path / "o", *nets), "cannot read image .*bad.png")
    assert_clean_error(run("side_ros.cli.images", good, "-o", tmp_path / "o", "--formats", "ply", *nets),
                       "PLY point clouds need the camera intrinsics")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert_clean_error(run("side_ros.cli.images", good, "-o", blocker / "out", *nets),
                       "cannot write to output folder")
    assert_clean_error(run("side_ros.cli.images", good, "-o", tmp_path / "o", "--low", tmp_path / "none.pt",
                           "--high", weights["high"], "--coarse", weights["coarse"]), "--low: weight file not found")


# ------------------------------------------------------------------------------------------- bags
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_depth_bag_command(storage, bags, nets, tmp_path):
    out = tmp_path / "out"
    other = "mcap" if storage == "sqlite3" else "sqlite3"
    proc = run("side_ros.cli.bag", bags[storage], out, "--storage", other, "--stride", 2, *nets)
    assert proc.returncode == 0, proc.stderr
    assert "3 frames from /camera/image_raw" in proc.stdout
    assert storage_of(out) == other
    with BagReader(out) as r:
        counts = {t: s.count for t, s in r.topics.items()}
        clouds = [r.deserialize(m) for m in r.messages(["/side/points"])]
    assert counts == {IMAGE_TOPIC: 3, "/camera/camera_info": 3, GT_DEPTH_TOPIC: 3, "/ground_truth/range": 3,
                      "/side/depth": 3, "/side/points": 3, "/side/depth/colormap": 3, "/side/scene": 3}
    assert [(c.width, c.height) for c in clouds] == [(32, 24), (62, 19), (32, 24)]  # --stride 2


def test_depth_bag_bad_input(bags, nets, tmp_path):
    bag = bags["mcap"]
    assert_clean_error(run("side_ros.cli.bag", bag, tmp_path / "o1", "--image-topic", "/nope", *nets),
                       "topic /nope is not in bag")
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(os.urandom(2000))
    assert_clean_error(run("side_ros.cli.bag", junk, tmp_path / "o2", *nets), "cannot read bag .*junk.mcap")
    assert_clean_error(run("side_ros.cli.bag", tmp_path / "absent", tmp_path / "o3", *nets), "bag not found")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert_clean_error(run("side_ros.cli.bag", bag, blocker / "out", *nets), "cannot create the folder")
    assert_clean_error(run("side_ros.cli.bag", bag, bags["sqlite3"], *nets), "exists already.*--overwrite")
    err = assert_clean_error(run("side_ros.cli.bag", bag, tmp_path / "o4", "--image-topic", GT_DEPTH_TOPIC, *nets),
                             "unsupported image encoding '32FC1'")
    assert "frame 0" in err
    assert not (tmp_path / "o4").exists()  # no half-written bag left behind


def test_eval_bag_bad_input(bags, tmp_path):
    assert_clean_error(run("side_ros.cli.eval_bag", bags["mcap"], "--depth-topic", GT_DEPTH_TOPIC),
                       "no LiDAR point cloud")
    assert_clean_error(run("side_ros.cli.eval_bag", tmp_path / "absent.mcap"), "bag not found")

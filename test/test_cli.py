"""The offline commands as a user runs them (real subprocesses): side-depth-images, side-depth-bag, side-eval-bag.
Bad input must end in one `error: ...` line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from side_ros import geometry
from side_ros.bags.io import BagReader, BagWriter, storage_of
from side_ros.bags.sample import GT_DEPTH_TOPIC, IMAGE_TOPIC
from side_ros.bags.testing import tiny_sample_bag
from side_ros.testing import png_bomb

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def run(module: str, *args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        cwd=ROOT,
    )


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
    proc = run(
        "side_ros.cli.images",
        src,
        "-o",
        out,
        "--recursive",
        "--formats",
        "png,npy,colormap,ply",
        "--intrinsics",
        k[0, 0],
        k[1, 1],
        k[0, 2],
        k[1, 2],
        "--intrinsics-size",
        64,
        48,
        *nets,
    )
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
    assert_clean_error(
        run("side_ros.cli.images", tmp_path / "missing.png", "-o", tmp_path / "o", *nets), "input not found"
    )
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert_clean_error(run("side_ros.cli.images", bad, "-o", tmp_path / "o", *nets), "cannot read image .*bad.png")
    assert_clean_error(
        run("side_ros.cli.images", good, "-o", tmp_path / "o", "--formats", "ply", *nets),
        "PLY point clouds need the camera intrinsics",
    )
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert_clean_error(run("side_ros.cli.images", good, "-o", blocker / "out", *nets), "cannot write to output folder")
    assert_clean_error(
        run(
            "side_ros.cli.images",
            good,
            "-o",
            tmp_path / "o",
            "--low",
            tmp_path / "none.pt",
            "--high",
            weights["high"],
            "--coarse",
            weights["coarse"],
        ),
        "--low: weight file not found",
    )
    assert_clean_error(
        run(
            "side_ros.cli.images",
            good,
            "-o",
            tmp_path / "o",
            "--low",
            weights["low"],
            "--high",
            weights["high"],
            "--coarse",
            weights["high"],
        ),
        "high.pt: holds the high network .*, not a coarse network",
    )


def _tiny_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        paths.append(folder / f"im{i:03d}.png")
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def _results(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def test_images_never_replace_outputs_without_overwrite(tmp_path, nets):
    src = tmp_path / "in"
    _tiny_images(src, 2)
    out = tmp_path / "out"
    first = run("side_ros.cli.images", src, "-o", out, *nets)
    assert first.returncode == 0, first.stderr
    assert "not writable" not in first.stderr  # torch's warning about read-only NumPy arrays
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {
        "results.csv",
        "im000_depth.png",
        "im000_colormap.png",
        "im000_confidence.png",
        "im001_depth.png",
        "im001_colormap.png",
        "im001_confidence.png",
    }
    assert_clean_error(
        run("side_ros.cli.images", src, "-o", out, *nets), r"7 output file\(s\) exist already.*--overwrite"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    again = run("side_ros.cli.images", src, "-o", out, "--overwrite", *nets)
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in _results(out)] == ["ok", "ok"]


def test_images_check_every_input_before_creating_anything(tmp_path, nets, weights):
    good = _tiny_images(tmp_path / "in", 1)[0]
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(20000, 20000))  # 389 KB that decode to 400 MB
    out = tmp_path / "out"
    assert_clean_error(
        run("side_ros.cli.images", good, bomb, "-o", out, *nets),
        r"bomb.png: 20000x20000 pixels is more than --max-pixels",
    )
    assert_clean_error(
        run(
            "side_ros.cli.images",
            good,
            "-o",
            out,
            "--low",
            tmp_path / "none.pt",
            "--high",
            weights["high"],
            "--coarse",
            weights["coarse"],
        ),
        "--low: weight file not found",
    )
    assert_clean_error(
        run("side_ros.cli.images", good, "-o", out, *nets, "--camera-info", tmp_path / "no.yaml"),
        "--camera-info: file not found",
    )
    assert not out.exists()  # refused runs leave no output folder behind


def test_images_results_csv_names_what_was_not_written(tmp_path, nets):
    src = tmp_path / "in"
    _tiny_images(src, 3)
    whole = (src / "im001.png").read_bytes()
    (src / "im001.png").write_bytes(whole[: len(whole) // 2])  # the header is fine, the pixel data cut short
    out = tmp_path / "out"
    assert_clean_error(
        run("side_ros.cli.images", src, "-o", out, *nets),
        r"1 of 3 image\(s\) could not be processed; their reasons are in .*results.csv",
    )
    rows = _results(out)
    assert [(r["output"], r["status"][:30]) for r in rows] == [
        ("im000", "ok"),
        ("im001", "not written: cannot read image"),
        ("im002", "ok"),
    ]
    assert "im001.png" in rows[1]["status"]
    assert sorted(p.name for p in out.iterdir()) == [
        "im000_colormap.png",
        "im000_confidence.png",
        "im000_depth.png",
        "im002_colormap.png",
        "im002_confidence.png",
        "im002_depth.png",
        "results.csv",
    ]


def test_images_confidence_png_and_ply_min_confidence(tmp_path, nets, weights):
    from side_ros.pipeline import RobustDepthPipeline

    src = _tiny_images(tmp_path / "in", 1)[0]
    out = tmp_path / "out"
    intrinsics = ("--intrinsics", 30, 30, 15.5, 11.5)
    proc = run("side_ros.cli.images", src, "-o", out, *intrinsics, "--formats", "npy,confidence,ply", *nets)
    assert proc.returncode == 0, proc.stderr
    pipe = RobustDepthPipeline.from_files(weights["low"], weights["high"], weights["coarse"], device="cpu")
    expected = pipe(np.asarray(Image.open(src).convert("RGB")), (30.0, 30.0))
    png = np.asarray(Image.open(out / "im000_confidence.png"))
    assert png.dtype == np.uint16 and png.shape == (24, 32)
    np.testing.assert_allclose(png / 65535.0, expected.confidence, atol=1 / 65535)  # value / 65535 = confidence
    depth = np.load(out / "im000_depth.npy")
    cut = float(np.median(expected.confidence))
    proc = run(
        "side_ros.cli.images",
        src,
        "-o",
        out,
        *intrinsics,
        "--formats",
        "ply",
        "--overwrite",
        "--min-confidence",
        cut,
        *nets,
    )
    assert proc.returncode == 0, proc.stderr
    pts, _ = geometry.read_ply(out / "im000.ply")
    kept = np.isfinite(depth) & (expected.confidence >= cut)
    assert 0 < len(pts) == int(kept.sum()) < depth.size
    np.testing.assert_allclose(pts[:, 2], depth[kept], rtol=1e-6)
    assert_clean_error(
        run("side_ros.cli.images", src, "-o", tmp_path / "o2", "--min-confidence", 2, *nets),
        r"--min-confidence must be in \[0, 1\]",
    )


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
    assert counts == {
        IMAGE_TOPIC: 3,
        "/camera/camera_info": 3,
        GT_DEPTH_TOPIC: 3,
        "/ground_truth/range": 3,
        "/side/depth": 3,
        "/side/points": 3,
        "/side/depth/colormap": 3,
        "/side/scene": 3,
        "/side/depth/confidence": 3,
        "/side/depth/camera_info": 3,
    }
    assert [(c.width, c.height) for c in clouds] == [(32, 24), (62, 19), (32, 24)]  # --stride 2


def test_depth_bag_bad_input(bags, nets, tmp_path):
    bag = bags["mcap"]
    assert_clean_error(
        run("side_ros.cli.bag", bag, tmp_path / "o1", "--image-topic", "/nope", *nets), "topic /nope is not in bag"
    )
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(os.urandom(2000))
    assert_clean_error(run("side_ros.cli.bag", junk, tmp_path / "o2", *nets), "cannot read bag .*junk.mcap")
    assert_clean_error(run("side_ros.cli.bag", tmp_path / "absent", tmp_path / "o3", *nets), "bag not found")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert_clean_error(run("side_ros.cli.bag", bag, blocker / "out", *nets), "cannot create the folder")
    assert_clean_error(run("side_ros.cli.bag", bag, bags["sqlite3"], *nets), "exists already.*--overwrite")
    err = assert_clean_error(
        run("side_ros.cli.bag", bag, tmp_path / "o4", "--image-topic", GT_DEPTH_TOPIC, *nets),
        "unsupported image encoding '32FC1'",
    )
    assert "frame 0" in err
    assert not (tmp_path / "o4").exists()  # no half-written bag left behind
    damaged = _long_bag(bag, tmp_path / "damaged", 3)
    mcap = damaged / "damaged.mcap"
    data = bytearray(mcap.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2000] = bytes(2000)
    mcap.write_bytes(bytes(data))
    assert_clean_error(
        run("side_ros.cli.bag", damaged, tmp_path / "o5", *nets),
        r"checksum mismatch; corrupt data in damaged.mcap for the messages on .*/camera/image_raw at "
        r"log time \d+\.\d+ s",
    )
    assert not (tmp_path / "o5").exists()


def test_eval_bag_bad_input(bags, tmp_path):
    assert_clean_error(
        run("side_ros.cli.eval_bag", bags["mcap"], "--depth-topic", GT_DEPTH_TOPIC), "no LiDAR point cloud"
    )
    assert_clean_error(run("side_ros.cli.eval_bag", tmp_path / "absent.mcap"), "bag not found")


# ------------------------------------------------------------------------------------------- interruption
def _long_bag(src: Path, path: Path, frames: int) -> Path:
    """The tiny sample's first camera frame and camera_info, `frames` times (a run that lasts a few seconds)."""
    with BagReader(src) as r, BagWriter(path, "mcap") as w:
        first = {}
        for m in r.messages([IMAGE_TOPIC, "/camera/camera_info"]):
            first.setdefault(m.topic, m)
        for m in first.values():
            w.copy_topic(m.connection, r.typestore)
        for i in range(frames):
            for m in first.values():
                w.write_raw(m.topic, m.log_time + i * 50_000_000, m.raw)
    return path


class _Started:
    """A command started in the background, its stdout lines collected as they come."""

    def __init__(self, module: str, *args: object):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
            # A shell ignores SIGINT in what it starts with `&`, and the ignore is inherited across exec: a user's
            # command in a terminal gets the default, so the command under test does too, however pytest started.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, predicate, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, (self.lines, self.proc.stderr.read())
            assert time.monotonic() < end, "timed out"
            time.sleep(0.05)

    def signal(self, signum: int) -> subprocess.CompletedProcess:
        assert self.proc.poll() is None, self.lines  # still running: the signal interrupts the work
        self.proc.send_signal(signum)
        stderr = self.proc.stderr.read()
        self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, "".join(self.lines), stderr)


def test_sigterm_keeps_the_old_bag_and_leaves_no_partial_one(bags, nets, tmp_path):
    long = _long_bag(bags["mcap"], tmp_path / "long", 300)
    out = tmp_path / "out"
    with BagWriter(out, "mcap") as w:  # an earlier result that --overwrite is to replace
        w.write("/note", w.typestore.types["std_msgs/msg/String"](data="old"), 1)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    cmd = _Started("side_ros.cli.bag", long, out, "--overwrite", *nets)
    cmd.wait_for(lambda: any(line.startswith("side-depth-bag: ") for line in cmd.lines))  # networks loaded
    time.sleep(1.0)  # frames are being processed and written
    proc = cmd.signal(signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert_clean_error(proc, "terminated")
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["long", "out"]


def test_interrupted_images_run_lists_what_was_not_written(tmp_path, nets):
    src = tmp_path / "in"
    _tiny_images(src, 150)
    out = tmp_path / "out"
    cmd = _Started("side_ros.cli.images", src, "-o", out, *nets)
    cmd.wait_for(lambda: (out / "results.csv").exists() and len(_results(out)) >= 2)
    assert_clean_error(cmd.signal(signal.SIGINT), "interrupted")
    rows = _results(out)
    assert [r["output"] for r in rows] == [f"im{i:03d}" for i in range(150)]  # every image has its row
    status = [r["status"] for r in rows]
    done = status.count("ok")
    assert 2 <= done < 150 and status == ["ok"] * done + ["not written: interrupted"] * (150 - done)
    assert len(list(out.glob("*_depth.png"))) == done


def test_commands_use_the_coarse_checkpoints_sigma_unless_given(tmp_path, weights, bags):
    from side_ros.networks.checkpoint import load_sidenet, save_sidenet_checkpoint

    model, _ = load_sidenet(weights["coarse"])
    calibrated = save_sidenet_checkpoint(model, tmp_path / "calibrated.pt", {"recommended_sigma": 0.001})
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)).save(src / "a.png")
    nets = ["--low", weights["low"], "--high", weights["high"], "--coarse", calibrated, "--device", "cpu"]
    proc = run("side_ros.cli.images", src, "-o", tmp_path / "o1", *nets)
    assert proc.returncode == 0, proc.stderr
    assert "sigma 0.001 m (sigma calibrated for the coarse network (recommended_sigma of" in proc.stdout
    with open(tmp_path / "o1" / "results.csv") as f:
        assert next(csv.DictReader(f))["range"] == "high"  # any depth exceeds 1 mm
    proc = run("side_ros.cli.images", src, "-o", tmp_path / "o2", *nets, "--sigma", 1e6)
    assert proc.returncode == 0, proc.stderr
    assert "sigma 1000000.000 m (sigma set by the user" in proc.stdout
    with open(tmp_path / "o2" / "results.csv") as f:
        assert next(csv.DictReader(f))["range"] == "low"
    proc = run("side_ros.cli.bag", bags["mcap"], tmp_path / "bag", "--no-points", *nets)
    assert proc.returncode == 0, proc.stderr
    assert "sigma 0.001 m (sigma calibrated" in proc.stdout
    with BagReader(tmp_path / "bag") as r:
        import json

        scenes = [json.loads(r.deserialize(m).data) for m in r.messages(["/side/scene"])]
    assert {s["range"] for s in scenes} == {"high"} and {s["threshold"] for s in scenes} == {0.001}

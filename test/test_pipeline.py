"""The robust pipeline end to end on the CPU: any image size, routing switches, reloads, clear errors."""

import http.server
import math
import threading
from functools import partial

import numpy as np
import pytest
import torch

from side_ros.networks import CheckpointError, DSSIDENet, coarse_config, high_range_config, low_range_config
from side_ros.networks.checkpoint import save_sidenet_checkpoint
from side_ros.networks.places365 import WideResNet18Places365, save_places365_official_layout
from side_ros.pipeline import RobustDepthPipeline, resolve_device
from side_ros.preprocess import fitted_size, prepare, restore
from side_ros.routing import download


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(1)
    return {
        "low": save_sidenet_checkpoint(DSSIDENet(low_range_config(input_size=(64, 48))), d / "low.pt"),
        "high": save_sidenet_checkpoint(DSSIDENet(high_range_config(input_size=(96, 32))), d / "high.pt"),
        "coarse": save_sidenet_checkpoint(DSSIDENet(coarse_config(input_size=(64, 48))), d / "coarse.pt"),
        "places": save_places365_official_layout(WideResNet18Places365(), d / "wideresnet18_places365.pth.tar"),
    }


@pytest.fixture()
def pipe(weights) -> RobustDepthPipeline:
    return RobustDepthPipeline.from_files(
        weights["low"], weights["high"], weights["coarse"], weights["places"], device="cpu"
    )


@pytest.mark.parametrize("h,w", [(480, 640), (375, 1242), (240, 320), (31, 17), (1, 1), (720, 405)])
@pytest.mark.parametrize("router", ["coarse_depth", "scene_classification", "low", "high"])
def test_depth_has_the_input_size(pipe, h: int, w: int, router: str) -> None:
    pipe.configure(router=router)
    img = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    res = pipe(img)
    assert res.depth.shape == (h, w) and res.depth.dtype == np.float32
    assert np.isfinite(res.depth).all() and (res.depth > 0).all()
    assert res.decision.router == router
    if router in ("low", "high"):
        assert res.decision.range == router
    assert set(res.timings) >= {"preprocess", "route", "depth", "postprocess"}


def test_routing_selects_the_network_of_the_range(pipe) -> None:
    img = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    pipe.configure(router="low")
    low = pipe(img)
    pipe.configure(router="high")
    high = pipe(img)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    np.testing.assert_allclose(low.depth, pipe.depth_for_range(t, "low")[0, 0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(high.depth, pipe.depth_for_range(t, "high")[0, 0].numpy(), rtol=1e-5)
    assert low.decision.range == "low" and high.decision.range == "high" and math.isnan(low.decision.score)


def test_sigma_flips_the_coarse_decision_without_reloading(pipe) -> None:
    img = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pipe.configure(router="coarse_depth")
    dmax = pipe(img).decision.score
    coarse = pipe.network("coarse")
    pipe.configure(sigma=dmax * 0.9)
    assert pipe(img).decision.range == "high"
    pipe.configure(sigma=dmax * 1.1)
    assert pipe(img).decision.range == "low"
    assert pipe.network("coarse") is coarse


def test_scene_settings_change_between_calls(pipe) -> None:
    img = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pipe.configure(router="scene_classification", voting="weighted", top_k=5)
    d = pipe(img).decision
    assert d.details["method"] == "weighted" and d.details["top_k"] == 5 and 0 <= d.score <= 1
    pipe.configure(voting="majority", top_k=365)
    d = pipe(img).decision
    assert d.details["low_votes"] == 160 and d.range == "high"  # all 365 vote: 160 indoor of 365


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sigma": -1.0}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 366}, "top_k"),
        ({"router": "magic"}, "router"),
        ({"voting": "loudest"}, "voting"),
    ],
)
def test_bad_settings_are_refused_and_old_ones_stay(pipe, kwargs: dict, match: str) -> None:
    before = dict(pipe.settings())
    with pytest.raises(ValueError, match=match):
        pipe.configure(**{"router": "low", **kwargs})
    assert dict(pipe.settings()) == before


def test_router_needing_a_missing_network_is_refused(weights) -> None:
    pipe = RobustDepthPipeline.from_files(weights["low"], weights["high"], router="low", device="cpu")
    with pytest.raises(ValueError, match="side-download-places365"):
        pipe.configure(router="scene_classification")
    with pytest.raises(ValueError, match="coarse network"):
        RobustDepthPipeline.from_files(weights["low"], weights["high"], device="cpu")


def test_reload_swaps_one_network_and_failures_keep_the_old(pipe, weights, tmp_path) -> None:
    old_high = pipe.network("high")
    with pytest.raises(FileNotFoundError):
        pipe.load_network("low", tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError):
        pipe.load_network("low", tmp_path / "corrupt.pt")
    with pytest.raises(CheckpointError, match="holds the high network .*, not a low network"):
        pipe.load_network("low", weights["high"])
    low_before = pipe.network("low")
    new = save_sidenet_checkpoint(DSSIDENet(low_range_config(input_size=(32, 32))), tmp_path / "low2.pt")
    pipe.load_network("low", new)
    assert pipe.network("low") is not low_before and pipe.network("high") is old_high
    pipe.configure(router="low")
    assert pipe(np.zeros((10, 10, 3), np.uint8)).depth.shape == (10, 10)


def test_batches_are_split_by_range(pipe) -> None:
    batch = torch.randint(0, 256, (3, 3, 40, 60), dtype=torch.uint8)
    pipe.configure(router="coarse_depth")
    dmax = [pipe(batch[i]).decision.score for i in range(3)]
    pipe.configure(sigma=float(np.median(dmax)))
    results = pipe.predict_batch(batch)
    assert [r.decision.range for r in results] == ["high" if d > np.median(dmax) else "low" for d in dmax]
    for i, r in enumerate(results):
        np.testing.assert_allclose(r.depth, pipe(batch[i]).depth, rtol=1e-4, atol=1e-4)


def test_confidence_comes_with_the_depth_at_the_image_size(pipe, weights, tmp_path) -> None:
    img = np.random.default_rng(6).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    for router in ("low", "high"):
        pipe.configure(router=router)
        res = pipe(img)
        assert res.confidence is not None and res.confidence.shape == img.shape[:2]
        assert res.confidence.dtype == np.float32 and (res.confidence >= 0).all() and (res.confidence <= 1).all()
        # the same network's own bin distribution, decoded on the canvas and mapped back like the depth
        net = pipe.network(router)
        prep = prepare(t, net.config)
        with torch.no_grad():
            logits = net(prep.tensor)["cls_logits"]
        expected = restore(net.bins.confidence(logits), prep)[0, 0].numpy()
        np.testing.assert_allclose(res.confidence, expected, atol=1e-5)
        np.testing.assert_allclose(res.depth, pipe.depth_for_range(t, router)[0, 0].numpy(), rtol=1e-5)
    # a regression inference head has no distribution: no confidence, depth as before
    reg = DSSIDENet(low_range_config(input_size=(64, 48), inference_head="reg"))
    pipe.load_network("low", save_sidenet_checkpoint(reg, tmp_path / "low_reg.pt"))
    pipe.configure(router="low")
    res = pipe(img)
    assert res.confidence is None and np.isfinite(res.depth).all()


def test_bad_images_are_refused_clearly(pipe) -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        pipe(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        pipe(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(TypeError):
        pipe([[1, 2, 3]])


def test_device_selection() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_half_on_cpu_falls_back_with_a_warning(weights) -> None:
    with pytest.warns(UserWarning, match="half precision needs CUDA"):
        pipe = RobustDepthPipeline.from_files(weights["low"], weights["high"], router="low", device="cpu", half=True)
    assert not pipe.half and "float32" in pipe.describe()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_half_matches_cpu(weights) -> None:
    img = np.random.default_rng(5).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    cpu = RobustDepthPipeline.from_files(weights["low"], weights["high"], weights["coarse"], device="cpu")
    gpu = RobustDepthPipeline.from_files(weights["low"], weights["high"], weights["coarse"], device="cuda", half=True)
    a, b = cpu(img), gpu(img)
    assert a.decision.range == b.decision.range
    np.testing.assert_allclose(a.depth, b.depth, rtol=5e-2)


@pytest.mark.parametrize(
    "h,w,mode,size",
    [
        (480, 640, "resize", (320, 240)),
        (375, 1242, "pad", (1248, 384)),
        (480, 640, "pad", (1248, 384)),
        (375, 1242, "scale_pad", (320, 240)),
        (2000, 3000, "pad", (1248, 384)),
    ],
)
def test_input_handling_geometry(h: int, w: int, mode: str, size: tuple) -> None:
    variant = "high" if mode == "pad" else "low"
    cfg = (high_range_config if variant == "high" else low_range_config)(input_size=size, input_handling=mode)
    rgb = torch.rand(1, 3, h, w)
    prep = prepare(rgb, cfg)
    m = cfg.size_multiple
    assert prep.tensor.shape[-2] % m == 0 and prep.tensor.shape[-1] % m == 0
    fh, fw = fitted_size(h, w, cfg)
    assert (prep.h, prep.w) == (fh, fw)
    if mode == "pad":
        assert prep.tensor.shape[-2:] == (384, 1248) and prep.y0 == 384 - fh and prep.x0 == 0
        assert fh <= 384 and fw <= 1248 and (fh == h or abs(fh / fw - h / w) < 0.01)
        assert prep.tensor[..., : prep.y0, :].abs().sum() == 0 and prep.tensor[..., prep.w :].abs().sum() == 0
    if mode == "resize":
        assert (fh, fw) == (240, 320) and prep.tensor.shape[-2:] == (256, 320)
    if mode == "scale_pad":
        assert fh == 240 and fw == round(1242 * 240 / 375)
    # a depth map that is the canvas row index maps back with the image's geometry
    canvas = (
        torch.arange(prep.tensor.shape[-2], dtype=torch.float32).view(1, 1, -1, 1).expand(1, 1, *prep.tensor.shape[-2:])
    )
    back = restore(canvas, prep)
    assert back.shape == (1, 1, h, w)
    assert back[0, 0, 0, 0] < back[0, 0, -1, 0] and back.min() >= prep.y0 - 1e-3


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_places365_download_from_a_local_server(weights, tmp_path, capsys) -> None:
    served = tmp_path / "srv"
    served.mkdir()
    (served / "wideresnet18_places365.pth.tar").write_bytes(weights["places"].read_bytes())
    (served / "junk.pth.tar").write_bytes(b"junk" * 100)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = tmp_path / "cache" / "w.pth.tar"
        digest = download.sha256_of(weights["places"])
        assert (
            download.main(
                ["--url", f"{base}/wideresnet18_places365.pth.tar", "--output", str(out), "--sha256", digest, "--quiet"]
            )
            == 0
        )
        assert out.read_bytes() == weights["places"].read_bytes()
        assert (tmp_path / "cache" / "w.pth.tar.sha256").read_text().split()[0] == digest
        assert download.main(["--output", str(out), "--quiet"]) == 0  # present and matching its recorded sum
        out.write_bytes(out.read_bytes()[:-1] + b"\x01")
        assert download.main(["--output", str(out), "--quiet"]) == 1  # changed since it was verified
        bad = tmp_path / "bad.pth.tar"
        assert (
            download.main(
                [
                    "--url",
                    f"{base}/wideresnet18_places365.pth.tar",
                    "--output",
                    str(bad),
                    "--sha256",
                    "0" * 64,
                    "--quiet",
                ]
            )
            == 1
        )
        assert not bad.exists()
        assert download.main(["--url", f"{base}/junk.pth.tar", "--output", str(bad), "--quiet"]) == 1
        assert download.main(["--url", f"{base}/missing", "--output", str(bad), "--quiet"]) == 1
        assert not bad.exists() and not list(tmp_path.glob("bad*.part"))
        err = capsys.readouterr().err
        assert "checksum mismatch" in err and "not a readable PyTorch checkpoint" in err and "404" in err
    finally:
        server.shutdown()


def test_sigma_and_statistic_follow_the_coarse_checkpoint_unless_set(tmp_path, weights) -> None:
    from side_ros.networks.checkpoint import load_sidenet, save_sidenet_checkpoint

    model, _ = load_sidenet(weights["coarse"])
    calibrated = save_sidenet_checkpoint(
        model, tmp_path / "calibrated.pt", {"recommended_sigma": 3.3, "recommended_statistic": "p90"}
    )
    plain = save_sidenet_checkpoint(model, tmp_path / "plain.pt")
    pipe = RobustDepthPipeline.from_files(weights["low"], weights["high"], calibrated, device="cpu")
    assert (pipe.sigma, pipe.statistic) == (3.3, "p90")
    origin = pipe.routing_origin()
    assert "recommended_sigma" in origin["sigma"] and "calibrated.pt" in origin["sigma"]
    assert "recommended_statistic" in origin["statistic"]
    # a checkpoint without a calibration: the paper's defaults, said so
    pipe.load_network("coarse", plain)
    assert (pipe.sigma, pipe.statistic) == (5.89, "max")
    assert "default" in pipe.routing_origin()["sigma"]
    # swapping back adopts the calibration again
    pipe.load_network("coarse", calibrated)
    assert pipe.sigma == 3.3
    # an explicit value always wins, also over a coarse network loaded later
    explicit = RobustDepthPipeline.from_files(weights["low"], weights["high"], calibrated, device="cpu", sigma=7.0)
    assert (explicit.sigma, explicit.statistic) == (7.0, "p90")
    assert explicit.routing_origin()["sigma"] == "set by the user"
    pipe.configure(statistic="max")
    pipe.load_network("coarse", calibrated)
    assert (pipe.sigma, pipe.statistic) == (3.3, "max")
    with pytest.raises(ValueError, match="statistic must be"):
        pipe.configure(statistic="p20")
    assert pipe.statistic == "max"


def test_pipeline_rescales_canonical_focal_networks_by_the_cameras_focal(tmp_path) -> None:
    from side_ros.networks import DSSIDENet, coarse_config, high_range_config, low_range_config
    from side_ros.networks.checkpoint import save_sidenet_checkpoint

    paths = {
        n: save_sidenet_checkpoint(DSSIDENet(c).eval(), tmp_path / f"{n}.pt")
        for n, c in (
            ("low", low_range_config(input_size=(64, 48), canonical_focal=50.0)),
            ("high", high_range_config(input_size=(96, 32), canonical_focal=50.0)),
            ("coarse", coarse_config(input_size=(64, 48), canonical_focal=50.0)),
        )
    }
    pipe = RobustDepthPipeline.from_files(paths["low"], paths["high"], paths["coarse"], device="cpu", router="low")
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    with pytest.warns(UserWarning, match="no camera focal length"):
        base = pipe(image).depth  # unknown camera: the training camera (factor 1)
    native = pipe(image, focal=(50.0, 50.0)).depth
    wide = pipe(image, focal=(35.0, 35.0)).depth
    np.testing.assert_allclose(native, base, rtol=1e-6)
    np.testing.assert_allclose(wide, base * 0.7, rtol=1e-5)
    pipe.configure(router="coarse_depth")
    d0 = pipe(image, focal=(50.0, 50.0)).decision.score
    d1 = pipe(image, focal=(100.0, 100.0)).decision.score
    assert d1 == pytest.approx(2 * d0, rel=1e-5)

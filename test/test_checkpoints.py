"""Our checkpoint format, the official Places365 layout, and clear refusals of bad files."""

import os

import pytest
import torch

from side_ros.networks import CheckpointError, DSSIDENet, high_range_config, load_sidenet, low_range_config
from side_ros.networks.checkpoint import save_sidenet_checkpoint
from side_ros.networks.config import coarse_config
from side_ros.networks.places365 import WideResNet18Places365, load_places365, save_places365_official_layout


def test_own_checkpoint_rebuilds_the_network(tmp_path) -> None:
    cfg = high_range_config(input_size=(96, 32), skip_rgb=False)
    model = DSSIDENet(cfg).eval()
    path = save_sidenet_checkpoint(model, tmp_path / "high.pt", {"trained_on": "test"})
    loaded, meta = load_sidenet(path)
    assert loaded.config == cfg and meta["trained_on"] == "test"
    x = torch.rand(1, 3, 32, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_depth(x), model.predict_depth(x))


def test_inference_only_half_checkpoint_is_small_and_close(tmp_path) -> None:
    model = DSSIDENet(high_range_config()).eval()
    full = save_sidenet_checkpoint(model, tmp_path / "full.pt")
    small = save_sidenet_checkpoint(model, tmp_path / "small.pt", inference_only=True, half=True)
    assert small.stat().st_size < 0.3 * full.stat().st_size
    loaded, _ = load_sidenet(small)
    assert loaded.reg_decoder is None and loaded.config.heads == ("soft_cl",)
    x = torch.rand(1, 3, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_depth(x), model.predict_depth(x), rtol=2e-2, atol=0)


def test_official_places365_layout_loads(tmp_path) -> None:
    ref = WideResNet18Places365().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.05)
    path = save_places365_official_layout(ref, tmp_path / "wideresnet18_places365.pth.tar")
    raw = torch.load(path, weights_only=True)
    assert all(k.startswith("module.") for k in raw["state_dict"])
    assert "module.layer2.0.downsample.0.weight" in raw["state_dict"] and "module.fc.weight" in raw["state_dict"]
    # old checkpoints lack BatchNorm's num_batches_tracked: must still load
    raw["state_dict"] = {k: v for k, v in raw["state_dict"].items() if "num_batches_tracked" not in k}
    torch.save(raw, path)
    model, meta = load_places365(path)
    assert meta["arch"] == "wideresnet18"
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))
        assert model.scene_probabilities(torch.rand(1, 3, 100, 300)).shape == (1, 365)


def test_places365_feature_map_is_14x14() -> None:
    model = WideResNet18Places365().eval()
    shapes = []
    model.layer4.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    with torch.no_grad():
        model(torch.rand(1, 3, 224, 224))
    assert shapes == [(1, 512, 14, 14)]


def test_corrupt_and_truncated_files_are_refused(tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_sidenet(bad)
    good = save_sidenet_checkpoint(DSSIDENet(high_range_config()), tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=str(cut.name)):
        load_sidenet(cut)
    with pytest.raises(CheckpointError):
        load_places365(cut)


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="weight file not found"):
        load_sidenet(tmp_path / "nope.pt")


def test_mismatched_weights_are_reported(tmp_path) -> None:
    model = DSSIDENet(high_range_config())
    path = save_sidenet_checkpoint(model, tmp_path / "h.pt")
    data = torch.load(path, weights_only=True)
    data["state_dict"]["encoder.block1.0.0.weight"] = torch.zeros(8, 3, 3, 3)
    del data["state_dict"]["cls_decoder.output.bias"]
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="shape mismatch.*|missing"):
        load_sidenet(path)
    with pytest.raises(CheckpointError, match="low-range"):
        load_sidenet(save_sidenet_checkpoint(DSSIDENet(low_range_config()), tmp_path / "l.pt"), expect_variant="high")
    # a Places365 file is not one of ours, and ours is not a Places365 file
    places = save_places365_official_layout(WideResNet18Places365(), tmp_path / "p.pth.tar")
    with pytest.raises(CheckpointError, match="not a side_ros checkpoint"):
        load_sidenet(places)
    with pytest.raises(CheckpointError, match="do not match"):
        load_places365(tmp_path / "l.pt")


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_untrusted_pickles_are_refused_without_advice_to_load_them(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "side_ros.checkpoint", "obj": object()}, path)
    with pytest.raises(CheckpointError, match="asks to create a Python object") as err:
        load_sidenet(path)
    hostile = tmp_path / "hostile.pt"
    marker = tmp_path / "ran"
    torch.save({"format": "side_ros.checkpoint", "state_dict": _RunsCode(marker)}, hostile)
    for loader in (load_sidenet, load_places365):
        with pytest.raises(CheckpointError, match=r"\(posix.system\).*possibly malicious, so it was not loaded") as err:
            loader(hostile)
        assert "trusted=True" not in str(err.value) and "weights_only" not in str(err.value)  # no advice to run it
    assert not marker.exists()


def test_checkpoint_of_another_network_is_refused_for_its_slot(tmp_path) -> None:
    from side_ros.networks.checkpoint import slot_problem
    from side_ros.pipeline import RobustDepthPipeline
    from side_ros.resources import default_model

    # The shipped files: trained as high / coarse / low (training metadata `network`).
    high, coarse, low = default_model("high"), default_model("coarse"), default_model("low")
    with pytest.raises(CheckpointError, match="holds the high network .*network: high.*, not a coarse network"):
        load_sidenet(high, slot="coarse")
    with pytest.raises(CheckpointError, match="holds the coarse network .*, not a low network"):
        load_sidenet(coarse, slot="low")  # same architecture family as low: no shape error would catch it
    for which, path in (("low", low), ("high", high), ("coarse", coarse)):
        load_sidenet(path, slot=which)
    # Without training metadata, the architecture's preset name says it; with neither, the variant decides.
    cfg = coarse_config(input_size=(64, 48))
    assert "holds the coarse network (its architecture is the coarse preset)" in slot_problem("low", cfg, {})
    assert slot_problem("low", cfg.with_(name=""), {}) is None
    assert "high-range" in slot_problem("low", high_range_config().with_(name=""), {})
    # The pipeline (the node and the commands load through it) keeps its network when a load is refused.
    pipe = RobustDepthPipeline.from_files(low, high, coarse, device="cpu")
    before = pipe.network("coarse")
    with pytest.raises(CheckpointError, match="not a coarse network"):
        pipe.load_network("coarse", high)
    assert pipe.network("coarse") is before

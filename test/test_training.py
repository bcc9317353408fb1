"""Training, resume, evaluation and export on the CPU with tiny procedural data (real commands, real files)."""

import signal
import subprocess
import sys

import pytest
import torch
import yaml

from side_ros.console import EXIT_ERROR, EXIT_INTERRUPTED
from side_ros.networks import load_sidenet
from side_ros.networks.checkpoint import read_sidenet_checkpoint, save_sidenet_checkpoint
from side_ros.training import evaluate, export, train

TINY = {
    "network": "high",
    "model": {"input_size": [64, 32]},
    "data": {
        "train": {"name": "procedural", "kinds": ["outdoor"], "seeds": [0, 4], "size": [64, 20], "cache": True},
        "val": {"name": "procedural", "kinds": ["outdoor"], "seeds": [900000, 900002], "size": [64, 20]},
        "batch_size": 2,
        "workers": 0,
        "crop": [32, 16],
    },
    "train": {"steps": 2, "val_every": 2, "ckpt_every": 1, "log_every": 1},
    "optim": {"warmup": 0},
}


def write_config(tmp_path, **changes) -> str:
    cfg = train.deep_update(TINY, changes)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_one_step_training_and_resume(tmp_path) -> None:
    cfg_path = write_config(tmp_path)
    out = tmp_path / "run"
    assert train.main([cfg_path, "--out", str(out), "--device", "cpu", "--quiet", "--set", "train.steps=1"]) == 0
    first = read_sidenet_checkpoint(out / "last.pt")
    assert first["step"] == 1 and "optimizer" in first and first["config"].variant == "high"
    assert (out / "config.yaml").is_file() and list((out / "tb").glob("events.out.tfevents.*"))
    # resume continues from step 1 to 2 with the saved optimizer state; weights change
    assert train.main([cfg_path, "--out", str(out), "--device", "cpu", "--quiet", "--resume", "auto"]) == 0
    second = read_sidenet_checkpoint(out / "last.pt")
    assert second["step"] == 2
    assert (out / "best.pt").is_file() and "abs_rel" in read_sidenet_checkpoint(out / "best.pt")["metadata"]["metrics"]
    changed = [
        k
        for k, v in first["state_dict"].items()
        if v.is_floating_point() and not torch.equal(v, second["state_dict"][k])
    ]
    assert changed
    # resuming a finished run needs more steps; with more steps and a new lr it continues on the new schedule
    assert train.main([cfg_path, "--out", str(out), "--device", "cpu", "--quiet", "--resume", "auto"]) == EXIT_ERROR
    assert (
        train.main(
            [
                cfg_path,
                "--out",
                str(out),
                "--device",
                "cpu",
                "--quiet",
                "--resume",
                "auto",
                "--set",
                "train.steps=3",
                "--set",
                "optim.lr=0.0005",
            ]
        )
        == 0
    )
    third = read_sidenet_checkpoint(out / "last.pt")
    assert third["step"] == 3 and third["optimizer"]["param_groups"][0]["initial_lr"] == 0.0005
    model, _ = load_sidenet(out / "last.pt")  # a training checkpoint is also an inference checkpoint
    assert model.predict_depth(torch.rand(1, 3, 32, 64)).shape == (1, 1, 32, 64)


def test_weight_average_is_what_checkpoints_hold_and_resume_continues_it(tmp_path, capsys) -> None:
    cfg_path = write_config(tmp_path, train={"ema": 0.5})
    out = tmp_path / "run"
    assert train.main([cfg_path, "--out", str(out), "--device", "cpu", "--quiet", "--set", "train.steps=1"]) == 0
    first = read_sidenet_checkpoint(out / "last.pt")
    assert first["metadata"]["ema"] == 0.5
    # after one step the average is the weights themselves (BN statistics included)
    for k, v in first["state_dict"].items():
        assert torch.equal(v, first["train_state_dict"][k]), k
    assert train.main([cfg_path, "--out", str(out), "--device", "cpu", "--quiet", "--resume", "auto"]) == 0
    second = read_sidenet_checkpoint(out / "last.pt")
    averaged = [k for k, v in second["state_dict"].items() if v.is_floating_point()]
    assert averaged and any(k.endswith("running_mean") for k in averaged)
    for k in averaged:  # the resumed run went on from the saved average: ema2 = 0.5 ema1 + 0.5 raw2
        expected = 0.5 * first["state_dict"][k] + 0.5 * second["train_state_dict"][k]
        torch.testing.assert_close(second["state_dict"][k], expected, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(second["state_dict"][k], second["train_state_dict"][k]) for k in averaged)
    # best.pt (what side-export ships) holds the average that validation measured
    best = read_sidenet_checkpoint(out / "best.pt")
    ref = {1: first, 2: second}[best["step"]]
    assert all(torch.equal(best["state_dict"][k], ref["state_dict"][k]) for k in averaged)
    bad = write_config(tmp_path, train={"ema": 1.5})
    assert train.main([bad, "--out", str(tmp_path / "bad"), "--device", "cpu", "--quiet"]) == EXIT_ERROR
    assert "train.ema must be a decay in (0, 1)" in capsys.readouterr().err


def test_resume_refuses_a_different_architecture(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert (
        train.main([write_config(tmp_path), "--out", str(out), "--device", "cpu", "--quiet", "--set", "train.steps=1"])
        == 0
    )
    rc = train.main(
        [
            write_config(tmp_path),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
            "--resume",
            "auto",
            "--set",
            "model.stacked=none",
        ]
    )
    assert rc == EXIT_ERROR and "architecture differs" in capsys.readouterr().err


def test_bad_configs_give_clear_errors(tmp_path, capsys) -> None:
    assert train.main([str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == EXIT_ERROR
    assert "config file not found" in capsys.readouterr().err
    assert train.main([write_config(tmp_path), "--out", str(tmp_path / "o"), "--set", "network=medium"]) == EXIT_ERROR
    assert "network must be one of" in capsys.readouterr().err
    assert (
        train.main([write_config(tmp_path), "--out", str(tmp_path / "o"), "--set", "model.stacked=aspp"]) == EXIT_ERROR
    )
    assert "invalid model settings" in capsys.readouterr().err
    assert (
        train.main([write_config(tmp_path), "--out", str(tmp_path / "o"), "--set", "data.train.seedz=[0, 2]"])
        == EXIT_ERROR
    )
    assert "data.train: cannot build" in capsys.readouterr().err and not (tmp_path / "o" / "last.pt").exists()


def test_unknown_config_keys_are_refused_with_the_known_ones(tmp_path) -> None:
    """A mistyped key used to be ignored (500 steps and lr 0.002 ran); now the command refuses it in one line."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "side_ros.training.train",
            write_config(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
            "--set",
            "train.step=10",
            "--set",
            "optim.lrr=0.5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == EXIT_ERROR and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: unknown config keys"), proc.stderr
    assert "train.step (known: " in errors[0] and "steps" in errors[0] and "optim.lrr (known: " in errors[0]
    assert not (tmp_path / "o").exists()
    for bad in (["--set", "optimizer.lr=0.1"], ["--set", "optim=0.1"], ["--set", "network.size=3"]):
        with pytest.raises(train.TrainingError):
            train.load_config(write_config(tmp_path), bad[1:])


def test_shipped_configs_parse_and_build() -> None:
    names = sorted(p.stem for p in train.CONFIG_DIR.glob("*.yaml"))
    shipped = {"low_procedural", "high_procedural", "coarse_procedural", "low_nyu", "high_kitti", "coarse_rob"}
    assert shipped <= set(names)
    for path in [*train.CONFIG_DIR.glob("*.yaml"), *train.CONFIG_DIR.glob("ablations/*.yaml")]:
        cfg = train.load_config(path)
        train.model_config(cfg)  # every ablation is a valid architecture
    t6 = train.model_config(train.load_config("ablations/table6_reg"))
    assert t6.heads == ("reg",) and t6.inference_head == "reg" and t6.input_size == (320, 240)
    assert train.model_config(train.load_config("ablations/table8_shg")).stacked == "shg"


def _procedural_seeds(spec) -> set[tuple[str, int]]:
    """(kind, seed) of every procedural scene a data spec (a dict or a list of them) names."""
    specs = spec if isinstance(spec, list) else [spec]
    return {
        (kind, seed)
        for s in specs
        if s.get("name") == "procedural"
        for kind in s.get("kinds", ("indoor", "outdoor"))
        for seed in range(*s["seeds"])
    }


def test_shipped_training_validation_and_test_scenes_never_overlap() -> None:
    import yaml

    from side_ros.training.evaluate import procedural_test_spec

    train_scenes: set[tuple[str, int]] = set()
    val_scenes: set[tuple[str, int]] = set()
    for name in ("low_procedural", "high_procedural", "coarse_procedural"):
        cfg = train.load_config(name)
        train_scenes |= _procedural_seeds(cfg["data"]["train"])
        val_scenes |= _procedural_seeds(cfg["data"]["val"])
    calibration = yaml.safe_load((train.CONFIG_DIR / "calibration" / "cde_procedural_lenses.yaml").read_text())
    calib_scenes = _procedural_seeds(calibration)
    test_scenes = _procedural_seeds(procedural_test_spec(1000))
    assert len(calib_scenes) == 128 and {k for k, _ in calib_scenes} == {"indoor", "outdoor"}
    assert not train_scenes & (val_scenes | calib_scenes | test_scenes)
    assert not test_scenes & (val_scenes | calib_scenes)
    # the calibration set is a validation set: it builds, through three lenses
    from side_ros.training.data import build_from_spec

    assert len(build_from_spec(calibration)) == 6 * 64
    assert sorted({s.get("focal_scale", 1.0) for s in calibration}) == [0.7, 1.0, 1.4]


def test_evaluate_prints_the_paper_rows(tmp_path) -> None:
    from side_ros.networks import DSSIDENet, coarse_config, high_range_config, low_range_config
    from side_ros.pipeline import RobustDepthPipeline

    paths = {
        n: save_sidenet_checkpoint(DSSIDENet(c), tmp_path / f"{n}.pt")
        for n, c in (
            ("low", low_range_config(input_size=(64, 48))),
            ("high", high_range_config(input_size=(96, 32))),
            ("coarse", coarse_config(input_size=(64, 48))),
        )
    }
    pipe = RobustDepthPipeline.from_files(paths["low"], paths["high"], paths["coarse"], device="cpu")
    data = train.build_from_spec(evaluate.procedural_test_spec(2, indoor_size=(64, 48), outdoor_size=(96, 30)))
    result = evaluate.evaluate(pipe, data, progress=False)
    assert result["n"] == {"low": 2, "high": 2}
    for range_ in ("low", "high"):
        assert list(result["tables"][range_]) == ["cde only", "routed (cde)", "oracle routing"]
    assert result["routing"]["coarse_depth"].num_images == 4
    text = evaluate.report(result)
    assert "oracle routing" in text and "routing accuracy: coarse_depth" in text
    assert pipe.router == "coarse_depth"  # evaluation restores the pipeline's settings


def test_calibrate_on_a_spec_stores_sigma_and_statistic_in_the_coarse_checkpoint(tmp_path, capsys) -> None:
    from side_ros.networks import DSSIDENet, coarse_config, high_range_config, low_range_config
    from side_ros.networks.checkpoint import read_sidenet_checkpoint

    paths = {
        n: str(save_sidenet_checkpoint(DSSIDENet(c), tmp_path / f"{n}.pt", {"note": "kept"}))
        for n, c in (
            ("low", low_range_config(input_size=(64, 48))),
            ("high", high_range_config(input_size=(96, 32))),
            ("coarse", coarse_config(input_size=(64, 48))),
        )
    }
    spec = (
        "[{name: procedural, kinds: [indoor], seeds: [900000, 900003], size: [64, 48]},"
        " {name: procedural, kinds: [outdoor], seeds: [900000, 900003], size: [96, 30], focal_scale: 1.4}]"
    )
    nets = ["--low", paths["low"], "--high", paths["high"], "--coarse", paths["coarse"], "--device", "cpu"]
    assert evaluate.main([*nets, "--calibrate-on", spec, "--store-calibration"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert set(evaluate.STATISTICS) <= set(rows)  # every statistic, side by side
    chosen = out.split("calibrated: statistic ")[1].split(",")[0]
    sigma = float(out.split("calibrated: statistic ")[1].split("sigma ")[1].split(" m")[0])
    meta = read_sidenet_checkpoint(paths["coarse"])["metadata"]
    assert meta["recommended_statistic"] == chosen and meta["recommended_sigma"] == pytest.approx(sigma, abs=1e-3)
    assert meta["note"] == "kept"  # the rest of the file's metadata survives
    assert f"| {chosen} | {sigma:.3f} |" in out
    # the shipped spec resolves by name; an explicit statistic is calibrated alone
    assert evaluate.read_spec("cde_procedural_lenses")[0]["seeds"] == [900000, 900064]
    long_inline = "[" + ", ".join(["{name: procedural, kinds: [indoor], seeds: [900000, 900001]}"] * 20) + "]"
    assert len(evaluate.read_spec(long_inline)) == 20  # longer than a file name may be: read as YAML
    assert evaluate.main([*nets, "--calibrate-on", spec, "--statistic", "p90"]) == 0
    out = capsys.readouterr().out
    assert "calibrated: statistic p90" in out and "| max |" not in out


@pytest.mark.parametrize("variant", ["low", "high"])
def test_export_parity(tmp_path, variant: str) -> None:
    from side_ros.networks import DSSIDENet, high_range_config, low_range_config

    cfg = low_range_config(input_size=(64, 64)) if variant == "low" else high_range_config(input_size=(64, 32))
    ckpt = save_sidenet_checkpoint(DSSIDENet(cfg), tmp_path / f"{variant}.pt")
    assert (
        export.main(
            [
                str(ckpt),
                "--out",
                str(tmp_path / "exp"),
                "--format",
                "torchscript",
                "onnx",
                "checkpoint",
                "--half",
                "--name",
                variant,
            ]
        )
        == 0
    )
    model, _ = load_sidenet(ckpt)
    packed, meta = load_sidenet(tmp_path / "exp" / f"{variant}.pt")
    assert packed.reg_decoder is None and meta["weights_dtype"] == "float16"
    assert (tmp_path / "exp" / f"{variant}.pt").stat().st_size < 0.3 * ckpt.stat().st_size
    ts = torch.jit.load(str(tmp_path / "exp" / f"{variant}.torchscript.pt"))
    x = torch.rand(2, 3, 96, 128)  # another size and batch than traced: the graph stays dynamic
    with torch.no_grad():
        torch.testing.assert_close(ts(x), model.predict_depth(x))
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(tmp_path / "exp" / f"{variant}.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        torch.testing.assert_close(
            torch.from_numpy(sess.run(["depth"], {"rgb": x.numpy()})[0]), model.predict_depth(x), rtol=1e-4, atol=1e-4
        )


def test_train_cli_runs_as_a_process(tmp_path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "side_ros.training.train",
            write_config(tmp_path),
            "--out",
            str(tmp_path / "p"),
            "--device",
            "cpu",
            "--set",
            "train.steps=1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p" / "last.pt").is_file() and "done:" in proc.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_training_after_writing_last_pt_and_resume_loses_no_step(tmp_path, signum) -> None:
    # checkpoints and validation far away: only the signal can write last.pt
    cfg = write_config(tmp_path, train={"steps": 10**6, "ckpt_every": 10**6, "val_every": 10**6, "log_every": 1})
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "side_ros.training.train", cfg, "--out", str(out), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = None
        for line in proc.stdout:  # the progress bar's plain line every 10 steps (tqdm.write: stdout)
            if line.startswith("step ") and "steps/s" in line:
                seen = int(line.split()[1].split("/")[0])
                break
        assert seen is not None, "training printed no step line"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, err
    state = read_sidenet_checkpoint(out / "last.pt")
    assert state["step"] >= seen and "optimizer" in state
    assert f"saved at step {state['step']}; resume with --resume auto" in err
    # the resumed run starts where the signal stopped it
    more = state["step"] + 2
    done = subprocess.run(
        [*cmd, "--resume", "auto", "--set", f"train.steps={more}"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert f"resumed from {out / 'last.pt'} at step {state['step']}" in done.stdout
    assert read_sidenet_checkpoint(out / "last.pt")["step"] == more


@pytest.mark.slow
def test_torchrun_ddp_on_two_cpu_processes(tmp_path) -> None:
    """The same command under torchrun (PyTorch DDP, gloo on the CPU): ranks agree and rank 0 writes."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "side_ros.training.train",
            write_config(tmp_path),
            "--out",
            str(tmp_path / "ddp"),
            "--device",
            "cpu",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = read_sidenet_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ckpt["step"] == 2 and ckpt["metadata"]["world_size"] == 2
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])


def test_sigma_calibration_picks_the_best_threshold(tmp_path) -> None:
    from side_ros.metrics import routing_accuracy
    from side_ros.pipeline import RobustDepthPipeline
    from side_ros.testing import tiny_checkpoints

    paths = tiny_checkpoints(tmp_path)
    pipe = RobustDepthPipeline.from_files(paths["low"], paths["high"], paths["coarse"], device="cpu")
    data = train.build_from_spec(
        evaluate.procedural_test_spec(3, start=900_000, indoor_size=(64, 48), outdoor_size=(96, 30))
    )
    sigma, acc = evaluate.calibrate_sigma(pipe, data, progress=False)

    def accuracy(s: float) -> float:
        pipe.configure(sigma=s)
        chosen = [pipe.route(data[i]["rgb"][None])[0].range for i in range(len(data))]
        return routing_accuracy(chosen, ["high" if data[i]["range"] else "low" for i in range(len(data))]).accuracy

    assert accuracy(sigma) == pytest.approx(acc)
    assert acc >= max(accuracy(5.89), accuracy(0.1), accuracy(100.0))


def test_warm_start_copies_matching_weights_and_disk_cache_renders_once(tmp_path) -> None:
    from side_ros.training.data import CachedDataset

    cfg_path = write_config(tmp_path, data={"cache_dir": str(tmp_path / "cache")})
    first = tmp_path / "first"
    assert train.main([cfg_path, "--out", str(first), "--device", "cpu", "--quiet", "--set", "train.steps=1"]) == 0
    cached = sorted((tmp_path / "cache").glob("procedural-*/*.pt"))
    assert cached, "rendered scenes are kept on disk"
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    # a second run reads the cache instead of rendering again, and starts from the first run's weights
    second = tmp_path / "second"
    assert (
        train.main(
            [
                cfg_path,
                "--out",
                str(second),
                "--device",
                "cpu",
                "--quiet",
                "--set",
                "train.steps=1",
                "--set",
                "optim.lr=0",
                "--set",
                "optim.weight_decay=0",
                "--init",
                str(first / "last.pt"),
            ]
        )
        == 0
    )
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    a, b = read_sidenet_checkpoint(first / "last.pt"), read_sidenet_checkpoint(second / "last.pt")
    conv = next(k for k in a["state_dict"] if k.endswith("weight") and a["state_dict"][k].dim() == 4)
    assert torch.equal(a["state_dict"][conv], b["state_dict"][conv])
    # a damaged cache file is rendered again, not trusted
    cached[0].write_bytes(b"garbage")
    from side_ros.training.data import build_from_spec

    ds = build_from_spec(TINY["data"]["train"], tmp_path / "cache")
    assert isinstance(ds, CachedDataset) and ds[0]["rgb"].shape[0] == 3
    # warm start from another variant is refused
    low = tmp_path / "low.pt"
    from side_ros.networks.config import low_range_config
    from side_ros.networks.sidenet import DSSIDENet

    save_sidenet_checkpoint(DSSIDENet(low_range_config(input_size=(64, 32), num_bins=8)), low)
    assert (
        train.main([cfg_path, "--out", str(tmp_path / "third"), "--device", "cpu", "--quiet", "--init", str(low)])
        == EXIT_ERROR
    )


def test_prefill_renders_every_cached_scene_once_in_parallel_and_training_then_renders_none(tmp_path, capsys) -> None:
    from side_ros.scenes import ProceduralDataset
    from side_ros.training.data import CachedDataset, build_from_spec

    # the train spec cached on disk, and a list of two specs (as the coarse config mixes indoor and outdoor)
    cache = tmp_path / "cache"
    cfg_path = write_config(
        tmp_path,
        data={
            "cache_dir": str(cache),
            "val": [
                {
                    "name": "procedural",
                    "kinds": ["outdoor"],
                    "seeds": [900000, 900002],
                    "size": [64, 20],
                    "cache": True,
                },
                {"name": "procedural", "kinds": ["indoor"], "seeds": [900000, 900001], "size": [32, 24], "cache": True},
            ],
        },
    )
    assert train.main([cfg_path, "--prefill", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "prefill: 7/7 rendered" in out and "2 processes" in out
    files = sorted(cache.glob("procedural-*/*.pt"))
    assert len(files) == 7 and len({f.parent for f in files}) == 3
    # the cached render is the scene itself, stored as uint8 RGB and float16 depth
    ds = build_from_spec(TINY["data"]["train"], cache)
    assert isinstance(ds, CachedDataset) and ds.missing() == []
    fresh = ProceduralDataset(range(0, 4), ("outdoor",), size=(64, 20))[3]
    torch.testing.assert_close(ds[3]["rgb"], fresh["rgb"], atol=0.5 / 255 + 1e-6, rtol=0)
    # nothing is rendered twice: a second prefill renders none, and a training run reads every scene from disk
    stamps = {f: f.stat().st_mtime_ns for f in files}
    threads = torch.get_num_threads()
    assert train.main([cfg_path, "--prefill", "--jobs", "1"]) == 0
    assert "prefill: 0 rendered" in capsys.readouterr().out
    assert torch.get_num_threads() == threads  # an in-process prefill leaves the caller's threads alone
    assert train.main([cfg_path, "--out", str(tmp_path / "run"), "--device", "cpu", "--quiet"]) == 0
    assert {f: f.stat().st_mtime_ns for f in cache.glob("procedural-*/*.pt")} == stamps
    # a config with nothing to keep the renders in is refused with the reason; training still needs --out
    bare = write_config(tmp_path)
    assert train.main([bare, "--prefill"]) == EXIT_ERROR
    assert "--prefill needs data.cache_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main([bare])


def test_warm_start_can_keep_chosen_tensors_fresh(tmp_path, capsys) -> None:
    """--init-skip: the named tensors keep their fresh init, every other one is copied; a prefix that names no
    tensor is refused with the module names, before any training."""
    from side_ros.networks.config import low_range_config
    from side_ros.networks.sidenet import DSSIDENet

    cfg = low_range_config(input_size=(64, 32), num_bins=8)
    torch.manual_seed(0)
    source = DSSIDENet(cfg)
    path = tmp_path / "source.pt"
    save_sidenet_checkpoint(source, path)
    torch.manual_seed(1)
    fresh = DSSIDENet(cfg)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    copied = train.init_weights_from(fresh, path, skip=("cls_decoder.output",))
    own, src = fresh.state_dict(), source.state_dict()
    skipped = [k for k in own if k.startswith("cls_decoder.output")]
    assert skipped and copied == len(own) - len(skipped)
    for k in own:
        if k in skipped:
            assert torch.equal(own[k], before[k]) and not torch.equal(own[k], src[k])
        else:
            assert torch.equal(own[k], src[k].to(own[k].dtype)), k
    cfg_path = write_config(tmp_path)
    argv = [cfg_path, "--out", str(tmp_path / "run"), "--device", "cpu", "--quiet", "--init", str(path)]
    assert train.main([*argv, "--init-skip", "cls_decoder.outptu"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "'cls_decoder.outptu' names no tensor" in err and "cls_decoder" in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cpu_mixed_precision_only_where_bf16_is_native(monkeypatch) -> None:
    cpu = torch.device("cpu")
    assert train.amp_settings(False, cpu) == (False, torch.float32)
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    assert train.amp_settings(True, cpu) == (True, torch.bfloat16)
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    assert train.amp_settings(True, cpu) == (False, torch.float32)


def test_side_eval_calibrates_each_statistic_and_stores_the_choice_in_the_coarse_checkpoint(tmp_path, capsys) -> None:
    from side_ros.networks import DSSIDENet, coarse_config, high_range_config, low_range_config
    from side_ros.pipeline import RobustDepthPipeline

    paths = {
        n: save_sidenet_checkpoint(DSSIDENet(c), tmp_path / f"{n}.pt")
        for n, c in (
            ("low", low_range_config(input_size=(64, 48))),
            ("high", high_range_config(input_size=(96, 32))),
            ("coarse", coarse_config(input_size=(64, 48))),
        )
    }
    args = [
        "--low",
        str(paths["low"]),
        "--high",
        str(paths["high"]),
        "--coarse",
        str(paths["coarse"]),
        "--device",
        "cpu",
        "--indoor-size",
        "64",
        "48",
        "--outdoor-size",
        "96",
        "30",
    ]
    assert evaluate.main([*args, "--calibrate-sigma", "2", "--store-calibration"]) == 0
    out = capsys.readouterr().out
    for st in evaluate.STATISTICS:
        assert f"| {st} |" in out
    meta = read_sidenet_checkpoint(paths["coarse"])["metadata"]
    assert meta["recommended_statistic"] in evaluate.STATISTICS and meta["recommended_sigma"] > 0
    pipe = RobustDepthPipeline.from_files(paths["low"], paths["high"], paths["coarse"], device="cpu")
    assert (pipe.sigma, pipe.statistic) == (meta["recommended_sigma"], meta["recommended_statistic"])
    # the evaluation then runs with the stored calibration and says where it came from
    assert evaluate.main([*args, "--procedural-test", "1", "--max-images", "2"]) == 0
    assert "recommended_sigma of" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate.main([*args, "--store-calibration"])


def test_best_threshold_and_statistic_choice_on_hand_made_values() -> None:
    import numpy as np

    d = np.array([1.0, 2.0, 3.0, 10.0, 12.0])
    h = np.array([False, False, False, True, True])
    sigma, acc = evaluate.best_threshold(d, h)
    assert acc == 1.0 and 3.0 < sigma < 10.0 and sigma == pytest.approx(6.5)
    table = {"max": (20.0, 0.9, 0.5), "p95": (6.0, 1.0, 0.2), "median": (4.0, 1.0, 0.8)}
    assert evaluate.choose_statistic(table) == "median"  # best accuracy, then the wider margin

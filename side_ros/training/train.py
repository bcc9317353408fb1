"""`side-train`: train a low-range, high-range or coarse DS-SIDENet with the multi-task loss (Eq. 3).

The same command runs on one CPU, one GPU, or many GPUs and machines through torchrun (PyTorch DDP):
    side-train side_ros/training/configs/low_procedural.yaml --out runs/low
    torchrun --nproc_per_node 8 -m side_ros.training.train CONFIG --out runs/low
Mixed precision with float32 master weights: on CUDA bf16 where supported, else fp16 with loss scaling; on
CPUs with native bf16 (AVX512-BF16 / AMX) bf16 autocast, which measured 1.9x faster per step than float32.
Step-based schedule, checkpoints (`last.pt` every `ckpt_every` steps and `best.pt` on validation; SIGINT or
SIGTERM finishes the step and writes `last.pt` before stopping), resume (`--resume auto` or a path), warm start
from another checkpoint's weights (`--init`), an optional moving average of the weights (`train.ema`), rendered
scenes cached on disk (`data.cache_dir`), a progress bar with steps/s and ETA (plain lines in logs), and
TensorBoard logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from side_ros.console import EXIT_ERROR, EXIT_INTERRUPTED
from side_ros.networks.checkpoint import read_sidenet_checkpoint, save_sidenet_checkpoint
from side_ros.networks.config import PRESETS, SIDENetConfig
from side_ros.networks.sidenet import DSSIDENet
from side_ros.training.data import TrainTransform, Transformed, build_from_spec

DEFAULTS: dict[str, Any] = {
    "network": "low",
    "model": {},
    "data": {
        "train": None,
        "val": None,
        "crop": None,
        "flip": True,
        "color_jitter": 0.2,
        "batch_size": 8,
        "workers": 2,
        "cache_dir": None,
        "zoom": None,
    },
    "optim": {"lr": 1e-3, "weight_decay": 1e-4, "warmup": 100, "schedule": "cosine", "grad_clip": 1.0},
    "loss": {"w_cls": 1.0, "w_reg": 1.0, "cls_target": "rounded", "w_ce": 0.0},
    "train": {
        "steps": 1000,
        "amp": True,
        "val_every": 250,
        "ckpt_every": 250,
        "log_every": 10,
        "seed": 0,
        "threads": 0,
        "channels_last": False,
        "ema": None,
    },
    "eval": {"protocol": None, "max_images": 64},
}


class TrainingError(RuntimeError):
    """A bad training configuration or environment, reported without a traceback by the CLI."""


def deep_update(base: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in new.items():
        out[k] = deep_update(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def find_config(name: str | os.PathLike) -> Path:
    """A config path, or the name of a shipped one (e.g. `low_procedural` or `ablations/table7_upproj`)."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / (str(name) if str(name).endswith(".yaml") else f"{name}.yaml")
    if shipped.is_file():
        return shipped
    raise TrainingError(
        f"config file not found: {p} (shipped configs: {', '.join(sorted(c.stem for c in CONFIG_DIR.glob('*.yaml')))})"
    )


def read_config_file(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config; `base: other.yaml` (relative to this file) is read first and this one merged over it."""
    if path.resolve() in seen:
        raise TrainingError(f"config {path} includes itself through 'base'")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TrainingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TrainingError(f"{path}: a config must be a mapping")
    base = data.pop("base", None)
    if base is None:
        return data
    return deep_update(read_config_file(find_config(path.parent / base), (*seen, path.resolve())), data)


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> dict[str, Any]:
    """Config (file or shipped name) merged over DEFAULTS, then `key.sub=value` overrides (values parsed as YAML)."""
    cfg = deep_update(DEFAULTS, {})
    if path is not None:
        cfg = deep_update(cfg, read_config_file(find_config(path)))
    for item in overrides:
        if "=" not in item:
            raise TrainingError(f"override must look like key.sub=value, got {item!r}")
        key, value = item.split("=", 1)
        node = cfg
        *parents, leaf = key.split(".")
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TrainingError(f"--set {item}: {'.'.join(parents[: i + 1])} is not a section")
        node[leaf] = yaml.safe_load(value)
    check_keys(cfg)
    if cfg["network"] not in PRESETS:
        raise TrainingError(f"network must be one of {sorted(PRESETS)}, got {cfg['network']!r}")
    if not cfg["data"]["train"]:
        raise TrainingError("data.train must name the training data, e.g. {name: procedural, seeds: [0, 800]}")
    return cfg


def check_keys(cfg: Mapping[str, Any]) -> None:
    """Refuse keys the trainer does not read, naming the known ones: a mistyped `--set optim.lrr=0.5` must not
    be ignored silently. `model` is checked by SIDENetConfig, the dataset specs by their readers."""
    problems = []
    for section, value in cfg.items():
        if section not in DEFAULTS:
            problems.append(f"{section} (known: {', '.join(DEFAULTS)})")
            continue
        known = DEFAULTS[section]
        if not isinstance(known, dict) or section == "model":
            continue
        if not isinstance(value, Mapping):
            raise TrainingError(f"config section {section} must be a mapping, got {value!r}")
        problems += [f"{section}.{k} (known: {', '.join(known)})" for k in value if k not in known]
    if problems:
        raise TrainingError("unknown config key" + ("s " if len(problems) > 1 else " ") + "; ".join(problems))


def model_config(cfg: Mapping[str, Any]) -> SIDENetConfig:
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["model"].items()}
    try:
        return PRESETS[cfg["network"]](**overrides)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"invalid model settings {dict(cfg['model'])}: {exc}") from exc


# ----------------------------------------------------------------------------- distributed helpers
def init_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda requested but CUDA is not available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_settings(enabled: bool, device: torch.device) -> tuple[bool, torch.dtype]:
    """(use autocast, dtype): bf16 on CUDA where supported else fp16; bf16 on CPUs with native bf16 only."""
    if not enabled:
        return False, torch.float32
    if device.type == "cuda":
        return True, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if cpu_has_native_bf16():
        return True, torch.bfloat16
    return False, torch.float32


def init_weights_from(model: DSSIDENet, path: str | os.PathLike, skip: Sequence[str] = ()) -> int:
    """Warm start: copy every tensor of checkpoint `path` whose name and shape match (e.g. an inference-only
    file fills encoder and classification decoder; the regression decoder keeps its fresh init). Tensors whose
    name starts with one of `skip` keep their fresh init too: a classification output layer whose softmax has
    settled into a spread it no longer leaves learns again from a fresh init, while the features below it are
    kept. Returns the number of tensors copied; a file of another architecture variant is refused."""
    own = model.state_dict()
    unknown = [p for p in skip if not any(k.startswith(p) for k in own)]
    if unknown:
        raise TrainingError(
            f"--init-skip {unknown[0]!r} names no tensor of this network "
            f"(top-level modules: {sorted({k.split('.')[0] for k in own})})"
        )
    state = read_sidenet_checkpoint(path)
    if state["config"].variant != model.config.variant:
        raise TrainingError(
            f"--init {path}: a {state['config'].variant}-range network, this config trains "
            f"a {model.config.variant}-range one"
        )
    take = {
        k: v.float() if v.is_floating_point() else v
        for k, v in state["state_dict"].items()
        if k in own and own[k].shape == v.shape and not any(k.startswith(p) for p in skip)
    }
    if not take:
        raise TrainingError(f"--init {path}: no tensor matches this network")
    model.load_state_dict(take, strict=False)
    return len(take)


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal after writing `last.pt` at `step` (a resume loses no step)."""

    def __init__(self, step: int, path: Path | None):
        super().__init__(f"stopped at step {step}")
        self.step, self.path = step, path


class StopRequest:
    """SIGINT / SIGTERM during training: note it, so the loop ends the current step, writes `last.pt` and
    stops; a second signal stops at once. Installed only in the main thread of a single-process run (torchrun
    owns the signals of its workers)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if self.enabled:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


# ----------------------------------------------------------------------------- schedule
def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Linear warm-up, then cosine or polynomial (0.9) decay to zero at `total`."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "poly":
        return (1 - progress) ** 0.9
    return 1.0


# ----------------------------------------------------------------------------- validation
@torch.no_grad()
def validate(
    model: DSSIDENet, dataset: Dataset, device: torch.device, protocol: str | None, max_images: int
) -> dict[str, float]:
    """Metrics of the inference branch on whole images, through the same input handling as inference."""
    from side_ros.metrics import DepthMetricAccumulator
    from side_ros.preprocess import predict_depth

    model.eval()
    acc = DepthMetricAccumulator(protocol=protocol)
    for i in range(min(len(dataset), max_images)):  # type: ignore[arg-type]
        s = dataset[i]
        K = s.get("intrinsics")
        focal = (float(K[0][0]), float(K[1][1])) if K is not None else None
        pred = predict_depth(model, s["rgb"][None].to(device), focal)[0, 0]
        acc.update(pred.cpu().numpy(), s["depth"][0].numpy())
    model.train()
    return acc.compute()


def weight_average(model: DSSIDENet, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of the weights and BN statistics (`train.ema`: the decay, e.g. 0.998).

    Small CPU batches make the last weights noisy (validation REL wandered by 10 % between checkpoints); the
    average is what validation measures, `best.pt` / `last.pt` hold and `side-export` ships.
    """
    if not decay:
        return None
    if not 0.0 < float(decay) < 1.0:
        raise TrainingError(f"train.ema must be a decay in (0, 1), e.g. 0.998; got {decay!r}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(float(decay)), use_buffers=True)


# ----------------------------------------------------------------------------- training
def train(
    cfg: Mapping[str, Any],
    out: Path,
    *,
    resume: str | None = None,
    device_name: str = "auto",
    quiet: bool = False,
    init: str | os.PathLike | None = None,
    init_skip: Sequence[str] = (),
) -> Path:
    """Run training; returns the path of the final checkpoint (`last.pt`)."""
    from side_ros.training.losses import MultiTaskLoss

    rank, world, local_rank = init_distributed()
    device = pick_device(device_name, local_rank)
    main_proc = rank == 0
    tcfg, dcfg, ocfg = cfg["train"], cfg["data"], cfg["optim"]
    if int(tcfg.get("threads") or 0) > 0:
        torch.set_num_threads(int(tcfg["threads"]))
    torch.manual_seed(int(tcfg["seed"]) + rank)
    mcfg = model_config(cfg)
    model = DSSIDENet(mcfg)
    resume_path = out / "last.pt" if resume == "auto" else (Path(resume) if resume else None)
    if init is not None and not (resume_path is not None and resume_path.is_file()):
        copied = init_weights_from(model, init, init_skip)
        if main_proc and not quiet:
            print(f"initialized {copied} tensors from {init}")
    channels_last = bool(tcfg.get("channels_last"))
    model = model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    if world > 1 and device.type == "cuda":  # SyncBatchNorm is CUDA-only; gloo CPU runs keep per-rank BN
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ema = weight_average(model, tcfg.get("ema"))
    criterion = MultiTaskLoss(
        mcfg.bins,
        heads=mcfg.heads,
        w_cls=cfg["loss"]["w_cls"],
        w_reg=cfg["loss"]["w_reg"],
        cls_target=cfg["loss"].get("cls_target", "rounded"),
        w_ce=float(cfg["loss"].get("w_ce", 0.0)),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(ocfg["lr"]), weight_decay=float(ocfg["weight_decay"]))
    steps = int(tcfg["steps"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, steps, int(ocfg["warmup"]), ocfg["schedule"])
    )
    use_amp, amp_dtype = amp_settings(bool(tcfg["amp"]), device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and device.type == "cuda" and amp_dtype == torch.float16)
    if main_proc and not quiet:
        print(
            f"device {device}, {torch.get_num_threads()} threads, "
            f"{'autocast ' + str(amp_dtype).removeprefix('torch.') if use_amp else 'float32'}"
            f"{', channels_last' if channels_last else ''}"
        )

    out.mkdir(parents=True, exist_ok=True)
    step, best = 0, math.inf
    if resume_path is not None and resume_path.is_file():
        state = read_sidenet_checkpoint(resume_path)
        if state["config"] != mcfg:
            raise TrainingError(f"{resume_path}: checkpoint architecture differs from the config; not resuming")
        # With an EMA the file's weights are the average (what validation measured and export ships); the raw
        # weights the optimizer steps are kept beside them.
        model.load_state_dict(state.get("train_state_dict", state["state_dict"]))
        if ema is not None:
            if "train_state_dict" in state:
                ema.module.load_state_dict(state["state_dict"])
            else:  # a run without EMA resumed with one: the average starts from its weights
                ema.module.load_state_dict(model.state_dict())
            ema.n_averaged.fill_(max(int(state["step"]), 1))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state.get("scaler", {}))
        step, best = int(state["step"]), float(state.get("best", math.inf))
        # The schedule follows the config, not the file: resuming with more steps or another lr continues from
        # the saved step on the new schedule (a warm restart when the old one had already decayed).
        scheduler.base_lrs = [float(ocfg["lr"])] * len(optimizer.param_groups)
        for group in optimizer.param_groups:
            group["initial_lr"] = float(ocfg["lr"])
            group["lr"] = float(ocfg["lr"]) * lr_factor(step, steps, int(ocfg["warmup"]), ocfg["schedule"])
        if step >= steps:
            raise TrainingError(f"{resume_path} is already at step {step} of {steps}; raise train.steps to go on")
        if main_proc and not quiet:
            print(f"resumed from {resume_path} at step {step}")
    elif resume not in (None, "auto"):
        raise TrainingError(f"cannot resume: {resume_path} does not exist")

    cache_dir = dcfg.get("cache_dir")
    datasets = {}
    for split in ("train", "val"):
        try:
            datasets[split] = build_from_spec(dcfg[split], cache_dir) if dcfg.get(split) else None
        except (TypeError, KeyError) as exc:  # an option the reader does not take, a key it needs
            raise TrainingError(f"data.{split}: cannot build {dcfg[split]!r}: {exc}") from exc
    train_set = Transformed(
        datasets["train"],
        TrainTransform(mcfg, dcfg.get("crop"), dcfg["flip"], float(dcfg["color_jitter"]), zoom=dcfg.get("zoom")),
    )
    val_set = datasets["val"]
    sampler = (
        DistributedSampler(train_set, world, rank, shuffle=True, seed=int(tcfg["seed"]))
        if world > 1
        else RandomSampler(train_set, replacement=True, num_samples=10**9)
    )
    loader = DataLoader(
        train_set,
        batch_size=int(dcfg["batch_size"]),
        sampler=sampler,
        num_workers=int(dcfg["workers"]),
        drop_last=True,
        pin_memory=device.type == "cuda",
        persistent_workers=int(dcfg["workers"]) > 0,
    )
    ddp_model = (
        torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
        if world > 1
        else model
    )

    writer = None
    if main_proc:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))
        (out / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(cfg)), sort_keys=False))
    bar = None
    if main_proc and not quiet:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=step, desc=f"train {cfg['network']}", dynamic_ncols=True)

    def save(name: str, metrics: Mapping[str, float] | None = None) -> Path:
        meta = {
            "network": cfg["network"],
            "step": step,
            "device": str(device),
            "world_size": world,
            "metrics": dict(metrics or {}),
            "ema": tcfg.get("ema"),
        }
        extra = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "best": best,
            "train_config": json.loads(json.dumps(cfg)),
        }
        if ema is not None:
            extra["train_state_dict"] = model.state_dict()
        return save_sidenet_checkpoint(ema.module if ema is not None else model, out / name, meta, extra=extra)

    model.train()
    with StopRequest(enabled=world == 1) as stop:
        epoch, t_start = 0, time.time()
        rate_step, rate_t = step, time.time()
        while step < steps:
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            for batch in loader:
                rgb = batch["rgb"].to(device, non_blocking=True)
                if channels_last:
                    rgb = rgb.contiguous(memory_format=torch.channels_last)
                gt = batch["depth"].to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    outputs = ddp_model(rgb, branches=("cl", "reg"))
                total, parts = criterion({k: v.float() for k, v in outputs.items()}, gt)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(total).backward()
                if ocfg.get("grad_clip"):
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(ocfg["grad_clip"]))
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                if ema is not None:
                    ema.update_parameters(model)
                step += 1
                loss_value = float(total.detach())
                part_values = {k: float(v.detach()) for k, v in parts.items()}
                if not math.isfinite(loss_value):
                    raise TrainingError(f"loss became {loss_value} at step {step}; lower optim.lr")
                if main_proc:
                    if step % int(tcfg["log_every"]) == 0 or step == steps:
                        writer.add_scalar("loss/total", loss_value, step)
                        for k, v in part_values.items():
                            writer.add_scalar(f"loss/{k}", v, step)
                        writer.add_scalar("lr", scheduler.get_last_lr()[0], step)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss_value:.3f}", **{k: f"{v:.3f}" for k, v in part_values.items()})
                        every = 10 * int(tcfg["log_every"])
                        if not bar.disable and not sys.stderr.isatty() and (step % every == 0 or step == steps):
                            now = time.time()
                            rate = (step - rate_step) / max(now - rate_t, 1e-9)
                            rate_step, rate_t = step, now
                            eta = (steps - step) / max(rate, 1e-9)
                            bar.write(
                                f"step {step}/{steps} loss {loss_value:.4f} lr {scheduler.get_last_lr()[0]:.2e} "
                                f"{rate:.3f} steps/s ETA {eta / 60:.1f} min"
                            )
                last = step == steps
                if main_proc and val_set is not None and (step % int(tcfg["val_every"]) == 0 or last):
                    metrics = validate(
                        ema.module if ema is not None else model,
                        val_set,
                        device,
                        cfg["eval"].get("protocol"),
                        int(cfg["eval"]["max_images"]),
                    )
                    for k, v in metrics.items():
                        if isinstance(v, (int, float)) and math.isfinite(v):
                            writer.add_scalar(f"val/{k}", v, step)
                    score = metrics.get("abs_rel", math.inf)
                    if score < best:
                        best = score
                        save("best.pt", metrics)
                    if bar is not None:
                        bar.write(
                            f"step {step}: val abs_rel {metrics.get('abs_rel', math.nan):.4f} "
                            f"rmse {metrics.get('rmse', math.nan):.4f} d1 {metrics.get('delta1', math.nan):.3f}"
                        )
                if main_proc and (step % int(tcfg["ckpt_every"]) == 0 or last):
                    save("last.pt")
                if last:
                    break
                if stop.signum is not None:
                    if main_proc and not (step % int(tcfg["ckpt_every"]) == 0 or last):
                        save("last.pt")
                    if bar is not None:
                        bar.close()
                    raise Interrupted(step, out / "last.pt" if main_proc else None)
            epoch += 1
    if bar is not None:
        bar.close()
    if main_proc:
        writer.add_scalar("time/seconds", time.time() - t_start, step)
        writer.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out / "last.pt"


def prefill_caches(cfg: Mapping[str, Any], jobs: int, quiet: bool = False) -> int:
    """`side-train CONFIG --prefill`: render the train and val scenes a run will read, before it starts."""
    from side_ros.training.data import prefill

    dcfg = cfg["data"]
    if not dcfg.get("cache_dir"):
        raise TrainingError("--prefill needs data.cache_dir (where rendered scenes are kept)")
    specs = [dcfg[split] for split in ("train", "val") if dcfg.get(split)]

    shown = [-1]

    def report(done: int, total: int, seconds: float) -> None:
        if not quiet and (done == total or done * 20 // total > shown[0]):  # every 5 %
            shown[0] = done * 20 // total
            rate = done / max(seconds, 1e-9)
            print(f"prefill: {done}/{total} rendered, {rate:.1f}/s, ETA {(total - done) / rate / 60:.1f} min")

    jobs = max(1, jobs)
    rendered = prefill(specs, dcfg["cache_dir"], jobs, report)
    if not quiet:
        print(f"prefill: {rendered} rendered into {dcfg['cache_dir']} ({jobs} processes); the rest was there")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="YAML training config (see side_ros/training/configs/)")
    parser.add_argument("--out", type=Path, help="run directory: checkpoints, logs, config copy (required to train)")
    parser.add_argument("--resume", default=None, help="'auto' (out/last.pt if present) or a checkpoint path")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--init",
        default=None,
        metavar="CKPT",
        help="warm start: copy the matching weights of this checkpoint (ignored when resuming)",
    )
    parser.add_argument(
        "--init-skip",
        action="append",
        default=[],
        metavar="PREFIX",
        help="with --init: keep the fresh init of the tensors whose name starts with PREFIX "
        "(repeatable), e.g. cls_decoder.output",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.steps=10 --set data.batch_size=4",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="only render the config's cached scenes into data.cache_dir (every core), then exit",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="--prefill processes (default: all)")
    args = parser.parse_args(argv)
    if args.out is None and not args.prefill:
        parser.error("--out is required to train")
    try:
        cfg = load_config(args.config, args.overrides)
        if args.prefill:
            return prefill_caches(cfg, args.jobs, args.quiet)
        path = train(
            cfg,
            args.out,
            resume=args.resume,
            device_name=args.device,
            quiet=args.quiet,
            init=args.init,
            init_skip=args.init_skip,
        )
    except (TrainingError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Interrupted as stopped:
        print(f"interrupted: {stopped.path} saved at step {stopped.step}; resume with --resume auto", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("error: interrupted; resume with --resume auto", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"done: {path}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

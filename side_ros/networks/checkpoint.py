"""side_ros checkpoint files: architecture config + weights + metadata, so that a file alone rebuilds its network.

Layout (a `torch.save`d dict, read with `weights_only=True` so no code runs on load):
    {"format": "side_ros.checkpoint", "format_version": 1, "kind": "sidenet",
     "config": SIDENetConfig.to_dict(), "state_dict": {...}, "metadata": {...}}
Training checkpoints add "optimizer", "scheduler", "step", ... next to these keys; inference ignores them.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from side_ros.networks.config import PRESETS, SIDENetConfig
from side_ros.networks.sidenet import DSSIDENet

FORMAT = "side_ros.checkpoint"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A weight file that exists but cannot be used: unreadable, not ours, or not matching the network."""


def read_checkpoint_file(path: str | os.PathLike, *, trusted: bool = False) -> Any:
    """Load a torch file safely; missing and corrupt files get a clear message naming the path."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weight file not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            # No advice to load it unsafely: a weight file never needs that, and this one may be hostile.
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{p}: refused: the file asks to create a Python object{what}, which no weight file needs (side_ros "
                "and Places365 checkpoints hold only tensors and plain values); it is damaged or not a weight file, "
                "and possibly malicious, so it was not loaded"
            ) from exc
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint (corrupt or truncated?): {exc}") from exc
    except Exception as exc:  # torch raises many types for damaged archives (KeyError, IndexError, RuntimeError...)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"{p}: not a readable PyTorch checkpoint (corrupt or truncated?): {type(exc).__name__}: {detail}"
        ) from exc


def load_state_into(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str, ignore_missing: tuple[str, ...] = ()
) -> None:
    """load_state_dict with a readable report of missing, unexpected and mis-shaped tensors."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(ignore_missing)]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (e.g. {shapes[:2]})")
        raise CheckpointError(f"{source}: weights do not match the network: " + "; ".join(parts))
    model.load_state_dict({k: v for k, v in state.items()}, strict=False)


def sidenet_state(model: DSSIDENet, *, inference_only: bool = False, half: bool = False) -> dict[str, torch.Tensor]:
    """The weights to store; inference-only drops the branch not used at inference, half stores float16."""
    state = model.state_dict()
    if inference_only:
        drop = "cls_decoder." if model.config.inference_head == "reg" else "reg_decoder."
        state = {k: v for k, v in state.items() if not k.startswith(drop)}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def save_sidenet_checkpoint(
    model: DSSIDENet,
    path: str | os.PathLike,
    metadata: Mapping[str, Any] | None = None,
    *,
    inference_only: bool = False,
    half: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint that rebuilds `model` (atomically: a crash never leaves a half-written file)."""
    config = model.config
    if inference_only:
        heads = (config.cls_head,) if config.inference_head == "cl" else ("reg",)
        config = config.with_(heads=heads)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "sidenet",
        "config": config.to_dict(),
        "state_dict": sidenet_state(model, inference_only=inference_only, half=half),
        "metadata": dict(metadata or {}),
    }
    payload.update(extra or {})
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, p)
    return p


def read_sidenet_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate the container of one of our checkpoints (not the weights against a network)."""
    data = read_checkpoint_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a side_ros checkpoint (no 'format': '{FORMAT}' entry); "
            "official Places365 files load with load_places365()"
        )
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {data['format_version']} is newer than this "
            f"side_ros understands ({FORMAT_VERSION}); upgrade side_ros"
        )
    if data.get("kind") != "sidenet":
        raise CheckpointError(f"{path}: holds a {data.get('kind')!r} network, expected 'sidenet'")
    try:
        data["config"] = SIDENetConfig.from_dict(data["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid architecture config: {exc}") from exc
    if not isinstance(data.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no state_dict in checkpoint")
    return data


def checkpoint_network(config: SIDENetConfig, metadata: Mapping[str, Any]) -> tuple[str | None, str]:
    """Which network a checkpoint was made for ('low', 'high', 'coarse' or None when it does not say) and where
    that is written: the training metadata's `network`, else the architecture's preset name."""
    network = metadata.get("network")
    if network in PRESETS:
        return str(network), f"its training metadata says network: {network}"
    if config.name in PRESETS:
        return config.name, f"its architecture is the {config.name} preset"
    return None, "it does not say which network it is"


def slot_problem(slot: str, config: SIDENetConfig, metadata: Mapping[str, Any]) -> str | None:
    """Why a checkpoint cannot serve as the `slot` network ('low', 'high' or 'coarse'), or None.

    The three networks share one architecture family, so a wrong file loads without a shape error and then gives
    wrong depth or wrong routing; the checkpoint's own record of what it is decides. A file that does not say is
    accepted where its architecture fits (low/high by variant)."""
    if slot not in PRESETS:
        raise ValueError(f"slot must be one of {sorted(PRESETS)}, got {slot!r}")
    network, source = checkpoint_network(config, metadata)
    if network is not None and network != slot:
        return (
            f"holds the {network} network ({source}), not a {slot} network; give it as the {network} network "
            f"and a {slot} checkpoint here"
        )
    if network is None and slot in ("low", "high") and config.variant != slot:
        return f"holds a {config.variant}-range network, expected {slot}-range"
    return None


def load_sidenet(
    path: str | os.PathLike, *, expect_variant: str | None = None, slot: str | None = None
) -> tuple[DSSIDENet, dict[str, Any]]:
    """Rebuild a DS-SIDENet from one of our checkpoints; returns (model in eval mode, metadata).

    slot: the network it is loaded as ('low', 'high', 'coarse'); a checkpoint made for another one is refused
    with the reason (slot_problem). expect_variant checks the architecture only."""
    data = read_sidenet_checkpoint(path)
    config: SIDENetConfig = data["config"]
    if expect_variant is not None and config.variant != expect_variant:
        raise CheckpointError(f"{path}: holds a {config.variant}-range network, expected {expect_variant}-range")
    if slot is not None:
        problem = slot_problem(slot, config, dict(data.get("metadata") or {}))
        if problem:
            raise CheckpointError(f"{path}: {problem}")
    model = DSSIDENet(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    load_state_into(model, state, str(path))
    model.eval()
    meta = dict(data.get("metadata") or {})
    meta.setdefault("path", str(path))
    return model, meta

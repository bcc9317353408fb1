"""WideResNet-18 scene classifier exactly as the official Places365 release defines it (CSAILVision/places365,
`wideresnet.py`), loading `wideresnet18_places365.pth.tar` as published.

Differences from torchvision's ResNet-18: no max-pool after conv1, so a 224x224 input leaves a 14x14x512 map
for `AvgPool2d(14)`, then `fc` 512 -> 365. The official file is a dict whose `state_dict` keys carry the
`module.` prefix of DataParallel. Input: RGB resized to 224x224, ImageNet mean/std normalization.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from side_ros.networks.checkpoint import CheckpointError, load_state_into, read_checkpoint_file
from side_ros.networks.sidenet import IMAGENET_MEAN, IMAGENET_STD

NUM_CLASSES = 365
INPUT_SIZE = 224


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class WideResNet18Places365(nn.Module):
    """The official Places365 'wideresnet18'; parameter names match the checkpoint (after 'module.')."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(64, 2)
        self.layer2 = self._make_layer(128, 2, stride=2)
        self.layer3 = self._make_layer(256, 2, stride=2)
        self.layer4 = self._make_layer(512, 2, stride=2)
        self.avgpool = nn.AvgPool2d(14)
        self.fc = nn.Linear(512, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a normalized (N, 3, 224, 224) batch, as the official forward (no max-pool)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1], any size -> the official input: bilinear resize to 224x224 and ImageNet normalization."""
        x = F.interpolate(rgb, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def scene_probabilities(self, rgb: torch.Tensor) -> torch.Tensor:
        """Softmax over the 365 Places categories for RGB in [0, 1] of any size, (N, 365). Resizing and
        normalization run in float32, the network in its own precision."""
        x = self.preprocess(rgb.float()).to(self.conv1.weight.dtype)
        return torch.softmax(self.forward(x).float(), dim=1)


def load_places365(path: str | os.PathLike, *, trusted: bool = False) -> tuple[WideResNet18Places365, dict[str, Any]]:
    """Load `wideresnet18_places365.pth.tar` as published (dict with a 'module.'-prefixed `state_dict`).

    Also accepts a bare state_dict and keys without the prefix. BatchNorm `num_batches_tracked` buffers,
    absent from checkpoints written by old PyTorch, may be missing.
    """
    data = read_checkpoint_file(path, trusted=trusted)
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a Places365 WideResNet-18 checkpoint (no tensor state_dict)")
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    model = WideResNet18Places365()
    load_state_into(
        model,
        {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
        str(path),
        ignore_missing=("num_batches_tracked",),
    )
    model.eval()
    meta = (
        {
            k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v)
            for k, v in data.items()
            if k != "state_dict"
        }
        if isinstance(data, dict) and "state_dict" in data
        else {}
    )
    meta["path"] = str(Path(path))
    return model, meta


def save_places365_official_layout(model: WideResNet18Places365, path: str | os.PathLike, epoch: int = 0) -> Path:
    """Write a checkpoint in the official release's layout ('module.' keys under `state_dict`, arch, epoch)."""
    state = {"module." + k: v for k, v in model.state_dict().items()}
    p = Path(path)
    torch.save({"epoch": epoch, "arch": "wideresnet18", "state_dict": state, "best_prec1": 0.0}, p)
    return p

"""Tiny real networks for tests, benchmarks and robots' integration tests (ROS-free).

Random-weight low / high / coarse DS-SIDENets at tiny working sizes (fast on a CPU) saved as real checkpoint
files, and optionally a random WideResNet-18 in the official Places365 file layout. Nothing is mocked.
"""

from __future__ import annotations

import os
from pathlib import Path

TINY_SIZES = {"low": (64, 48), "high": (96, 32), "coarse": (64, 48)}


def tiny_checkpoints(
    directory: str | os.PathLike, seed: int = 0, *, places: bool = False, half: bool = False
) -> dict[str, Path]:
    """Write (once per folder) and return {"low", "high", "coarse"[, "places"]: path}.

    half=True stores float16 inference-only files, as the shipped weights are stored.
    """
    import torch

    from side_ros.networks.checkpoint import save_sidenet_checkpoint
    from side_ros.networks.config import coarse_config, high_range_config, low_range_config
    from side_ros.networks.places365 import WideResNet18Places365, save_places365_official_layout
    from side_ros.networks.sidenet import DSSIDENet

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {name: d / f"{name}.pt" for name in TINY_SIZES}
    if places:
        paths["places"] = d / "wideresnet18_places365.pth.tar"
    if all(p.is_file() for p in paths.values()):
        return paths
    torch.manual_seed(seed)
    presets = {"low": low_range_config, "high": high_range_config, "coarse": coarse_config}
    for name, size in TINY_SIZES.items():
        save_sidenet_checkpoint(
            DSSIDENet(presets[name](input_size=size)).eval(), paths[name], inference_only=half, half=half
        )
    if places:
        save_places365_official_layout(WideResNet18Places365().eval(), paths["places"])
    return paths


def png_bomb(width: int, height: int) -> bytes:
    """A valid 8-bit grey PNG of width x height zeros: a few hundred KB that decode to width*height bytes (a
    "decompression bomb", for checking that size limits are applied before decoding). Streamed, so making a
    20000x20000 one needs no 400 MB buffer."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(width + 1)  # filter byte 0, then the row's pixels
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")

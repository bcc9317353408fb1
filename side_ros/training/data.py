"""Training data: datasets from a config, per-range input handling with augmentation, and a scene cache.

Every dataset yields the shared sample dict {"rgb": 3xHxW float [0,1], "depth": 1xHxW metres (0 = invalid),
"intrinsics": 3x3, "range": 0 low / 1 high, "name": str}. Training samples are brought to the network's
working geometry the way inference does it (`side_ros.preprocess`), then randomly cropped to a fixed size so
they batch, flipped and colour-jittered. A canonical-focal network (`canonical_focal` > 0) learns depth in
canonical-focal units: the target is depth * canonical_focal / (the sample's focal on the canvas). Depth is
resized with the losses' valid-aware nearest neighbour, so sparse LiDAR ground truth keeps its measurements
and is never interpolated between valid and invalid pixels.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset

from side_ros.networks.config import SIDENetConfig
from side_ros.preprocess import fitted_size, focal_factor, resize
from side_ros.training.losses import resize_depth_nearest


def build_from_spec(spec: Mapping[str, Any], cache_dir: str | os.PathLike | None = None) -> Dataset:
    """A dataset from a config entry: {"name": ..., "root": ..., "split": ..., other reader options}.

    `name: procedural` takes {"seeds": [start, stop], "kinds": [...], "size": [w, h], "sparse_lidar": bool,
    "focal_range": [low, high], "cache": bool}; a list of specs is concatenated (e.g. indoor + outdoor for the
    coarse network). With `cache: true` and a `cache_dir`, samples are also kept on disk under a folder named
    by the spec's hash, so a resumed or repeated run renders no scene twice.
    """
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return ConcatDataset([build_from_spec(s, cache_dir) for s in spec])
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    spec = dict(spec)
    name = spec.pop("name")
    cache = spec.pop("cache", False)
    if name == "procedural":
        from side_ros.scenes import ProceduralDataset

        start, stop = spec.pop("seeds")
        size = spec.pop("size", None)
        ds: Dataset = ProceduralDataset(
            range(int(start), int(stop)),
            tuple(spec.pop("kinds", ("indoor", "outdoor"))),
            size=tuple(size) if size else None,
            **spec,
        )
    else:
        from side_ros.training.datasets import build_dataset

        ds = build_dataset(name, spec.pop("root"), spec.pop("split"), **spec)
    if not cache:
        return ds
    return CachedDataset(ds, Path(cache_dir) / f"{name}-{key}" if cache_dir is not None else None)


class CachedDataset(Dataset):
    """Keeps every sample in memory after its first read (uint8 RGB, float16 depth: 5 bytes/pixel), and on disk
    under `directory` when given (one small file per sample, written atomically).

    For procedural scenes, which cost a render per read, and small real subsets; not for full datasets.
    """

    def __init__(self, base: Dataset, directory: str | os.PathLike | None = None):
        self.base = base
        self.directory = Path(directory) if directory is not None else None
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def _from_disk(self, i: int) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        path = self.directory / f"{i:07d}.pt"
        if not path.is_file():
            return None
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a damaged cache file is re-rendered, never trusted
            return None

    def _to_disk(self, i: int, item: dict[str, Any]) -> None:
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{i:07d}.pt"
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            torch.save(item, tmp)
            os.replace(tmp, path)
        except OSError:  # a full or read-only disk costs renders later, not the run
            pass

    def _render(self, i: int) -> dict[str, Any]:
        s = self.base[i]
        item = {**s, "rgb": (s["rgb"] * 255).round().to(torch.uint8), "depth": s["depth"].half()}
        self._to_disk(i, item)
        return item

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self._items.get(i)
        if item is None:
            item = self._from_disk(i)
            if item is None:
                item = self._render(i)
            self._items[i] = item
        return {**item, "rgb": item["rgb"].float() / 255, "depth": item["depth"].float()}

    def missing(self) -> list[int]:
        """Indices with no file on disk yet: what a prefill renders (to disk only, not kept in memory)."""
        have = {p.name for p in self.directory.glob("*.pt")} if self.directory and self.directory.is_dir() else set()
        return [i for i in range(len(self)) if f"{i:07d}.pt" not in have]


def cached_parts(ds: Dataset) -> list[CachedDataset]:
    """The disk-cached datasets inside a built spec: one, or one per entry of a list of specs."""
    if isinstance(ds, ConcatDataset):
        return [p for d in ds.datasets for p in cached_parts(d)]
    return [ds] if isinstance(ds, CachedDataset) and ds.directory is not None else []


_WORKER_PARTS: dict[str, list[CachedDataset]] = {}


def _fill_chunk(spec_json: str, cache_dir: str, part: int, indices: list[int]) -> int:
    """Prefill job: builds the spec once per process and renders these missing samples of one part."""
    if spec_json not in _WORKER_PARTS:
        _WORKER_PARTS[spec_json] = cached_parts(build_from_spec(json.loads(spec_json), cache_dir))
    for i in indices:
        _WORKER_PARTS[spec_json][part]._render(i)
    return len(indices)


def _one_thread() -> None:
    torch.set_num_threads(1)  # prefill processes, not their threads, share the cores


def prefill(
    specs: Sequence[Any],
    cache_dir: str | os.PathLike,
    jobs: int,
    report: Callable[[int, int, float], None] | None = None,
    chunk: int = 25,
) -> int:
    """Render every cached sample of these data specs that is not on disk yet, with `jobs` processes.

    Rendering inside a training step leaves the other core idle and stalls the step; filling the cache first
    uses every core and the run then only reads. Returns how many samples were rendered; `report(done, total,
    seconds)` is called as chunks finish.
    """
    import concurrent.futures as cf
    import contextlib
    import multiprocessing
    import time

    work: list[tuple[str, int, list[int]]] = []
    for spec in specs:
        spec_json = json.dumps(spec, sort_keys=True, default=str)
        for k, part in enumerate(cached_parts(build_from_spec(spec, cache_dir))):
            todo = part.missing()
            work += [(spec_json, k, todo[j : j + chunk]) for j in range(0, len(todo), chunk)]
    total, done, t0 = sum(len(w[2]) for w in work), 0, time.monotonic()
    with contextlib.ExitStack() as stack:
        if jobs <= 1 or not work:  # in this process, with its threads
            counts: Iterable[int] = (_fill_chunk(w[0], str(cache_dir), w[1], w[2]) for w in work)
        else:  # spawned: no forked copy of a torch runtime with its threads running
            ctx = multiprocessing.get_context("spawn")
            pool = stack.enter_context(cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_one_thread))
            futures = [pool.submit(_fill_chunk, w[0], str(cache_dir), w[1], w[2]) for w in work]
            stack.callback(lambda: [f.cancel() for f in futures])  # an error or Ctrl-C starts nothing more
            counts = (f.result() for f in cf.as_completed(futures))
        for n in counts:
            done += n
            if report is not None:
                report(done, total, time.monotonic() - t0)
    return total


class TrainTransform:
    """Working geometry of the network's range, random crop to `crop` (w, h), flip, colour jitter.

    The crop is padded with zeros (invalid depth) where the image is smaller, e.g. the 320x240 low-range
    image becomes a 320x256 crop whose last 16 rows carry no loss.
    """

    def __init__(
        self,
        cfg: SIDENetConfig,
        crop: Sequence[int] | None = None,
        flip: bool = True,
        color_jitter: float = 0.2,
        generator: torch.Generator | None = None,
        zoom: Sequence[float] | None = None,
    ):
        self.cfg = cfg
        self.zoom = None if zoom is None else (float(zoom[0]), float(zoom[1]))
        if self.zoom is not None and not 1.0 <= self.zoom[0] <= self.zoom[1]:
            raise ValueError(f"zoom must be [low, high] with 1 <= low <= high, got {zoom!r}")
        if self.zoom is not None and not cfg.canonical_focal:
            raise ValueError("zoom augmentation changes the focal length: it needs a canonical-focal network")
        m = cfg.size_multiple
        w, h = crop if crop is not None else cfg.input_size
        self.crop = (int(math.ceil(h / m) * m), int(math.ceil(w / m) * m))  # (h, w), network multiples
        self.flip, self.jitter = flip, color_jitter
        self.gen = generator

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.gen))

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        rgb, depth = sample["rgb"], sample["depth"]
        k = 1.0
        if self.cfg.canonical_focal:
            K = sample.get("intrinsics")
            if K is None:
                raise ValueError("canonical-focal training needs each sample's 'intrinsics'")
            k = focal_factor(self.cfg, (float(K[0][0]), float(K[1][1])), rgb.shape[-2], rgb.shape[-1])
        h, w = fitted_size(rgb.shape[-2], rgb.shape[-1], self.cfg)
        rgb = resize(rgb[None], (h, w))[0]
        depth = resize_depth_nearest(depth[None], (h, w))[0]
        if self.zoom is not None:  # digital zoom: a random window blown up to the full size is a longer lens
            lo, hi = self.zoom
            z = math.exp(math.log(lo) + self._rand() * (math.log(hi) - math.log(lo)))
            zh, zw = max(1, round(h / z)), max(1, round(w / z))
            if (zh, zw) != (h, w):
                y, x = int(self._rand() * (h - zh + 1)), int(self._rand() * (w - zw + 1))
                rgb = resize(rgb[None, :, y : y + zh, x : x + zw], (h, w))[0]
                depth = resize_depth_nearest(depth[None, :, y : y + zh, x : x + zw], (h, w))[0]
                k *= math.sqrt(h / zh * w / zw)
        if k != 1.0:
            depth = depth / k
        ch, cw = self.crop
        y = int(self._rand() * (h - ch + 1)) if h > ch else 0
        x = int(self._rand() * (w - cw + 1)) if w > cw else 0
        rgb, depth = rgb[:, y : y + ch, x : x + cw], depth[:, y : y + ch, x : x + cw]
        ph, pw = ch - rgb.shape[-2], cw - rgb.shape[-1]
        if ph or pw:
            if self.cfg.input_handling == "pad":  # KITTI style: zeros on top and on the right
                rgb, depth = F.pad(rgb, (0, pw, ph, 0)), F.pad(depth, (0, pw, ph, 0))
            else:
                rgb, depth = F.pad(rgb, (0, pw, 0, ph)), F.pad(depth, (0, pw, 0, ph))
        if self.flip and self._rand() < 0.5:
            rgb, depth = rgb.flip(-1), depth.flip(-1)
        if self.jitter > 0:
            j = self.jitter
            bright = 1 + (self._rand() * 2 - 1) * j
            contrast = 1 + (self._rand() * 2 - 1) * j
            sat = 1 + (self._rand() * 2 - 1) * j
            gray = rgb.mean(0, keepdim=True)
            rgb = gray + (rgb - gray) * sat
            rgb = ((rgb - rgb.mean()) * contrast + rgb.mean()) * bright
            rgb = rgb.clamp(0, 1)
        return {"rgb": rgb.contiguous(), "depth": depth.contiguous(), "range": int(sample.get("range", 0))}


class Transformed(Dataset):
    """A dataset with a transform applied per item."""

    def __init__(self, base: Dataset, transform: TrainTransform):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.transform(self.base[i])

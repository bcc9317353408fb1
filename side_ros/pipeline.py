"""The robust depth pipeline (Fig. 2): route each image to a depth range, run that range's DS-SIDENet with its
input handling, return metric depth at the image's own resolution.

One object, loaded once; router, sigma, top-K and voting change between calls without reloading anything,
and one network can be swapped from a new file while the others stay. Thread-safe: the ROS node changes
parameters from its executor while inference runs in a worker thread.

Each network runs on the execution path `side_ros.execution.choose_path` picks for the device (bfloat16 depth
networks on CPUs with native bf16, float16 + CUDA graphs on CUDA, channels-last, BatchNorm folded); `describe()`
says which, and `precision` / `graph` override it. A camera stream passes a `RoutingSchedule` to route only when
needed and without flapping (`pipe(rgb, schedule=...)`); without one every image is routed on its own, as in the
paper.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from side_ros.execution import ExecutionPath, PinnedUploader, accelerate, choose_path
from side_ros.networks.checkpoint import load_sidenet
from side_ros.networks.places365 import WideResNet18Places365, load_places365
from side_ros.networks.sidenet import DSSIDENet
from side_ros.preprocess import Focal, fitted_canvas, image_to_tensor, predict_depth, predict_depth_confidence
from side_ros.routing import routers
from side_ros.routing.decision import RangeDecision
from side_ros.routing.options import (
    DEFAULT_ROUTER,
    DEFAULT_SIGMA,
    DEFAULT_STATISTIC,
    DEFAULT_TOP_K,
    DEFAULT_VOTING,
    NETWORKS,
    ROUTERS,
    ROUTING_NETWORK,
    VOTING,
    check_statistic,
)
from side_ros.routing.scenes import SceneTable
from side_ros.routing.schedule import RoutingSchedule

SCENE_PERCENTILE = 90  # the depth statistic a schedule watches for drift: this percentile of the frame's depth


@dataclass
class DepthResult:
    """depth: (H, W) float32 metres (NaN invalid); decision: the routing; timings: seconds per stage;
    confidence: (H, W) float32 in [0, 1] (DepthBins.decode: probability mass within one bin of the decoded level),
    None when the chosen network has a regression inference head."""

    depth: np.ndarray
    decision: RangeDecision
    timings: dict[str, float] = field(default_factory=dict)
    confidence: np.ndarray | None = None
    raw_decision: RangeDecision | None = None  # the router's own decision on this image: None when a schedule
    # did not run the router; without a schedule the same as `decision`, which a schedule may have smoothed


def scene_statistic(depth: np.ndarray) -> float:
    """The depth statistic a RoutingSchedule watches for drift: the 90th percentile of the valid depth, metres,
    on every 4th row and column (a robust 'how far is the scene', 1 ms at 640x480); NaN if nothing is valid."""
    sample = depth[::4, ::4]
    sample = sample[np.isfinite(sample)]
    return float(np.percentile(sample, SCENE_PERCENTILE)) if sample.size else math.nan


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error, not a silent fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but CUDA is not available (use 'auto' or 'cpu')")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")


class RobustDepthPipeline:
    """Two-stage robust SIDE.

    Networks: low and high (the two DS-SIDENets), coarse (needed by router 'coarse_depth') and places (needed
    by 'scene_classification'). Any may be None until loaded; a router whose network is missing is refused.

    sigma and statistic (the cde threshold and the coarse-map statistic compared with it) left as None follow
    the loaded coarse checkpoint (its metadata 'recommended_sigma' / 'recommended_statistic', calibrated on
    validation scenes), else the paper's 5.89 m on the maximum; a value set by the caller always wins.
    `routing_origin()` says where each came from.
    """

    def __init__(
        self,
        low: DSSIDENet | None,
        high: DSSIDENet | None,
        coarse: DSSIDENet | None = None,
        places: WideResNet18Places365 | None = None,
        *,
        scene_table: SceneTable | None = None,
        device: str = "auto",
        half: bool = False,
        precision: str = "auto",
        graph: str = "auto",
        router: str = DEFAULT_ROUTER,
        sigma: float | None = None,
        statistic: str | None = None,
        top_k: int = DEFAULT_TOP_K,
        voting: str = DEFAULT_VOTING,
    ):
        self._lock = threading.RLock()
        # the networks as loaded (float32: the reference) and as they run (on the execution path)
        self._nets: dict[str, torch.nn.Module | None] = {"low": low, "high": high, "coarse": coarse, "places": places}
        self._run: dict[str, torch.nn.Module | None] = dict.fromkeys(NETWORKS)
        self.sources: dict[str, str] = {}
        self.metadata: dict[str, dict[str, Any]] = {}  # each loaded file's metadata (training, recommended sigma)
        self.table = scene_table or SceneTable.default()
        self.router, self.sigma, self.top_k, self.voting = "low", DEFAULT_SIGMA, DEFAULT_TOP_K, DEFAULT_VOTING
        self.statistic = DEFAULT_STATISTIC
        self._explicit: set[str] = set()  # routing settings the caller chose (never replaced by a checkpoint's)
        self.warn_missing_focal = True  # callers that report a missing focal themselves (the node) turn it off
        self._warned_no_focal = False
        self.generation = 0  # changes whenever routing could decide differently (a schedule then re-routes)
        self.device = torch.device("cpu")
        self.path = ExecutionPath.reference()  # the depth networks' execution path
        self.router_path = ExecutionPath.reference()  # the routing networks' (coarse, places)
        self.half = False
        self._uploader: PinnedUploader | None = None
        self._image_sizes: list[tuple[int, int]] = []  # image sizes seen or warmed up, newest last
        self.last_raw_decision: RangeDecision | None = None  # the router's own decision on the last image
        self.set_device(device, half, precision=precision, graph=graph)
        self.configure(router=router, sigma=sigma, statistic=statistic, top_k=top_k, voting=voting)

    @classmethod
    def from_files(
        cls,
        low: str | os.PathLike | None,
        high: str | os.PathLike | None,
        coarse: str | os.PathLike | None = None,
        places: str | os.PathLike | None = None,
        *,
        router: str = DEFAULT_ROUTER,
        **kwargs: Any,
    ) -> RobustDepthPipeline:
        """Build from checkpoint files (ours for low/high/coarse, the official one for places); None = not loaded.

        Raises FileNotFoundError / CheckpointError for unusable files and ValueError if `router` needs a
        network that was not given.
        """
        pipe = cls(None, None, router="low", **kwargs)
        for which, path in (("low", low), ("high", high), ("coarse", coarse), ("places", places)):
            if path is not None:
                pipe.load_network(which, path)
        pipe.configure(router=router)
        return pipe

    # ----------------------------------------------------------------- configuration
    def network(self, which: str) -> torch.nn.Module | None:
        """The network as it runs (on the execution path), or None if not loaded."""
        return self._run[which]

    def reference_network(self, which: str) -> torch.nn.Module | None:
        """The network as loaded (float32, eval mode): the reference the execution path is checked against."""
        return self._nets[which]

    def configure(
        self,
        *,
        router: str | None = None,
        sigma: float | None = None,
        statistic: str | None = None,
        top_k: int | None = None,
        voting: str | None = None,
    ) -> None:
        """Change routing settings; all values are checked first, so a refused change leaves everything as it was.

        A sigma or statistic given here is the caller's choice and is kept over any checkpoint's recommendation.
        """
        new = {
            "router": self.router if router is None else router,
            "sigma": self.sigma if sigma is None else sigma,
            "statistic": self.statistic if statistic is None else statistic,
            "top_k": self.top_k if top_k is None else top_k,
            "voting": self.voting if voting is None else voting,
        }
        problem = self.check_settings(**new)
        if problem:
            raise ValueError(problem)
        with self._lock:
            before = self.settings()
            self.router, self.sigma, self.statistic, self.top_k, self.voting = (
                new["router"],
                float(new["sigma"]),
                new["statistic"],
                int(new["top_k"]),
                new["voting"],
            )
            self._explicit |= {k for k, v in (("sigma", sigma), ("statistic", statistic)) if v is not None}
            self._adopt_recommended()
            if self.settings() != before:
                self.generation += 1

    def _adopt_recommended(self) -> None:
        """sigma/statistic not chosen by the caller follow the coarse checkpoint's calibration, if it has one."""
        meta = self.metadata.get("coarse", {}) if self._nets["coarse"] is not None else {}
        sigma, stat = meta.get("recommended_sigma"), meta.get("recommended_statistic")
        if "statistic" not in self._explicit:
            self.statistic = stat if isinstance(stat, str) and check_statistic(stat) is None else DEFAULT_STATISTIC
        if "sigma" not in self._explicit:
            ok = isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0
            self.sigma = float(sigma) if ok else DEFAULT_SIGMA

    def follow_checkpoint(self, *keys: str) -> None:
        """Forget the caller's sigma and/or statistic: they follow the coarse checkpoint's calibration again."""
        with self._lock:
            before = self.settings()
            self._explicit -= set(keys)
            self._adopt_recommended()
            if self.settings() != before:
                self.generation += 1

    def routing_origin(self) -> dict[str, str]:
        """Where sigma and statistic come from, in words, for logs and summaries."""
        meta = self.metadata.get("coarse", {}) if self._nets["coarse"] is not None else {}
        src = self.sources.get("coarse", "the coarse checkpoint")
        out = {}
        for key, meta_key, default in (
            ("sigma", "recommended_sigma", "the paper's 5.89 m"),
            ("statistic", "recommended_statistic", "the paper's maximum"),
        ):
            if key in self._explicit:
                out[key] = "set by the user"
            elif meta.get(meta_key) is not None and getattr(self, key) == meta.get(meta_key):
                out[key] = f"calibrated for the coarse network ({meta_key} of {src})"
            else:
                out[key] = f"default: {default} (the coarse checkpoint recommends none)"
        return out

    def check_settings(
        self, *, router: str, sigma: float, top_k: int, voting: str, statistic: str = DEFAULT_STATISTIC
    ) -> str | None:
        """The reason these settings cannot be used, or None."""
        if router not in ROUTERS:
            return f"router must be one of {ROUTERS}, got {router!r}"
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
            return f"sigma must be a positive number of metres, got {sigma!r}"
        if check_statistic(statistic):
            return check_statistic(statistic)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= self.table.num_classes:
            return f"top_k must be an integer in 1..{self.table.num_classes}, got {top_k!r}"
        if voting not in VOTING:
            return f"voting must be one of {VOTING}, got {voting!r}"
        needed = ROUTING_NETWORK[router]
        if needed and self._nets[needed] is None:
            hint = " (run side-download-places365)" if needed == "places" else ""
            return f"router {router!r} needs the {needed} network, which is not loaded{hint}"
        return None

    def load_network(self, which: str, path: str | os.PathLike) -> None:
        """Load one network from a file and swap it in; on any error the previous network stays in use."""
        model, meta = self.read_network(which, path)
        self.install_network(which, model, meta, path)

    @staticmethod
    def read_network(which: str, path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
        """Read one network from a file without using it (so a caller can check a file before committing to it);
        raises FileNotFoundError / CheckpointError / ValueError for unusable files."""
        if which not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {which!r}")
        if which == "places":
            return load_places365(path)
        return load_sidenet(path, slot=which)

    def install_network(
        self, which: str, model: torch.nn.Module, meta: dict[str, Any], path: str | os.PathLike
    ) -> None:
        """Put a network from read_network to use, on the pipeline's device and execution path, warmed up for the
        image sizes seen so far (outside the lock: frames keep running on the old network meanwhile). A module
        that is not one of our networks (a wrapper around a running one, say) is used as given."""
        if isinstance(model, (DSSIDENet, WideResNet18Places365)):
            model = model.float().eval()
        with self._lock:
            exec_path, sizes = self._path_for(which), list(self._image_sizes)
        running = self._warmed(accelerate(model, exec_path), sizes)
        with self._lock:
            if self._path_for(which) != exec_path:  # the device changed meanwhile
                running = accelerate(model, self._path_for(which))
            self._nets[which], self._run[which] = model, running
            self.sources[which] = str(meta.get("path", path))
            self.metadata[which] = meta
            if which == "coarse":
                self._adopt_recommended()
            if which in ("coarse", "places"):
                self.generation += 1

    def set_device(
        self, device: str, half: bool = False, *, precision: str | None = None, graph: str | None = None
    ) -> None:
        """Put every network on `device` and the execution path chosen for it (see side_ros.execution).

        precision: auto | float32 | bfloat16 | float16 (None: auto); `half=True` is precision float16, which needs
        CUDA: on the CPU it falls back to float32 with a warning. graph: auto | eager | compile | cuda_graph.
        A refused choice (ValueError) leaves everything as it was.
        """
        dev = resolve_device(device)
        precision = precision or "auto"
        if half:
            if dev.type != "cuda":
                warnings.warn("half precision needs CUDA; running in float32 on the CPU", stacklevel=2)
                precision = "float32"
            else:
                precision = "float16"
        exec_path = choose_path(dev, precision, graph or "auto")
        router_path = choose_path(dev, precision, graph or "auto", router=True)
        with self._lock:
            sizes = list(self._image_sizes)
            self.device, self.path, self.router_path = dev, exec_path, router_path
            self.half = exec_path.precision == "float16"
            self._uploader = PinnedUploader(dev) if dev.type == "cuda" else None
            for k, net in self._nets.items():
                self._run[k] = None if net is None else self._warmed(accelerate(net, self._path_for(k)), sizes)

    def _path_for(self, which: str) -> ExecutionPath:
        return self.router_path if which in ("coarse", "places") else self.path

    @staticmethod
    def _warmed(net: torch.nn.Module, sizes: list[tuple[int, int]]) -> torch.nn.Module:
        """`net` after one run on each image size seen so far (one-time set-up off the camera's critical path)."""
        warm = getattr(net, "warm_up", None)
        if warm is not None:
            for hw in sizes:
                warm(fitted_canvas(*hw, net.config))
        return net

    def warm_up(self, image_hw: tuple[int, int] = (480, 640)) -> None:
        """Prepare every loaded network for images of this size (H, W): oneDNN / cuDNN set-up, graph capture or
        compilation happen now, not on the first camera frame. Networks loaded later are warmed up for it too."""
        with self._lock:
            hw = (int(image_hw[0]), int(image_hw[1]))
            self._image_sizes = [s for s in self._image_sizes if s != hw][-3:] + [hw]
            for net in self._run.values():
                if net is not None:
                    self._warmed(net, [hw])

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        loaded = ", ".join(k for k, v in self._nets.items() if v is not None) or "none"
        router = (
            ""
            if self.router_path.precision == self.path.precision
            else f"; routers {self.router_path.precision} ({self.router_path.reason.removeprefix('auto: ')})"
        )
        return f"{self.device} ({name}), {self.path.describe()}{router}; networks loaded: {loaded}"

    def settings(self) -> dict[str, Any]:
        return {
            "router": self.router,
            "sigma": self.sigma,
            "statistic": self.statistic,
            "top_k": self.top_k,
            "voting": self.voting,
        }

    # ----------------------------------------------------------------- inference
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _check_focal(self, focal: Focal | None) -> None:
        """Without the camera's focal, canonical-focal networks assume their training camera: say so once."""
        if (
            focal is None
            and self.warn_missing_focal
            and not self._warned_no_focal
            and any(getattr(getattr(n, "config", None), "canonical_focal", 0) for n in self._nets.values())
        ):
            self._warned_no_focal = True
            warnings.warn(
                "no camera focal length given: depth is scaled for the networks' training camera "
                "(pass the camera's fx, fy, e.g. from CameraInfo or --intrinsics, for metric scale)",
                stacklevel=3,
            )

    @torch.inference_mode()
    def route(self, rgb: torch.Tensor, focal: Focal | None = None) -> list[RangeDecision]:
        """Range decision for each image of an (N, 3, H, W) batch in [0, 1] on the pipeline's device; `focal`
        is (fx, fy) of the images in pixels (metric scale of the coarse depth)."""
        with self._lock:
            router = self.router
            if router in ("low", "high"):
                return routers.fixed(router, rgb.shape[0])
            if router == "coarse_depth":
                return routers.coarse_depth(
                    self._require("coarse"), rgb, sigma=self.sigma, statistic=self.statistic, focal=focal
                )
            return routers.scene_classification(
                self._require("places"), rgb, self.table, voting=self.voting, top_k=self.top_k, sigma=self.sigma
            )

    def _require(self, which: str) -> torch.nn.Module:
        net = self._run[which]
        if net is None:
            raise RuntimeError(f"the {which} network is not loaded")
        return net

    @torch.inference_mode()
    def depth_for_range(self, rgb: torch.Tensor, range_: str, focal: Focal | None = None) -> torch.Tensor:
        """Depth (N, 1, H, W) metres from one range's DS-SIDENet, with that range's input handling, scaled for
        a camera of focal (fx, fy) pixels."""
        return predict_depth(self._require(range_), rgb, focal)

    @torch.inference_mode()
    def depth_confidence_for_range(
        self, rgb: torch.Tensor, range_: str, focal: Focal | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """depth_for_range plus its confidence (N, 1, H, W) in [0, 1]; None for a regression inference head."""
        return predict_depth_confidence(self._require(range_), rgb, focal)

    @torch.inference_mode()
    def infer(
        self, rgb: torch.Tensor, focal: Focal | None = None, schedule: RoutingSchedule | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[RangeDecision], dict[str, float]]:
        """Route and predict a batch: (depth (N,1,H,W) on device, confidence (N,1,H,W), NaN where the network
        gives none, decisions, timings). Each range runs as one batch.

        With a schedule (one image of a stream), the router runs only when the schedule asks and its decision is
        smoothed; the router's own decision (None when it did not run) is then `last_raw_decision`.
        """
        self._check_focal(focal)
        with self._lock:
            t0 = time.perf_counter()
            if schedule is None:
                decisions = self.route(rgb, focal)
                self.last_raw_decision = decisions[-1]
            else:
                if rgb.shape[0] != 1:
                    raise ValueError("a routing schedule follows one stream: pass one image at a time")
                key = (self.generation, tuple(rgb.shape[-2:]))  # new settings or another camera: route again
                reason = schedule.needs_route(key)
                raw = self.route(rgb, focal)[0] if reason else None
                decisions = [schedule.update(raw, key, reason)]
                self.last_raw_decision = raw
            self._sync()
            t1 = time.perf_counter()
            depth = torch.empty((rgb.shape[0], 1, *rgb.shape[-2:]), device=rgb.device, dtype=torch.float32)
            confidence = torch.full_like(depth, float("nan"))
            for range_ in ("low", "high"):
                idx = [i for i, d in enumerate(decisions) if d.range == range_]
                if idx:
                    depth[idx], conf = self.depth_confidence_for_range(rgb[idx], range_, focal)
                    if conf is not None:
                        confidence[idx] = conf
            self._sync()
            t2 = time.perf_counter()
        return depth, confidence, decisions, {"route": t1 - t0, "depth": t2 - t1}

    def __call__(
        self, image: np.ndarray | torch.Tensor, focal: Focal | None = None, schedule: RoutingSchedule | None = None
    ) -> DepthResult:
        """One RGB image (HxWx3 uint8 NumPy, or a (3,H,W)/(1,3,H,W) tensor) -> DepthResult at its own size.

        focal: the camera's (fx, fy) in pixels of this image (CameraInfo K[0], K[4]); None assumes the
        networks' training camera. schedule: the stream's RoutingSchedule (route only when needed, smooth the
        range); None routes this image on its own."""
        t0 = time.perf_counter()
        uploader = self._uploader
        if (
            uploader is not None
            and isinstance(image, np.ndarray)
            and image.ndim == 3
            and image.shape[2] == 3
            and image.dtype == np.uint8
            and image.size
        ):
            image = uploader(image).permute(2, 0, 1)  # pinned, asynchronous upload; converted on the GPU
        rgb = image_to_tensor(image, self.device)
        if rgb.shape[0] != 1:
            raise ValueError("__call__ takes one image; use predict_batch for batches")
        hw = (int(rgb.shape[-2]), int(rgb.shape[-1]))
        if hw not in self._image_sizes:  # networks loaded later are warmed up for this camera too
            with self._lock:
                self._image_sizes = (self._image_sizes + [hw])[-4:]
        t1 = time.perf_counter()
        results = self._results(rgb, focal, schedule)
        results[0].timings["preprocess"] = t1 - t0
        if schedule is not None:
            schedule.observe(scene_statistic(results[0].depth))
        return results[0]

    def predict_batch(self, images: torch.Tensor, focal: Focal | None = None) -> list[DepthResult]:
        """A batch (N, 3, H, W) uint8 or float in [0, 1] from one camera -> one DepthResult per image."""
        return self._results(image_to_tensor(images, self.device), focal)

    def _results(
        self, rgb: torch.Tensor, focal: Focal | None = None, schedule: RoutingSchedule | None = None
    ) -> list[DepthResult]:
        with self._lock:
            depth, confidence, decisions, timings = self.infer(rgb, focal, schedule)
            raw = [self.last_raw_decision] if schedule is not None else decisions
        t0 = time.perf_counter()
        out = depth[:, 0].cpu().numpy()
        out[~np.isfinite(out)] = np.nan
        conf = confidence[:, 0].cpu().numpy()
        given = ~np.isnan(conf).all(axis=(1, 2))  # per image: did its network give a distribution
        conf[np.isnan(out) | np.isnan(conf)] = 0.0  # an invalid depth has no confidence
        timings["postprocess"] = time.perf_counter() - t0
        return [
            DepthResult(out[i], decisions[i], dict(timings), conf[i] if given[i] else None, raw[i])
            for i in range(out.shape[0])
        ]

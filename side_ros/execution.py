"""Execution paths: how a network runs on the device at hand (precision, memory layout, folded BatchNorm, graph).

Why: the same weights run 2-3x faster on a CPU with native bfloat16 (AVX512-BF16 / AMX) in channels-last layout
with BatchNorm folded, and on a GPU in float16 with CUDA graphs; a user should not have to know which. The
pipeline asks `choose_path()` for the fastest path that is accurate on this machine, wraps each network in a
`FastNetwork`, and says which path it runs (`ExecutionPath.describe()`). `precision` and `graph` override.

Rules (from measurements on the shipped and paper-size networks, scripts/bench_speed.py):
- BatchNorm is always folded into the convolutions (exact; one pass less per conv).
- channels-last on CPU and CUDA (oneDNN and cuDNN run these convolutions faster in NHWC).
- CPU precision: bfloat16 where the CPU has native bf16 dot products (AVX512-BF16 or AMX), else float32
  (emulated bf16 is slower than float32). On the held-out procedural test set (`side-eval --procedural-test 200
  --node-sizes --precision auto` on a CPU with native bf16, against `--precision float32`) the bf16 depth
  networks change REL by +0.3 % (low: 0.2250 against 0.2244; per pixel the depth moves by 1.1 % on average) and
  -0.1 % (high), and no routing decision.
- CUDA precision: float16. CUDA graphs replay each fixed input shape (the canvas is fixed per camera).
- Routers (coarse, Places365) stay float32 under `auto`: their output is compared with a threshold. With the
  earlier shipped coarse network, whose maxima sat within centimetres of sigma, a bf16 router flipped 2 of 200
  held-out routings (routed REL +1.4 %); the retrained one's maximum moves by up to 18 % in bf16 on rooms. A
  RoutingSchedule runs the router every N frames, so its float32 costs little.
- torch.compile (inductor, frozen weights) only on request (`graph="compile"`): it measured faster than eager on
  the low-range network, but compiling takes minutes on a 2-core CPU, which a node cannot spend at start-up.
Decoding (softmax over the depth levels) always runs in float32 on the crop that holds the image.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from side_ros.networks.fusion import fold_batchnorm
from side_ros.networks.places365 import WideResNet18Places365
from side_ros.networks.sidenet import DSSIDENet

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
GRAPHS = ("auto", "eager", "compile", "cuda_graph")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SHAPE_CACHE = 4  # canvases kept per network (compiled graphs or CUDA graphs): one camera needs one


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags that matter here (bf16 / AMX / AVX-512), from torch, else /proc/cpuinfo."""
    flags: set[str] = set()
    probes = {
        "avx512_bf16": "_is_avx512_bf16_supported",
        "amx_tile": "_is_amx_tile_supported",
        "avx512": "_is_avx512_supported",
    }
    for flag, fn in probes.items():
        with contextlib.suppress(Exception):
            if getattr(torch.cpu, fn)():
                flags.add(flag)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags.update(f for f in line.split(":", 1)[1].split() if f in ("avx512_bf16", "amx_bf16", "amx_tile"))
                break
    return frozenset(flags)


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


@dataclass(frozen=True)
class ExecutionPath:
    """How the networks run: device, precision, channels-last layout, folded BatchNorm, graph mode."""

    device: torch.device
    precision: str  # float32 | bfloat16 | float16
    channels_last: bool = True
    fold_batchnorm: bool = True
    graph: str = "eager"  # eager | compile | cuda_graph
    reason: str = ""

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self) -> str:
        """One line for logs and diagnostics, e.g. 'cpu bfloat16, channels-last, BatchNorm folded, eager'."""
        parts = [f"{self.device} {self.precision}"]
        if self.channels_last:
            parts.append("channels-last")
        if self.fold_batchnorm:
            parts.append("BatchNorm folded")
        parts.append({"eager": "eager", "compile": "torch.compile", "cuda_graph": "CUDA graphs"}[self.graph])
        text = ", ".join(parts)
        return f"{text} ({self.reason})" if self.reason else text

    @classmethod
    def reference(cls, device: torch.device | str = "cpu") -> ExecutionPath:
        """The plain path (float32, contiguous, unfolded, eager): what training validates and tests compare to."""
        return cls(
            torch.device(device),
            "float32",
            channels_last=False,
            fold_batchnorm=False,
            graph="eager",
            reason="reference",
        )


def choose_path(
    device: torch.device, precision: str = "auto", graph: str = "auto", *, router: bool = False
) -> ExecutionPath:
    """The fastest accurate path for `device`; explicit `precision` / `graph` override the automatic choice.
    router=True: the path of a routing network (float32 under 'auto', see the module notes).

    Raises ValueError for a choice that cannot run (float16 on a CPU, CUDA graphs without CUDA, unknown names).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    cuda = device.type == "cuda"
    reasons = []
    if precision == "auto":
        if router:
            precision = "float32"
            reasons.append("float32 router: its decision is a threshold")
        elif cuda:
            precision = "float16"
            reasons.append("float16 on CUDA")
        elif native_bf16():
            precision = "bfloat16"
            reasons.append("CPU has native bf16")
        else:
            precision = "float32"
            reasons.append("CPU has no native bf16")
    elif precision == "float16" and not cuda:
        raise ValueError("precision float16 needs CUDA (on a CPU use bfloat16 or float32)")
    if graph == "auto":
        graph = "cuda_graph" if cuda else "eager"
    elif graph == "cuda_graph" and not cuda:
        raise ValueError("graph cuda_graph needs a CUDA device")
    return ExecutionPath(
        device,
        precision,
        channels_last=True,
        fold_batchnorm=True,
        graph=graph,
        reason="auto: " + ", ".join(reasons) if reasons else "",
    )


class FastNetwork(nn.Module):
    """A DS-SIDENet on an execution path, with the DS-SIDENet inference interface (config, bins, forward,
    decode_depth, predict_depth), so routers and preprocessing use it unchanged.

    The wrapped copy is folded and cast once; the caller's model is untouched. forward(x) casts and lays out the
    input itself; decode_depth runs in float32. Compiled graphs and CUDA graphs are kept per input shape.
    """

    def __init__(self, model: DSSIDENet, path: ExecutionPath):
        super().__init__()
        net = fold_batchnorm(model) if path.fold_batchnorm else copy.deepcopy(model).eval()
        self.net = net.to(path.device, path.dtype).to(memory_format=path.memory_format).eval()
        self.path = path
        self.config = model.config
        self.bins = model.bins
        self._graphs: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def extra_repr(self) -> str:
        return self.path.describe()

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.path.device, self.path.dtype, non_blocking=True).contiguous(
            memory_format=self.path.memory_format
        )

    def forward(self, x: torch.Tensor, branches: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """The inference branch's output for a canvas (N, 3, H, W), in the path's precision."""
        self.net.check_input(x)
        x = self._input(x)
        key = (tuple(x.shape), branches)
        if self.path.graph == "eager":
            return self.net(x, branches=branches)
        with self._lock:
            runner = self._graphs.get(key)
            if runner is None:
                runner = self._build(x, branches)
                self._graphs[key] = runner
                while len(self._graphs) > SHAPE_CACHE:
                    self._graphs.popitem(last=False)
            self._graphs.move_to_end(key)
            return runner(x)

    def _build(self, x: torch.Tensor, branches: tuple[str, ...] | None) -> Any:
        if self.path.graph == "compile":
            import torch._inductor.config as inductor_config

            compiled = torch.compile(_Branches(self.net, branches), dynamic=False)
            with inductor_config.patch(freezing=True), torch.no_grad():
                compiled(x)  # compiles now, with the weights frozen as constants
            return compiled
        return _CudaGraph(self.net, x, branches)

    def decode_depth(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Metric depth (float32) from the inference branch's output; see DSSIDENet.decode_depth."""
        return self.net.decode_depth(out)

    def decode_depth_confidence(self, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.net.decode_depth_confidence(out)

    @property
    def gives_confidence(self) -> bool:
        return self.net.gives_confidence

    def predict_depth(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_depth(self.forward(x, branches=(self.config.inference_head,)))

    def predict_depth_confidence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.decode_depth_confidence(self.forward(x, branches=(self.config.inference_head,)))

    @torch.inference_mode()
    def warm_up(self, canvas_hw: tuple[int, int], batch: int = 1) -> None:
        """Run once on a canvas of this size, so the first camera frame does not pay for one-time setup (oneDNN
        kernel selection, cuDNN autotuning, graph capture or compilation)."""
        x = torch.zeros(batch, 3, *canvas_hw, device=self.path.device)
        for _ in range(2 if self.path.graph == "cuda_graph" else 1):
            self.decode_depth(self.forward(x, branches=(self.config.inference_head,)))
        if self.path.device.type == "cuda":
            torch.cuda.synchronize(self.path.device)


class _Branches(nn.Module):
    """The network with its branch choice bound (a graph captures one call signature)."""

    def __init__(self, net: DSSIDENet, branches: tuple[str, ...] | None):
        super().__init__()
        self.net, self.branches = net, branches

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x, branches=self.branches)


class _CudaGraph:
    """One CUDA graph per input shape: static input buffer, captured forward, replay. The outputs are the graph's
    static buffers, valid until the next replay (the caller decodes them at once, under the pipeline's lock)."""

    def __init__(self, net: DSSIDENet, example: torch.Tensor, branches: tuple[str, ...] | None):
        self.static_in = example.clone()
        stream = torch.cuda.Stream(example.device)
        stream.wait_stream(torch.cuda.current_stream(example.device))
        with torch.cuda.stream(stream), torch.no_grad():
            for _ in range(3):  # cuDNN picks its algorithms outside the capture
                net(self.static_in, branches=branches)
        torch.cuda.current_stream(example.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.static_out = net(self.static_in, branches=branches)

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.static_in.copy_(x)
        self.graph.replay()
        return self.static_out


def accelerate(model: nn.Module, path: ExecutionPath) -> nn.Module:
    """The module to run for `model` on `path`: a FastNetwork for a DS-SIDENet; the Places365 network copied,
    moved, cast and laid out the same way, eagerly. `model` itself stays as it is (the float32 reference every
    later path is made from), except that the reference path runs it directly. Any other module (one already
    prepared, a wrapper around one) runs as given."""
    if not isinstance(model, (DSSIDENet, WideResNet18Places365)):
        return model.eval()
    plain = path.precision == "float32" and not path.channels_last and not path.fold_batchnorm and path.graph == "eager"
    if plain:
        return model.to(path.device).float().eval()
    if isinstance(model, DSSIDENet):
        return FastNetwork(model, path)
    return copy.deepcopy(model).to(path.device, path.dtype).to(memory_format=path.memory_format).eval()


class PinnedUploader:
    """Host -> GPU upload of camera frames through a reused page-locked buffer (asynchronous DMA, no per-frame
    pinning). The buffer is rewritten only after the previous copy from it has finished."""

    def __init__(self, device: torch.device):
        self.device = device
        self._buf: torch.Tensor | None = None
        self._done: torch.cuda.Event | None = None
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        """HxWxC uint8 array -> the same (H, W, C) uint8 tensor on the GPU."""
        src = torch.from_numpy(np.ascontiguousarray(image))
        with self._lock:
            if self._buf is None or self._buf.shape != src.shape or self._buf.dtype != src.dtype:
                self._buf = torch.empty(src.shape, dtype=src.dtype, pin_memory=True)
                self._done = None
            if self._done is not None:
                self._done.synchronize()
            self._buf.copy_(src)
            out = self._buf.to(self.device, non_blocking=True)
            self._done = torch.cuda.Event()
            self._done.record(torch.cuda.current_stream(self.device))
        return out

"""Parameter counts and latency of each network at its working resolution (median of several runs).

    python scripts/bench_networks.py [--device cpu|cuda] [--threads N] [--runs 10] [--half]

Measures the inference path only (encoder + classification decoder + Eq. 1 decoding for DS-SIDENet, the
full classifier for Places365), as the pipeline runs it, and for DS-SIDENet the same with the per-pixel confidence
(DepthBins.decode: depth and confidence from one softmax). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from side_ros.networks import DSSIDENet, coarse_config, high_range_config, low_range_config
from side_ros.networks.places365 import WideResNet18Places365
from side_ros.networks.sidenet import count_parameters, inference_parameters
from side_ros.preprocess import prepare


def time_it(fn, runs: int, device: torch.device) -> float:
    """Median wall time in ms after two warm-up runs."""
    times = []
    for i in range(runs + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--half", action="store_true", help="float16 (CUDA only)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = torch.float16 if args.half else torch.float32
    rows = []
    for name, cfg, (w, h) in [
        ("low-range DS-SIDENet", low_range_config(), (320, 240)),
        ("high-range DS-SIDENet (SAM)", high_range_config(), (1248, 384)),
        ("coarse DS-SIDENet", coarse_config(), (320, 240)),
    ]:
        model = DSSIDENet(cfg).eval().to(device, dtype)
        x = prepare(torch.rand(1, 3, h, w, device=device), cfg).tensor.to(dtype)
        with torch.inference_mode():
            ms = time_it(lambda m=model, x=x: m.predict_depth(x), args.runs, device)
            ms_conf = time_it(lambda m=model, x=x: m.predict_depth_confidence(x), args.runs, device)
        rows.append(
            (
                name,
                count_parameters(model),
                inference_parameters(model),
                f"{w}x{h} (canvas {x.shape[-1]}x{x.shape[-2]})",
                ms,
                f"{ms_conf:.1f}",
            )
        )
    places = WideResNet18Places365().eval().to(device, dtype)
    x = torch.rand(1, 3, 224, 224, device=device, dtype=dtype)
    with torch.inference_mode():
        ms = time_it(lambda: places(x), args.runs, device)
    n = count_parameters(places)
    rows.append(("Places365 WideResNet-18", n, n, "224x224", ms, "-"))
    print(
        f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"threads: {torch.get_num_threads()}, dtype: {dtype}, median of {args.runs} runs"
    )
    print("| network | parameters (train) | parameters (inference) | input | latency (ms) | with confidence (ms) |")
    print("|---|---:|---:|---|---:|---:|")
    for name, total, inf, size, ms, ms_conf in rows:
        print(f"| {name} | {total / 1e6:.2f} M | {inf / 1e6:.2f} M | {size} | {ms:.1f} | {ms_conf} |")


if __name__ == "__main__":
    main()

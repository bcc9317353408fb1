"""Training throughput of each network and execution configuration, side by side in one run.

    python scripts/bench_training.py [--threads 1 2] [--steps 6] [--configs low_procedural high_procedural ...]

For each shipped training config (its network, crop and batch size) a training step (forward of both branches,
the multi-task loss, backward, AdamW) is timed in float32 and with bf16 autocast (fp32 master weights), each with
and without channels_last, at each thread count. Rounds are interleaved so a machine whose load changes
during the run affects every configuration alike. Prints steps/s (median over rounds) and the speed-up over
float32. bf16 rows are marked "emulated" where the CPU lacks native bf16 (side-train then uses float32).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from side_ros.training.losses import MultiTaskLoss
from side_ros.training.train import cpu_has_native_bf16, load_config, model_config


def make_step(config: str, bf16: bool, channels_last: bool) -> Callable[[], None]:
    """One training step of `config` on random data at its crop and batch size, ready to be called."""
    from side_ros.networks.sidenet import DSSIDENet

    cfg = load_config(config)
    mcfg = model_config(cfg)
    w, h = cfg["data"].get("crop") or mcfg.input_size
    m = mcfg.size_multiple
    h, w = -(-h // m) * m, -(-w // m) * m
    n = int(cfg["data"]["batch_size"])
    model = DSSIDENet(mcfg).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    criterion = MultiTaskLoss(mcfg.bins, heads=mcfg.heads)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.rand(n, 3, h, w)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    gt = torch.rand(n, 1, h, w) * (mcfg.beta - mcfg.alpha) + mcfg.alpha

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, branches=("cl", "reg"))
        loss, _ = criterion({k: v.float() for k, v in out.items()}, gt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["low_procedural", "high_procedural", "coarse_procedural"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=5, help="timed rounds per configuration")
    args = parser.parse_args()
    native = cpu_has_native_bf16()
    variants = [
        (c, t, bf16, cl) for c in args.configs for t in args.threads for bf16 in (False, True) for cl in (False, True)
    ]
    steps = {v: make_step(v[0], v[2], v[3]) for v in variants}
    for v, fn in steps.items():  # warm-up: allocator, oneDNN primitives
        torch.set_num_threads(v[1])
        fn()
    times: dict[tuple, list[float]] = {v: [] for v in variants}
    for _ in range(args.steps):
        for v, fn in steps.items():
            torch.set_num_threads(v[1])
            t0 = time.perf_counter()
            fn()
            times[v].append(time.perf_counter() - t0)
    print(
        f"CPU bf16: {'native (AVX512-BF16/AMX)' if native else 'emulated (side-train uses float32)'}; "
        f"median of {args.steps} interleaved rounds\n"
    )
    print("| config | threads | precision | layout | s/step | steps/s | vs float32 |")
    print("|---|---|---|---|---|---|---|")
    for v in variants:
        config, threads, bf16, cl = v
        med = statistics.median(times[v])
        base = statistics.median(times[(config, threads, False, False)])
        prec = "bf16 autocast" + ("" if native else " (emulated)") if bf16 else "float32"
        print(
            f"| {config} | {threads} | {prec} | {'channels_last' if cl else 'contiguous'} | {med:.3f} | "
            f"{1 / med:.2f} | {base / med:.2f}x |"
        )


if __name__ == "__main__":
    main()

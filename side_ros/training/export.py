"""`side-export`: export a trained DS-SIDENet for deployment as TorchScript, ONNX and/or a packed side_ros
checkpoint (inference branch only, optionally float16: what `models/` ships), with a parity check.

The exported graph is the inference path only (RGB in [0, 1], (N, 3, H, W) -> depth in metres (N, 1, H, W)):
normalization, encoder, classification decoder and the expected-depth decoding of Eq. 1. H and W stay dynamic
(multiples of 32 for the low-range network, 4 for the high-range one). After writing, each file is loaded back
and run on the same input as the PyTorch model; the export fails if the depths differ by more than --tolerance.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from side_ros.console import EXIT_ERROR
from side_ros.networks.checkpoint import load_sidenet
from side_ros.networks.sidenet import DepthExport, DSSIDENet


def example_input(model: DSSIDENet, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A deterministic test image at the network's padded working size (or `size` = (w, h))."""
    m = model.config.size_multiple
    w, h = size or model.config.input_size
    w, h = -(-w // m) * m, -(-h // m) * m
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))


def export_torchscript(model: DSSIDENet, path: Path, x: torch.Tensor) -> torch.Tensor:
    """Trace the inference path to TorchScript; returns its output on x (from the file, reloaded)."""
    with warnings.catch_warnings():  # shape checks become constants in the trace; sizes stay dynamic (tested)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(DepthExport(model).eval(), x, check_trace=False)
    traced.save(str(path))
    with torch.no_grad():
        return torch.jit.load(str(path))(x)


def export_onnx(model: DSSIDENet, path: Path, x: torch.Tensor, opset: int = 17) -> np.ndarray | None:
    """ONNX with dynamic batch, height and width; returns onnxruntime's output on x when it is installed."""
    with warnings.catch_warnings():  # the legacy exporter's deprecation and constant-folding notes are benign here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            DepthExport(model).eval(),
            (x,),
            str(path),
            input_names=["rgb"],
            output_names=["depth"],
            dynamic_axes={"rgb": {0: "batch", 2: "height", 3: "width"}, "depth": {0: "batch", 2: "height", 3: "width"}},
            opset_version=opset,
            dynamo=False,
        )
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["depth"], {"rgb": x.numpy()})[0]


def export_checkpoint(path: Path, out: Path, x: torch.Tensor, half: bool, metadata: dict | None = None) -> torch.Tensor:
    """Inference-only checkpoint (the regression decoder dropped), float16 weights when `half`; returns its depth."""
    from side_ros.networks.checkpoint import read_sidenet_checkpoint, save_sidenet_checkpoint

    model, meta = load_sidenet(path)
    meta = {
        **{k: v for k, v in meta.items() if k != "path"},
        **(metadata or {}),
        "exported_from": str(path),
        "weights_dtype": "float16" if half else "float32",
    }
    train_cfg = read_sidenet_checkpoint(path).get("train_config")
    if train_cfg:
        meta.setdefault("train_config", train_cfg)
    save_sidenet_checkpoint(model, out, meta, inference_only=True, half=half)
    packed, _ = load_sidenet(out)
    with torch.no_grad():
        return packed.predict_depth(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="side_ros checkpoint (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--format", nargs="+", choices=("torchscript", "onnx", "checkpoint"), default=["torchscript", "onnx"]
    )
    parser.add_argument("--half", action="store_true", help="checkpoint format: store float16 weights")
    parser.add_argument("--name", help="output file stem (default: the checkpoint's)")
    parser.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="checkpoint format: add a metadata entry (YAML value), e.g. recommended_sigma=4.2",
    )
    parser.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), help="example input size (default: working)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="max relative depth difference allowed (default 1e-3, or 1e-2 with --half)",
    )
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    try:
        model, _ = load_sidenet(args.checkpoint)
        x = example_input(model, tuple(args.size) if args.size else None)
        with torch.no_grad():
            ref = model.predict_depth(x)
        args.out.mkdir(parents=True, exist_ok=True)
        tolerance = args.tolerance if args.tolerance is not None else (1e-2 if args.half else 1e-3)
        stem = args.name or args.checkpoint.stem
        for fmt in args.format:
            if fmt == "checkpoint":
                path = args.out / f"{stem}.pt"
                extra = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.metadata)}
                got = export_checkpoint(args.checkpoint, path, x, args.half, extra).numpy()
            elif fmt == "torchscript":
                path = args.out / f"{stem}.torchscript.pt"
                got = export_torchscript(model, path, x).numpy()
            else:
                path = args.out / f"{stem}.onnx"
                got = export_onnx(model, path, x, args.opset)
            if got is None:
                print(f"{path}: written and checked by onnx.checker (install onnxruntime for a numeric parity check)")
                continue
            rel = float(np.max(np.abs(got - ref.numpy()) / ref.numpy()))
            status = "OK" if rel <= tolerance else "MISMATCH"
            print(f"{path}: max relative depth difference to PyTorch {rel:.2e} ({status})")
            if rel > tolerance:
                return EXIT_ERROR
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0][:500]}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`side-eval`: evaluate each network and the whole routed system on a dataset, and print the paper's tables.

For every image it runs both range networks, the coarse network and the router(s), so one pass gives:
- per true range, the rows of Tables 4-5: "cde only" (the coarse network's depth as the output), the routed
  system with each available router ("routed (cde)", "routed (sc)"), and oracle routing (the network of the
  image's true range, i.e. each range network on its own range);
- routing accuracy of each router, with its confusion counts.
Metrics: side_ros.metrics (KITTI devkit definitions; per image, then mean over images).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import Dataset
from tqdm import tqdm

from side_ros.console import EXIT_ERROR
from side_ros.metrics import DepthMetricAccumulator, format_table, routing_accuracy
from side_ros.pipeline import RobustDepthPipeline
from side_ros.resources import default_model
from side_ros.routing import routers
from side_ros.routing.options import add_routing_arguments
from side_ros.training.data import build_from_spec

RANGE_NAMES = ("low", "high")
TABLE_FOR_RANGE = {"low": "scannet", "high": "kitti"}


NODE_SIZES = {"indoor": (640, 480), "outdoor": (1242, 375)}  # what the node sees: VGA indoors, KITTI outdoors
STATISTICS = ("max", "p99", "p95", "p90", "median")  # calibrated side by side; the paper's is "max"


def procedural_test_spec(
    n: int,
    start: int = 800_000,
    indoor_size: Sequence[int] = (128, 96),
    outdoor_size: Sequence[int] = (310, 94),
    focal_scale: float = 1.0,
) -> list[dict[str, Any]]:
    """The held-out procedural test set: seeds from 800000, never used by the shipped configs (0..24000 train,
    900000+ validation); n indoor and n outdoor scenes, by default at the shipped networks' training sizes,
    optionally seen through a lens zoomed by `focal_scale` (the focal test)."""
    extra = {} if focal_scale == 1.0 else {"focal_scale": float(focal_scale)}
    return [
        {"name": "procedural", "kinds": ["indoor"], "seeds": [start, start + n], "size": list(indoor_size), **extra},
        {"name": "procedural", "kinds": ["outdoor"], "seeds": [start, start + n], "size": list(outdoor_size), **extra},
    ]


CALIBRATION_DIR = Path(__file__).resolve().parent / "configs" / "calibration"


def read_spec(text: str) -> Any:
    """A dataset spec from a YAML file, the name of a shipped calibration spec (configs/calibration/, e.g.
    cde_procedural_lenses, so a pip install can recalibrate with the recipe of the shipped weights), or inline
    YAML."""
    for p in (Path(text), CALIBRATION_DIR / f"{text}.yaml"):
        try:
            if p.is_file():
                return yaml.safe_load(p.read_text())
        except OSError:  # inline YAML longer than a file name can be
            continue
    return yaml.safe_load(text)


def sample_focal(sample: Mapping[str, Any]) -> tuple[float, float] | None:
    """(fx, fy) of a dataset sample's camera, None if it has no intrinsics."""
    K = sample.get("intrinsics")
    return None if K is None else (float(K[0][0]), float(K[1][1]))


def coarse_statistics(
    pipe: RobustDepthPipeline, dataset: Dataset, statistics: Sequence[str] = STATISTICS, *, progress: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each statistic of the coarse network's metric depth on every image, and which images are high range."""
    coarse = pipe.network("coarse")
    if coarse is None:
        raise ValueError("calibrating sigma needs the coarse network")
    values: dict[str, list[float]] = {st: [] for st in statistics}
    high = []
    for i in tqdm(range(len(dataset)), desc="calibrate sigma", disable=not progress):  # type: ignore[arg-type]
        s = dataset[i]
        depth = routers.coarse_canvas_depth(coarse, s["rgb"][None].to(pipe.device), sample_focal(s))
        for st in statistics:
            values[st].append(float(routers.reduce_depth(depth, st)[0]))
        high.append(int(s["range"]) == 1)
    return {st: np.asarray(v) for st, v in values.items()}, np.asarray(high)


def best_threshold(d: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    """The threshold with the best routing accuracy ("high iff value > threshold"), midway between the two
    neighbouring values, and that accuracy."""
    order = np.argsort(d)
    d, h = d[order], h[order]
    candidates = np.concatenate([[d[0] - 1e-3], (d[1:] + d[:-1]) / 2, [d[-1] + 1e-3]])
    # accuracy of "high iff dmax > c" for every candidate c, vectorized: lows at or below c, highs above
    acc = ((~h)[None, :] & (d[None, :] <= candidates[:, None])) | (h[None, :] & (d[None, :] > candidates[:, None]))
    scores = acc.mean(axis=1)
    best = int(np.argmax(scores))
    return float(candidates[best]), float(scores[best])


def calibrate_sigma(
    pipe: RobustDepthPipeline, dataset: Dataset, *, statistic: str = "max", progress: bool = True
) -> tuple[float, float]:
    """σ for the cde router as the paper chose it (section 3): from the coarse network's maximum depth (or
    another statistic) on validation images of known range, the threshold with the best routing accuracy.
    Returns (sigma, accuracy on those images)."""
    values, high = coarse_statistics(pipe, dataset, (statistic,), progress=progress)
    return best_threshold(values[statistic], high)


def calibrate_router(
    pipe: RobustDepthPipeline, dataset: Dataset, statistics: Sequence[str] = STATISTICS, *, progress: bool = True
) -> dict[str, tuple[float, float, float]]:
    """σ for each statistic on the same validation images: {statistic: (sigma, accuracy, margin)}, where the
    margin is the gap between the classes around σ relative to σ (larger = safer on unseen images)."""
    values, high = coarse_statistics(pipe, dataset, statistics, progress=progress)
    out = {}
    for st, d in values.items():
        sigma, acc = best_threshold(d, high)
        lows, highs = d[~high], d[high]
        below = lows[lows <= sigma].max() if (lows <= sigma).any() else sigma
        above = highs[highs > sigma].min() if (highs > sigma).any() else sigma
        out[st] = (sigma, acc, float(math.log(above / below)) if below > 0 and above > 0 else 0.0)
    return out


def choose_statistic(calibration: Mapping[str, tuple[float, float, float]]) -> str:
    """The statistic with the best validation accuracy, ties broken by the larger log-margin around σ."""
    return max(calibration, key=lambda st: (round(calibration[st][1], 6), calibration[st][2]))


def evaluate(
    pipe: RobustDepthPipeline,
    dataset: Dataset,
    *,
    protocols: Mapping[str, str | None] | None = None,
    routers_to_run: Sequence[str] = ("coarse_depth", "scene_classification"),
    max_images: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the evaluation; returns {"tables": {range: {row: metrics}}, "routing": {router: report}, "n": {...}}."""
    protocols = dict(protocols or {})
    available = [r for r in routers_to_run if pipe.check_settings(**{**pipe.settings(), "router": r}) is None]
    accs: dict[tuple[str, str], DepthMetricAccumulator] = {}
    chosen: dict[str, list[str]] = {r: [] for r in available}
    true_ranges: list[str] = []

    def acc(row: str, range_: str) -> DepthMetricAccumulator:
        key = (row, range_)
        if key not in accs:
            accs[key] = DepthMetricAccumulator(protocol=protocols.get(range_))
        return accs[key]

    n = len(dataset) if max_images is None else min(len(dataset), max_images)  # type: ignore[arg-type]
    saved = dict(pipe.settings())
    try:
        for i in tqdm(range(n), desc="evaluate", disable=not progress, dynamic_ncols=True):
            s = dataset[i]
            rgb = s["rgb"][None].to(pipe.device)
            gt = s["depth"][0].numpy()
            focal = sample_focal(s)
            true = RANGE_NAMES[int(s["range"])]
            true_ranges.append(true)
            with torch.inference_mode():
                by_range = {r: pipe.depth_for_range(rgb, r, focal)[0, 0].cpu().numpy() for r in RANGE_NAMES}
                acc("oracle routing", true).update(by_range[true], gt)
                if pipe.network("coarse") is not None:
                    cde = routers.coarse_depth_map(pipe.network("coarse"), rgb, focal)[0, 0].cpu().numpy()
                    acc("cde only", true).update(cde, gt)
                for router in available:
                    pipe.configure(router=router)
                    decision = pipe.route(rgb, focal)[0]
                    chosen[router].append(decision.range)
                    acc(f"routed ({'cde' if router == 'coarse_depth' else 'sc'})", true).update(
                        by_range[decision.range], gt
                    )
    finally:
        pipe.configure(router=saved["router"])
    order = ["cde only", "routed (cde)", "routed (sc)", "oracle routing"]
    tables = {
        r: {row: accs[(row, r)].compute() for row in order if (row, r) in accs}
        for r in RANGE_NAMES
        if any(k[1] == r for k in accs)
    }
    routing = {r: routing_accuracy(chosen[r], true_ranges, labels=RANGE_NAMES) for r in available}
    return {
        "tables": tables,
        "routing": routing,
        "n": {r: true_ranges.count(r) for r in RANGE_NAMES},
        "settings": saved,
    }


def report(result: Mapping[str, Any]) -> str:
    """Markdown: one table per range in the paper's columns (ScanNet-style for low, KITTI-style for high)."""
    parts = []
    for range_, rows in result["tables"].items():
        parts.append(f"### {range_} depth range ({result['n'][range_]} images)\n")
        parts.append(format_table(rows, TABLE_FOR_RANGE[range_]))
        parts.append(format_table(rows, ["abs_rel", "rmse", "delta1"]) + "\n")
    for router, rep in result["routing"].items():
        parts.append(f"### routing accuracy: {router}\n")
        parts.append(rep.to_markdown() + "\n")
    return "\n".join(parts)


def to_json(result: Mapping[str, Any]) -> dict[str, Any]:
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return {
        "n": result["n"],
        "settings": dict(result["settings"]),
        "tables": {
            r: {row: {k: clean(v) for k, v in m.items()} for row, m in rows.items()}
            for r, rows in result["tables"].items()
        },
        "routing": {
            r: {"accuracy": rep.accuracy, "confusion": rep.confusion.tolist(), "labels": list(rep.labels)}
            for r, rep in result["routing"].items()
        },
    }


def store_calibration(path: str | Path, sigma: float, statistic: str, accuracy: float) -> Path:
    """Write the cde calibration into a coarse checkpoint's metadata, atomically (the file is replaced only once
    the new one is complete); the rest of the file is kept as it is."""
    import os

    from side_ros.networks.checkpoint import read_checkpoint_file, read_sidenet_checkpoint

    read_sidenet_checkpoint(path)  # refuses anything but one of our checkpoints
    data = read_checkpoint_file(path)
    data["metadata"] = {
        **dict(data.get("metadata") or {}),
        "recommended_sigma": round(float(sigma), 4),
        "recommended_statistic": statistic,
        "calibration_accuracy": round(float(accuracy), 4),
    }
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, p)
    return p


def focal_test(
    pipe: RobustDepthPipeline,
    n: int,
    scales: Sequence[float],
    sizes: Mapping[str, Sequence[int]],
    native: Mapping[str, Any],
    cache_dir: Path | None,
    progress: bool,
) -> dict[str, dict[str, float]]:
    """Routed REL per range on the test scenes seen through zoomed lenses, next to the native lens's."""
    rows: dict[str, dict[str, float]] = {}
    for scale in scales:
        spec = procedural_test_spec(n, indoor_size=sizes["indoor"], outdoor_size=sizes["outdoor"], focal_scale=scale)
        res = evaluate(
            pipe,
            build_from_spec(_cached(spec, cache_dir), cache_dir),
            routers_to_run=("coarse_depth",),
            progress=progress,
        )
        rows[f"x{scale:g}"] = {r: res["tables"][r]["routed (cde)"]["abs_rel"] for r in res["tables"]}
        rows[f"x{scale:g}"].update({f"routing {r}": _range_accuracy(res, r) for r in res["tables"]})
    rows["x1"] = {r: native["tables"][r]["routed (cde)"]["abs_rel"] for r in native["tables"]}
    rows["x1"].update({f"routing {r}": _range_accuracy(native, r) for r in native["tables"]})
    return rows


def _range_accuracy(result: Mapping[str, Any], range_: str) -> float:
    rep = result["routing"]["coarse_depth"]
    i = list(rep.labels).index(range_)
    row = rep.confusion[i]
    return float(row[i] / max(1, row.sum()))


def _cached(spec: list[dict[str, Any]], cache_dir: Path | None) -> list[dict[str, Any]]:
    return [{**s, "cache": True} for s in spec] if cache_dir is not None else spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--low", default=None, help="low-range checkpoint (default: shipped models/low.pt)")
    parser.add_argument("--high", default=None, help="high-range checkpoint (default: shipped models/high.pt)")
    parser.add_argument("--coarse", default=None, help="coarse checkpoint (default: shipped models/coarse.pt)")
    parser.add_argument("--places", default=None, help="official Places365 WRN-18 checkpoint (enables 'sc')")
    data = parser.add_mutually_exclusive_group()
    data.add_argument(
        "--procedural-test",
        type=int,
        metavar="N",
        help="the held-out procedural test set with N indoor and N outdoor scenes",
    )
    data.add_argument(
        "--data",
        help='dataset spec as YAML, e.g. "{name: nyu, root: /data/nyu, split: test}" '
        "or a list of specs, or a YAML file holding one",
    )
    parser.add_argument(
        "--indoor-size",
        type=int,
        nargs=2,
        default=(128, 96),
        metavar=("W", "H"),
        help="--procedural-test indoor image size",
    )
    parser.add_argument(
        "--outdoor-size",
        type=int,
        nargs=2,
        default=(310, 94),
        metavar=("W", "H"),
        help="--procedural-test outdoor image size",
    )
    parser.add_argument(
        "--node-sizes",
        action="store_true",
        help="--procedural-test at the sizes the node sees: indoor 640x480, outdoor 1242x375",
    )
    parser.add_argument(
        "--focal-test",
        type=float,
        nargs="+",
        metavar="SCALE",
        default=(),
        help="also evaluate the test scenes through lenses zoomed by these factors, e.g. 0.7 1.4",
    )
    parser.add_argument("--protocol-low", default=None, help="metrics protocol for low-range images (e.g. nyu_eigen)")
    parser.add_argument("--protocol-high", default=None, help="... for high-range images (e.g. kitti_benchmark)")
    add_routing_arguments(parser)
    parser.add_argument(
        "--calibrate-sigma",
        type=int,
        metavar="N",
        default=0,
        help="first choose sigma (and the statistic, unless --statistic) on N indoor + N outdoor "
        "procedural validation scenes (seeds 900000+), each statistic side by side",
    )
    parser.add_argument(
        "--calibrate-on",
        metavar="SPEC",
        help="calibrate on this validation dataset spec (YAML file or text, as --data, or a shipped spec's name: "
        "cde_procedural_lenses, the shipped weights' recipe) instead of procedural scenes, e.g. ScanNet and "
        "KITTI validation images as the paper did",
    )
    parser.add_argument(
        "--store-calibration",
        action="store_true",
        help="write the calibrated sigma and statistic into the coarse checkpoint's metadata "
        "(recommended_sigma / recommended_statistic), which the node and commands then use",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep rendered procedural scenes here")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="execution precision (auto: bfloat16 on CPUs with native bf16, float16 on CUDA)",
    )
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    sizes = dict(NODE_SIZES) if args.node_sizes else {"indoor": args.indoor_size, "outdoor": args.outdoor_size}
    if args.procedural_test is None and args.data is None and not (args.calibrate_sigma or args.calibrate_on):
        parser.error("give --procedural-test N or --data SPEC (or calibrate with --calibrate-sigma / --calibrate-on)")
    if args.store_calibration and not (args.calibrate_sigma or args.calibrate_on):
        parser.error("--store-calibration needs --calibrate-sigma N or --calibrate-on SPEC")
    try:
        dataset = None
        if args.procedural_test is not None:
            spec: Any = _cached(
                procedural_test_spec(args.procedural_test, indoor_size=sizes["indoor"], outdoor_size=sizes["outdoor"]),
                args.cache_dir,
            )
        elif args.data is not None:
            spec = read_spec(args.data)
        if args.procedural_test is not None or args.data is not None:
            dataset = build_from_spec(spec, args.cache_dir)
        pipe = RobustDepthPipeline.from_files(
            args.low or default_model("low"),
            args.high or default_model("high"),
            args.coarse or default_model("coarse"),
            args.places,
            router="low",
            device=args.device,
            precision=args.precision,
            sigma=args.sigma,
            statistic=args.statistic,
            top_k=args.top_k,
            voting=args.voting,
        )
        print(f"side-eval: {pipe.describe()}")
        if args.calibrate_sigma or args.calibrate_on:
            if args.calibrate_on:
                val_spec = read_spec(args.calibrate_on)
            else:
                val_spec = _cached(
                    procedural_test_spec(
                        args.calibrate_sigma, start=900_000, indoor_size=sizes["indoor"], outdoor_size=sizes["outdoor"]
                    ),
                    args.cache_dir,
                )
            val = build_from_spec(val_spec, args.cache_dir)
            stats = (args.statistic,) if args.statistic else STATISTICS
            table = calibrate_router(pipe, val, stats)
            print("| statistic | calibrated sigma (m) | validation routing accuracy | log-margin |\n|---|---|---|---|")
            for st, (sg, ac, mg) in table.items():
                print(f"| {st} | {sg:.3f} | {ac:.3f} | {mg:.3f} |")
            chosen = args.statistic or choose_statistic(table)
            sigma = args.sigma if args.sigma is not None else table[chosen][0]
            print(f"\ncalibrated: statistic {chosen}, sigma {sigma:.3f} m\n")
            pipe.configure(sigma=sigma, statistic=chosen)
            if args.store_calibration:
                path = store_calibration(pipe.sources["coarse"], sigma, chosen, table[chosen][1])
                print(f"stored in {path}: recommended_sigma {sigma:.3f}, recommended_statistic {chosen}\n")
            if dataset is None:
                return 0
        origin = pipe.routing_origin()
        print(
            f"cde router: statistic {pipe.statistic} ({origin['statistic']}), sigma {pipe.sigma:.3f} m "
            f"({origin['sigma']})\n"
        )
        assert dataset is not None
        result = evaluate(
            pipe, dataset, protocols={"low": args.protocol_low, "high": args.protocol_high}, max_images=args.max_images
        )
        focal_rows = (
            focal_test(pipe, args.procedural_test, args.focal_test, sizes, result, args.cache_dir, True)
            if args.focal_test and args.procedural_test
            else {}
        )
    except (OSError, ValueError, RuntimeError, KeyError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(report(result))
    if focal_rows:
        ranges = [r for r in RANGE_NAMES if r in result["tables"]]
        print("### focal test: routed (cde) REL and routing accuracy through other lenses\n")
        print("| lens | " + " | ".join(f"REL {r} | ratio to x1 | routing {r}" for r in ranges) + " |")
        print("|---|" + "---|---|---|" * len(ranges))
        for lens, row in sorted(focal_rows.items(), key=lambda kv: float(kv[0][1:])):
            cells = [f"{row[r]:.4f} | {row[r] / focal_rows['x1'][r]:.3f} | {row[f'routing {r}']:.3f}" for r in ranges]
            print(f"| {lens} | " + " | ".join(cells) + " |")
    if args.json:
        out = to_json(result)
        out["routing_origin"] = pipe.routing_origin()
        out["focal_test"] = focal_rows
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

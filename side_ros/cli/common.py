"""What the offline commands share: the network options, loading the pipeline, checking output paths (bad input
raises side_ros.console.CliError, which the command turns into one `error: ...` line)."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

from side_ros.console import CliError
from side_ros.routing.options import DEFAULT_ROUTER, ROUTER_NEEDS, ROUTERS, add_routing_arguments


def add_network_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """--low/--high/--coarse/--places, routing and device options (defaults: the shipped weights in models/)."""
    g = parser.add_argument_group("networks" + ("" if required else " (when running them)"))
    g.add_argument("--low", metavar="PT", help="low-range DS-SIDENet checkpoint (default: the shipped models/low.pt)")
    g.add_argument("--high", metavar="PT", help="high-range DS-SIDENet checkpoint (default: models/high.pt)")
    g.add_argument(
        "--coarse", metavar="PT", help="coarse depth network for --router coarse_depth (default: models/coarse.pt)"
    )
    g.add_argument(
        "--places",
        metavar="PTH",
        help="official wideresnet18_places365.pth.tar for --router "
        "scene_classification (get it with side-download-places365)",
    )
    g.add_argument("--router", choices=ROUTERS, default=DEFAULT_ROUTER, help="how each image's range is chosen")
    add_routing_arguments(g)
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    g.add_argument("--half", action="store_true", help="float16 inference (CUDA only)")


def weight_path(value: str | None, which: str) -> Path:
    """A user-given weight file, or the shipped default; missing files are a CliError saying what to do."""
    from side_ros.resources import default_model, resolve

    path = resolve(value) if value else default_model(which)
    if not path.is_file():
        if value:
            raise CliError(f"--{which}: weight file not found: {path}")
        raise CliError(
            f"the shipped {which} network weights are missing ({path}); pass --{which} PATH "
            "(train them with the side_ros training commands, see models/MODEL_CARD.md)"
        )
    return path


def build_pipeline(args: argparse.Namespace) -> Any:
    """A RobustDepthPipeline from the parsed network options, loading only the networks the router needs."""
    from side_ros.networks.checkpoint import CheckpointError
    from side_ros.pipeline import RobustDepthPipeline

    needs = ROUTER_NEEDS[args.router]
    paths = {k: weight_path(getattr(args, k), k) if k in needs else None for k in ("low", "high", "coarse")}
    places = None
    if "places" in needs:
        if not args.places:
            raise CliError(
                "--router scene_classification needs --places (the official Places365 WideResNet-18 "
                "checkpoint; get it with side-download-places365)"
            )
        places = Path(args.places)
        if not places.is_file():
            raise CliError(f"--places: file not found: {places}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RobustDepthPipeline.from_files(
                paths["low"],
                paths["high"],
                paths["coarse"],
                places,
                router=args.router,
                device=args.device,
                half=args.half,
                sigma=args.sigma,
                statistic=args.statistic,
                top_k=args.top_k,
                voting=args.voting,
            )
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc


def routing_line(pipe: Any) -> str:
    """One line saying which cde threshold and statistic a command uses and where they came from."""
    if pipe.router != "coarse_depth":
        return f"router {pipe.router}"
    origin = pipe.routing_origin()
    return (
        f"router coarse_depth: {pipe.statistic} of the coarse depth > sigma {pipe.sigma:.3f} m "
        f"(sigma {origin['sigma']}; statistic {origin['statistic']})"
    )


def check_new_path(path: str | os.PathLike, what: str, *, overwrite: bool = False) -> Path:
    """An output path that does not exist yet (or may be replaced) and whose folder can be created/written."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise CliError(f"{what} {p} exists already (use --overwrite to replace it)")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create the folder of {what} {p}: {exc.strerror or exc}") from exc
    if not os.access(parent, os.W_OK):
        raise CliError(f"cannot write {what} {p}: folder {parent} is not writable")
    return p


def check_output_dir(path: str | os.PathLike) -> Path:
    """An output folder that exists (created if needed) and accepts files."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / ".side_ros_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"cannot write to output folder {p}: {exc.strerror or exc}") from exc
    return p

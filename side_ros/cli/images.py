"""`side-depth-images`: depth for image files or folders, without ROS.

Per input image, in the output folder (sub-folders of an input folder are kept):
  <name>_depth.png      16-bit PNG, millimetres (value / --png-scale metres), 0 = invalid or beyond 65535 units
  <name>_depth.npy      float32 metres, NaN invalid                                   (--formats npy)
  <name>_colormap.png   turbo colour map, near blue, far red, invalid black
  <name>_confidence.png 16-bit PNG, per-pixel confidence x 65535 (value / 65535 in [0, 1]: the probability mass
                        within one depth bin of the estimate; 0 where the depth is invalid)
  <name>.ply            coloured point cloud in the camera's optical frame (needs --intrinsics or --camera-info)
and results.csv with the chosen range, router and score of every image, written as the images are done: an
image that could not be written has its reason in the `status` column (an interrupted run lists the images it
did not reach). Existing outputs are never replaced without --overwrite, and every input is checked (readable
header, size within --max-pixels) before anything is created.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from side_ros.cli.common import add_network_args, build_pipeline, check_output_dir, routing_line
from side_ros.console import CliError, entry

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
FORMATS = ("png", "npy", "colormap", "confidence", "ply")
SUFFIXES = {
    "png": "_depth.png",
    "npy": "_depth.npy",
    "colormap": "_colormap.png",
    "confidence": "_confidence.png",
    "ply": ".ply",
}
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS): 1/4 GiB of RGB
RESULTS = "results.csv"
COLUMNS = (
    "image",
    "output",
    "status",
    "width",
    "height",
    "range",
    "router",
    "score",
    "min_depth_m",
    "max_depth_m",
    "ply_points",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="side-depth-images", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", help="image files and/or folders of images")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument(
        "--formats",
        default=None,
        help=f"comma-separated subset of {','.join(FORMATS)} (default: png,colormap,confidence, plus "
        "ply when intrinsics are given)",
    )
    p.add_argument(
        "--png-scale",
        type=float,
        default=1000.0,
        help="16-bit PNG units per metre: 1000 = millimetres (REP 118), 256 = KITTI's format",
    )
    p.add_argument("--recursive", action="store_true", help="also read images in sub-folders of input folders")
    p.add_argument("--overwrite", action="store_true", help="replace outputs (and results.csv) of an earlier run")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse images with more pixels than this (default: Pillow's decompression-bomb limit, "
        f"{DEFAULT_MAX_PIXELS})",
    )
    cam = p.add_argument_group("camera (for PLY point clouds)")
    cam.add_argument(
        "--intrinsics", nargs=4, type=float, metavar=("FX", "FY", "CX", "CY"), help="pinhole intrinsics in pixels"
    )
    cam.add_argument(
        "--intrinsics-size",
        nargs=2,
        type=int,
        metavar=("WIDTH", "HEIGHT"),
        help="image size the --intrinsics belong to (images of another size get scaled intrinsics)",
    )
    cam.add_argument(
        "--camera-info",
        metavar="YAML",
        help="a ROS camera calibration YAML (camera_calibration / camera_info_manager format)",
    )
    cam.add_argument("--stride", type=int, default=1, help="keep every N-th row and column in the PLY")
    cam.add_argument("--no-color", action="store_true", help="PLY without the image's colours")
    cam.add_argument("--max-depth", type=float, default=0.0, help="leave points beyond this depth out (0: none)")
    cam.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="leave points less confident than this (0-1, as _confidence.png) out of the PLY",
    )
    vis = p.add_argument_group("colour map")
    vis.add_argument("--colormap-min", type=float, default=0.0, help="depth of the first colour (0: per image)")
    vis.add_argument("--colormap-max", type=float, default=0.0, help="depth of the last colour (0: per image)")
    add_network_args(p)
    return p.parse_args(argv)


def find_images(inputs: Sequence[str], recursive: bool = False) -> list[tuple[Path, Path]]:
    """(image path, output path stem relative to the output folder) for every input image, in a stable order."""
    out: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise CliError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {p}")
            out += [(f, f.relative_to(p).with_suffix("")) for f in files]
        elif p.is_file():
            out.append((p, Path(p.stem)))
        else:
            raise CliError(f"input not found: {p}")
    seen: dict[Path, Path] = {}
    for src, rel in out:
        if rel in seen:
            raise CliError(
                f"{src} and {seen[rel]} would write the same output files ({rel}); "
                "pass them in separate runs or separate folders"
            )
        seen[rel] = src
    return out


def _too_large(path: Path, size: str, max_pixels: int) -> CliError:
    return CliError(
        f"cannot read image {path}: {size} pixels is more than --max-pixels {max_pixels} "
        "(a decompression bomb?); raise --max-pixels to process it"
    )


def _open_image(path: Path, max_pixels: int) -> Any:
    """The image opened lazily (header only, nothing decoded yet) after its size was checked; CliError when it
    cannot be used."""
    from PIL import Image, UnidentifiedImageError

    # Pillow's own bomb check (a warning, then an exception without the size) is replaced by the one below.
    Image.MAX_IMAGE_PIXELS = None
    try:
        im = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CliError(f"cannot read image {path}: {exc}") from exc
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise _too_large(path, f"{w}x{h}", max_pixels)
    return im


def check_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it; CliError when it cannot be used."""
    with _open_image(path, max_pixels) as im:
        return im.size


def read_rgb(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grey, palette, 16-bit and alpha images converted)."""
    with _open_image(path, max_pixels) as im:
        try:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if arr.max(initial=0) > 255 else 255.0
                grey = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise CliError(f"cannot read image {path}: {exc}") from exc


def load_camera_yaml(path: str) -> tuple[tuple[float, float, float, float], tuple[int, int]]:
    """(fx, fy, cx, cy) from P (else K) and (width, height) of a ROS camera calibration YAML."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
        w, h = int(data["image_width"]), int(data["image_height"])
        mat = data.get("projection_matrix") or data["camera_matrix"]
        vals = [float(v) for v in mat["data"]]
    except FileNotFoundError as exc:
        raise CliError(f"--camera-info: file not found: {path}") from exc
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise CliError(f"--camera-info {path}: not a ROS camera calibration file ({exc})") from exc
    cols = 4 if len(vals) == 12 else 3
    if len(vals) not in (9, 12):
        raise CliError(f"--camera-info {path}: the matrix has {len(vals)} values, expected 9 (K) or 12 (P)")
    return (vals[0], vals[cols + 1], vals[2], vals[cols + 2]), (w, h)


def depth_png(depth: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
    """uint16 depth in 1/scale metres (0 invalid) and the number of pixels too far for 16 bits (written as 0)."""
    with np.errstate(invalid="ignore"):
        units = np.rint(np.where(np.isfinite(depth) & (depth > 0), depth, 0.0) * scale)
    too_far = units > 65535
    units[too_far] = 0
    return units.astype(np.uint16), int(too_far.sum())


def confidence_png(confidence: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """uint16 confidence x 65535 (0 where the depth is invalid)."""
    valid = np.isfinite(depth) & np.isfinite(confidence)
    return np.rint(np.where(valid, np.clip(confidence, 0.0, 1.0), 0.0) * 65535.0).astype(np.uint16)


def image_focal(camera: tuple | None, height: int, width: int) -> tuple[float, float] | None:
    """(fx, fy) for an image of this size from --intrinsics/--camera-info (scaled when the calibration was made
    at another size), None without a camera."""
    if camera is None:
        return None
    (fx, fy, _, _), size = camera
    if size is not None and tuple(size) != (width, height):
        return (fx * width / size[0], fy * height / size[1])
    return (fx, fy)


def main(argv: Sequence[str] | None = None) -> int:
    """Depth maps (PNG/NPY), colour maps and point clouds for images."""
    from tqdm import tqdm

    from side_ros import geometry

    args = parse_args(argv)
    if args.png_scale <= 0:
        raise CliError(f"--png-scale must be positive, got {args.png_scale}")
    if args.stride < 1:
        raise CliError(f"--stride must be >= 1, got {args.stride}")
    if args.intrinsics and args.camera_info:
        raise CliError("give either --intrinsics or --camera-info, not both")
    camera = None
    if args.intrinsics:
        camera = (tuple(args.intrinsics), tuple(args.intrinsics_size) if args.intrinsics_size else None)
        geometry.Intrinsics(*args.intrinsics)  # checks the values
    elif args.camera_info:
        camera = load_camera_yaml(args.camera_info)
    if not 0.0 <= args.min_confidence <= 1.0:
        raise CliError(f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    formats = (
        set(args.formats.split(","))
        if args.formats
        else {"png", "colormap", "confidence"} | ({"ply"} if camera else set())
    )
    unknown = formats - set(FORMATS)
    if unknown:
        raise CliError(f"--formats: unknown {', '.join(sorted(unknown))} (choose from {', '.join(FORMATS)})")
    if "ply" in formats and camera is None:
        raise CliError("PLY point clouds need the camera intrinsics: pass --intrinsics FX FY CX CY or --camera-info")
    if args.max_pixels < 1:
        raise CliError(f"--max-pixels must be >= 1, got {args.max_pixels}")
    images = find_images(args.inputs, args.recursive)
    # Every input is checked before anything is created or loaded: a bad file found after an hour of inference,
    # or an output folder left behind by a typo, helps nobody.
    problems = []
    for src, _ in images:
        try:
            check_image(src, args.max_pixels)
        except CliError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CliError(problems[0] + more)
    out_dir = Path(args.output)
    planned = [out_dir / RESULTS] + [
        out_dir / rel.parent / (rel.name + SUFFIXES[f]) for _, rel in images for f in FORMATS if f in formats
    ]
    existing = [q for q in planned if q.exists()]
    if existing and not args.overwrite:
        raise CliError(
            f"{len(existing)} output file(s) exist already in {out_dir} (e.g. {existing[0]}); "
            "use --overwrite to replace them, or another -o folder"
        )
    pipe = build_pipeline(args)
    no_confidence = [n for n in ("low", "high") if pipe.network(n) is not None and not pipe.network(n).gives_confidence]
    if "confidence" in formats and no_confidence:
        if args.formats:
            raise CliError(
                f"--formats confidence: the {' and '.join(no_confidence)} network(s) have a regression "
                "inference head (no bin distribution, so no confidence)"
            )
        formats.discard("confidence")
        print(
            f"side-depth-images: no _confidence.png: the {' and '.join(no_confidence)} network(s) have a "
            "regression inference head"
        )
    out_dir = check_output_dir(args.output)
    print(f"side-depth-images: {len(images)} image(s) on {pipe.describe()}")
    print(f"side-depth-images: {routing_line(pipe)}")
    if camera is None:
        print(
            "side-depth-images: no --intrinsics or --camera-info: depth is scaled for the networks' training "
            "camera (give the camera's focal for metric scale)"
        )
    counts = {"ok": 0, "low": 0, "high": 0, "failed": 0}
    clipped = 0
    with open(out_dir / RESULTS, "w", newline="") as f:
        table = csv.DictWriter(f, fieldnames=COLUMNS, restval="")

        def record(row: dict[str, object]) -> None:
            table.writerow(row)
            f.flush()  # the table is complete up to the last image even if the run dies on the next

        table.writeheader()
        f.flush()
        done = 0
        try:
            for src, rel in tqdm(images, unit="image", desc="depth", disable=None):
                try:
                    row, too_far = _one_image(pipe, src, rel, out_dir, formats, camera, args)
                except CliError as exc:  # this image only (unreadable data found when decoding): go on
                    record({"image": str(src), "output": str(rel), "status": f"not written: {exc}"})
                    counts["failed"] += 1
                else:
                    record(row)
                    clipped += too_far
                    counts["ok"] += 1
                    counts[str(row["range"])] += 1
                done += 1
        except BaseException as exc:  # Ctrl-C, SIGTERM, a full disk: say which images got nothing
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            for src, rel in images[done:]:
                record({"image": str(src), "output": str(rel), "status": f"not written: {why}"})
            raise
    print(
        f"wrote {counts['ok']} image(s) to {out_dir} (low range: {counts['low']}, high range: {counts['high']}); "
        f"see {out_dir / RESULTS}"
    )
    if clipped:
        print(
            f"note: {clipped} pixel(s) beyond {65535 / args.png_scale:.1f} m were written as 0 in the 16-bit PNGs "
            "(use --png-scale 256 for KITTI's format, or the NPY output)"
        )
    if counts["failed"]:
        raise CliError(
            f"{counts['failed']} of {len(images)} image(s) could not be processed; their reasons are in "
            f"{out_dir / RESULTS}"
        )
    return 0


def _one_image(
    pipe: object, src: Path, rel: Path, out_dir: Path, formats: set[str], camera: object, args: argparse.Namespace
) -> tuple[dict[str, object], int]:
    """Depth for one image and its output files; returns its results.csv row and the pixels too far for the PNG.
    An error removes the files this image had written, so a row says "ok" exactly when all its files exist."""
    from PIL import Image

    from side_ros import geometry

    rgb = read_rgb(src, args.max_pixels)
    result = pipe(rgb, image_focal(camera, rgb.shape[0], rgb.shape[1]))
    depth = result.depth
    base = out_dir / rel
    base.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def target(fmt: str) -> Path:
        written.append(base.with_name(base.name + SUFFIXES[fmt]))
        return written[-1]

    too_far = 0
    points = 0
    try:
        if "png" in formats:
            png, too_far = depth_png(depth, args.png_scale)
            Image.fromarray(png).save(target("png"))
        if "npy" in formats:
            np.save(target("npy"), depth.astype(np.float32))
        if "colormap" in formats:
            colours = geometry.colorize_depth(depth, args.colormap_min, args.colormap_max, order="rgb")
            Image.fromarray(colours).save(target("colormap"))
        if "confidence" in formats and result.confidence is not None:
            Image.fromarray(confidence_png(result.confidence, depth)).save(target("confidence"))
        if "ply" in formats:
            (fx, fy, cx, cy), size = camera
            intr = geometry.Intrinsics(fx, fy, cx, cy)
            h, w = depth.shape
            if size is not None and tuple(size) != (w, h):
                intr = intr.scaled(w / size[0], h / size[1])
            pts = geometry.depth_to_points(
                depth,
                intr,
                stride=args.stride,
                max_depth=args.max_depth,
                confidence=result.confidence,
                min_confidence=args.min_confidence,
            )
            cols = None if args.no_color else np.ascontiguousarray(rgb[:: args.stride, :: args.stride])
            points = geometry.write_ply(target("ply"), pts, cols)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    d = result.decision
    finite = depth[np.isfinite(depth)]
    row = {
        "image": str(src),
        "output": str(rel),
        "status": "ok",
        "width": depth.shape[1],
        "height": depth.shape[0],
        "range": d.range,
        "router": d.router,
        "score": "" if d.score != d.score else f"{d.score:.4f}",
        "min_depth_m": f"{finite.min():.3f}" if finite.size else "",
        "max_depth_m": f"{finite.max():.3f}" if finite.size else "",
        "ply_points": points,
    }
    return row, too_far


run = entry(main)

if __name__ == "__main__":
    run()

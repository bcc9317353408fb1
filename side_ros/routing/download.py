"""`side-download-places365`: fetch the official WideResNet-18 Places365 checkpoint and verify it.

The Places2 site publishes no checksum, so verification is: the SHA-256 you pass with --sha256 (if any) must
match, and the file must load as the official architecture (every tensor name and shape, 365 classes). The
verified SHA-256 is written next to the file (`<file>.sha256`) so later runs can detect a changed file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

OFFICIAL_URL = "http://places2.csail.mit.edu/models_places365/wideresnet18_places365.pth.tar"
DEFAULT_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "side_ros"
FILENAME = "wideresnet18_places365.pth.tar"


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, *, sha256: str | None = None, timeout: float = 60.0, quiet: bool = False) -> str:
    """Download to a temporary file, verify, then move into place; returns the file's SHA-256."""
    from side_ros.networks.places365 import load_places365

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=dest.name, suffix=".part", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                bar = None
                if not quiet:
                    from tqdm import tqdm

                    bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=dest.name)
                while block := resp.read(1 << 20):
                    tmp.write(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
    try:
        digest = sha256_of(tmp_path)
        if sha256 and digest.lower() != sha256.lower():
            raise ValueError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {digest}")
        load_places365(tmp_path)  # the architecture check: raises CheckpointError on any mismatch
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    shutil.move(tmp_path, dest)
    Path(str(dest) + ".sha256").write_text(f"{digest}  {dest.name}\n")
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=OFFICIAL_URL, help="where to fetch the checkpoint (default: official)")
    parser.add_argument("--output", type=Path, default=DEFAULT_DIR / FILENAME, help="destination file")
    parser.add_argument("--sha256", help="expected SHA-256 of the file (verified before it is kept)")
    parser.add_argument("--force", action="store_true", help="download again even if the file exists")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from side_ros.console import EXIT_ERROR
    from side_ros.networks.checkpoint import CheckpointError

    try:
        if args.output.exists() and not args.force:
            digest = sha256_of(args.output)
            side = Path(str(args.output) + ".sha256")
            recorded = side.read_text().split()[0] if side.exists() else None
            expected = args.sha256 or recorded
            if expected and digest != expected.lower():
                print(f"error: {args.output} has sha256 {digest}, expected {expected}; use --force", file=sys.stderr)
                return EXIT_ERROR
            print(f"{args.output} already present (sha256 {digest})")
            return 0
        digest = download(args.url, args.output, sha256=args.sha256, quiet=args.quiet)
    except (urllib.error.URLError, OSError, ValueError, CheckpointError) as exc:
        print(f"error: could not get a valid Places365 checkpoint from {args.url}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"saved {args.output} (sha256 {digest}); use it with the node's parameter weights.places:={args.output} "
        f"or the commands' --places {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the package's installed files (models/, config/, launch/) are: colcon install, pip install or source tree."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "side_ros"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """The package's share directory.

    Order: ament index (colcon workspaces, sourced ROS), `<prefix>/share/side_ros` (pip install), then the
    source checkout (editable installs and running from the repository).
    """
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory(PACKAGE))
        except (PackageNotFoundError, OSError, KeyError, ValueError):  # OSError: AMENT_PREFIX_PATH unset (pip)
            pass
    except ImportError:
        pass
    for prefix in (sys.prefix, os.environ.get("VIRTUAL_ENV", "")):
        candidate = Path(prefix) / "share" / PACKAGE
        if prefix and (candidate / "models").is_dir():
            return candidate
    return SOURCE_ROOT


def resolve(path: str | os.PathLike) -> Path:
    """A user path: absolute or existing relative to the working directory as given, else relative to share_dir().

    So `models/low.pt` in a parameter file means the shipped weights wherever the package is installed.
    """
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute() or p.exists():
        return p
    shared = share_dir() / p
    if shared.exists():
        return shared
    source = SOURCE_ROOT / p
    return source if source.exists() else shared


def default_model(name: str) -> Path:
    """Shipped default weights: models/<name>.pt (name: low, high, coarse)."""
    return resolve(Path("models") / f"{name}.pt")

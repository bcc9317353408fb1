"""How every side_ros command ends: its exit status, and bad input as one `error: ...` line on stderr (a
traceback is for bugs, not for a mistyped topic). Shared by the offline commands (side_ros/cli), the demo, the
replayer (side_ros/ros/replay.py), training and the Places365 download; no ROS, no torch.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence

# Every side_ros command exits with: 0 done, EXIT_ERROR for bad input or a failure (one `error: ...` line on
# stderr), 2 for command-line usage errors (argparse), 130 / 143 when interrupted by Ctrl-C / SIGTERM.
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class CliError(Exception):
    """A problem with the command's input or environment, reported as one line."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a job scheduler, a container stop), raised like Ctrl-C so that the same clean-up runs:
    partial outputs are removed and earlier outputs kept."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's main; bad input becomes `error: <reason>` on stderr and exit status 1."""
    from side_ros.bags.io import BagError

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return main(argv)
    except Terminated:
        print("error: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CliError, BagError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return EXIT_ERROR
    except RuntimeError as exc:  # CheckpointError, torch (device, memory), kitti2mcap
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def entry(main: Callable[[Sequence[str] | None], int]) -> Callable[[], None]:
    """A console-script entry point around `main` (setup.py names the returned function)."""

    def _entry() -> None:
        raise SystemExit(run_cli(main))

    _entry.__doc__ = main.__doc__
    return _entry

"""`side-replay`: play a rosbag2 (MCAP or sqlite3) over rclpy, for machines without `ros2 bag play` (pip installs).

Messages are published as recorded (their CDR bytes, no re-encoding) with their original relative timing scaled
by --rate, and /clock (rosgraph_msgs/Clock) carries the bag time, so nodes started with use_sim_time see the
recording's time as `ros2 bag play --clock` would give it. Topic remapping, a topic filter, looping and the QoS
to offer (as recorded, or reliable for large images between processes) are options; /tf_static is always offered
transient-local so late subscribers still get the static transforms.

A topic whose message package is not importable here (e.g. tf2_msgs in a pip install) is skipped with a notice;
in a sourced ROS 2 workspace every standard type is available.

Also here: TopicRecorder, which records what other nodes publish as raw CDR bytes (for the demo and tests).
"""

from __future__ import annotations

import argparse
import importlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from side_ros.bags.io import BagMessage, BagReader
from side_ros.bags.messages import NS

QOS_MODES = ("recorded", "reliable", "best_effort")
CLOCK_TOPIC = "/clock"


def message_class(msgtype: str) -> type | None:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image, or None when its package is not installed."""
    parts = msgtype.split("/")
    if len(parts) != 3:
        return None
    pkg, sub, name = parts
    try:
        return getattr(importlib.import_module(f"{pkg}.{sub}"), name)
    except (ImportError, AttributeError):
        return None


def qos_for(connection: Any, mode: str, depth: int) -> QoSProfile:
    """The QoS to offer on a replayed topic: recorded (first offered profile, else reliable), or forced."""
    durability = DurabilityPolicy.VOLATILE
    reliability = ReliabilityPolicy.RELIABLE
    if mode == "recorded":
        profiles = list(getattr(getattr(connection, "ext", None), "offered_qos_profiles", []) or [])
        if profiles:
            rec = profiles[0]
            if rec.reliability.name == "BEST_EFFORT":
                reliability = ReliabilityPolicy.BEST_EFFORT
            if rec.durability.name == "TRANSIENT_LOCAL":
                durability = DurabilityPolicy.TRANSIENT_LOCAL
    elif mode == "best_effort":
        reliability = ReliabilityPolicy.BEST_EFFORT
    if connection.topic == "/tf_static":
        reliability, durability = ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability, durability=durability)


def parse_remaps(rules: Iterable[str]) -> dict[str, str]:
    """['/a:=/b', ...] (ros2 bag play's --remap syntax) -> {'/a': '/b'}."""
    out: dict[str, str] = {}
    for rule in rules:
        src, sep, dst = rule.partition(":=")
        if not sep or not src or not dst:
            raise ValueError(f"remap rule must look like /from:=/to, got {rule!r}")
        out[src] = dst
    return out


@dataclass
class ReplayStats:
    """Messages published per (published) topic, topics skipped with the reason, loops and wall time."""

    published: Counter = field(default_factory=Counter)
    skipped_topics: dict[str, str] = field(default_factory=dict)
    loops: int = 0
    seconds: float = 0.0


class BagReplayer:
    """Publishes a bag's messages from `node` with their recorded timing (call run(), it blocks).

    gate(message) is called before each message is published and may block (the demo waits there for the
    node's answer); time spent in it pauses the bag clock, so the recorded spacing of later messages is kept.
    on_publish(message, perf_counter_time) is called right after each publish.
    """

    def __init__(
        self,
        node: Node,
        bag: str | Path,
        *,
        rate: float = 1.0,
        topics: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        remap: Mapping[str, str] | None = None,
        qos: str = "recorded",
        depth: int = 10,
        clock: bool = True,
        clock_hz: float = 100.0,
        loop: bool = False,
        gate: Callable[[BagMessage], None] | None = None,
        on_publish: Callable[[BagMessage, float], None] | None = None,
    ):
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if qos not in QOS_MODES:
            raise ValueError(f"qos must be one of {', '.join(QOS_MODES)}, got {qos!r}")
        if clock and not clock_hz > 0:
            raise ValueError(f"clock_hz must be positive, got {clock_hz}")
        self.node = node
        self.bag = Path(bag)
        self.rate, self.loop, self.gate, self.on_publish = float(rate), loop, gate, on_publish
        self.clock_period = 1.0 / clock_hz if clock else None
        self.remap = dict(remap or {})
        self.stats = ReplayStats()
        self._stop = threading.Event()
        self.publishers: dict[str, Any] = {}  # bag topic -> publisher
        with BagReader(self.bag) as reader:
            available = reader.topics
            wanted = list(available) if topics is None else list(topics)
            missing = [t for t in wanted if t not in available]
            if missing:
                raise ValueError(f"topics not in bag {self.bag}: {', '.join(missing)} (topics: {reader.topic_list()})")
            for conn in reader.connections:
                if conn.topic not in wanted or conn.topic in exclude or conn.topic in self.publishers:
                    continue
                cls = message_class(conn.msgtype)
                if cls is None:
                    pkg = conn.msgtype.split("/")[0]
                    self.stats.skipped_topics[conn.topic] = (
                        f"{conn.msgtype}: Python package {pkg} is not installed (a sourced ROS 2 install has it)"
                    )
                    continue
                self.publishers[conn.topic] = node.create_publisher(
                    cls, self.remap.get(conn.topic, conn.topic), qos_for(conn, qos, depth)
                )
            self.start_time = reader.start_time
        self._clock_pub = node.create_publisher(Clock, CLOCK_TOPIC, QoSProfile(depth=1)) if clock else None

    def published_topic(self, bag_topic: str) -> str:
        return self.remap.get(bag_topic, bag_topic)

    def subscription_count(self, bag_topic: str) -> int:
        pub = self.publishers.get(bag_topic)
        return 0 if pub is None else pub.get_subscription_count()

    def wait_for_subscribers(self, bag_topics: Sequence[str], timeout: float, count: int = 1) -> bool:
        """Wait until every topic has `count` matched subscriptions (so nothing published is lost)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self._stop.is_set():
            if all(self.subscription_count(t) >= count for t in bag_topics):
                return True
            time.sleep(0.02)
        return all(self.subscription_count(t) >= count for t in bag_topics)

    def stop(self) -> None:
        self._stop.set()

    def _publish_clock(self, bag_ns: int) -> None:
        if self._clock_pub is not None:
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = int(bag_ns // NS), int(bag_ns % NS)
            self._clock_pub.publish(msg)

    def _wait_until(self, target: float, bag_at: Callable[[float], int], bag_target: int) -> None:
        """Sleep until monotonic `target`, publishing /clock every clock period meanwhile (never past the next
        message's time, so the clock does not run backwards when that message is published)."""
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= target:
                return
            step = target - now if self.clock_period is None else min(self.clock_period, target - now)
            self._stop.wait(step)
            if self.clock_period is not None and not self._stop.is_set():
                self._publish_clock(min(bag_at(time.monotonic()), bag_target))

    def run(self) -> ReplayStats:
        """Replay (all loops); returns the statistics. stop() from another thread ends it early."""
        t_start = time.monotonic()
        topics = list(self.publishers)
        while not self._stop.is_set():
            self._play_once(topics)
            self.stats.loops += 1
            if not self.loop or not topics:
                break
        self.flush()
        self.stats.seconds = time.monotonic() - t_start
        return self.stats

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until reliable subscribers acknowledged everything published, so a replayer that exits right
        after its last message does not take the message with it (best-effort publishers return at once).

        Polled in short slices: rclpy's wait_for_all_acked holds the interpreter while it blocks, which would
        stall the other threads of a process that also subscribes (the demo's recorder)."""
        pubs = [*self.publishers.values()] + ([self._clock_pub] if self._clock_pub is not None else [])
        end = time.monotonic() + timeout
        pending = list(pubs)
        while pending and time.monotonic() < end:
            pending = [p for p in pending if not p.wait_for_all_acked(Duration(nanoseconds=1_000_000))]
            if pending:
                time.sleep(0.01)
        return not pending

    def _play_once(self, topics: list[str]) -> None:
        wall0 = time.monotonic()
        paused = 0.0
        bag0: int | None = None

        def bag_at(now: float) -> int:
            return int((bag0 or 0) + (now - wall0 - paused) * self.rate * NS)

        with BagReader(self.bag) as reader:
            for msg in reader.messages(topics):
                if self._stop.is_set():
                    return
                if bag0 is None:
                    # The clock starts with the first message, not before opening the bag (which takes a while
                    # for a large one and would make the first message late and the next gap short).
                    bag0, wall0 = msg.log_time, time.monotonic()
                self._wait_until(wall0 + paused + (msg.log_time - bag0) / NS / self.rate, bag_at, msg.log_time)
                if self._stop.is_set():
                    return
                if self.gate is not None:
                    g0 = time.monotonic()
                    self.gate(msg)
                    paused += time.monotonic() - g0
                self._publish_clock(msg.log_time)
                self.publishers[msg.topic].publish(bytes(msg.raw))
                if self.on_publish is not None:
                    self.on_publish(msg, time.perf_counter())
                self.stats.published[self.published_topic(msg.topic)] += 1


@dataclass(frozen=True)
class Received:
    """One recorded message: topic, type, CDR bytes and when it arrived (perf_counter and wall clock ns)."""

    topic: str
    msgtype: str
    raw: bytes
    perf: float
    wall_ns: int


class TopicRecorder:
    """Subscribes to topics without deserializing (raw=True) and keeps every message with its arrival time."""

    def __init__(
        self,
        node: Node,
        topics: Mapping[str, str],
        *,
        qos: QoSProfile | None = None,
        on_message: Callable[[Received], None] | None = None,
    ):
        self.lock = threading.Lock()
        self.received: dict[str, list[Received]] = {t: [] for t in topics}
        self.on_message = on_message
        profile = qos or QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.subscriptions = []
        for topic, msgtype in topics.items():
            cls = message_class(msgtype)
            if cls is None:
                raise ValueError(f"cannot record {topic}: message type {msgtype} is not installed")
            self.subscriptions.append(
                node.create_subscription(cls, topic, self._callback(topic, msgtype), profile, raw=True)
            )

    def _callback(self, topic: str, msgtype: str) -> Callable[[bytes], None]:
        def record(raw: bytes) -> None:
            item = Received(topic, msgtype, bytes(raw), time.perf_counter(), time.time_ns())
            with self.lock:
                self.received[topic].append(item)
            if self.on_message is not None:
                self.on_message(item)

        return record

    def messages(self, topic: str) -> list[Received]:
        with self.lock:
            return list(self.received[topic])

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.received[topic])


# ------------------------------------------------------------------------------------------------- command
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="side-replay",
        description=__doc__.split("\n\n")[0] + " See --help.",
        epilog="ROS arguments may follow --ros-args (e.g. -r __ns:=/robot).",
    )
    p.add_argument("bag", help="rosbag2 folder, or a .mcap / .db3 file")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (2 = twice as fast)")
    p.add_argument("--loop", action="store_true", help="play again from the start until interrupted")
    p.add_argument("--topics", nargs="+", help="only these bag topics (default: all)")
    p.add_argument("--exclude", nargs="+", default=[], help="bag topics not to play")
    p.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO", help="publish bag topic FROM on TO")
    p.add_argument(
        "--qos",
        choices=QOS_MODES,
        default="recorded",
        help="QoS offered: as recorded (default; reliable when the bag has none), or forced reliable "
        "(large images between processes) or best_effort",
    )
    p.add_argument("--depth", type=int, default=10, help="publisher history depth")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument("--clock-hz", type=float, default=100.0, help="/clock rate between messages")
    p.add_argument(
        "--wait-for",
        nargs="+",
        default=[],
        metavar="TOPIC",
        help="before playing, wait until these bag topics have a subscriber (e.g. the node's image)",
    )
    p.add_argument("--wait-timeout", type=float, default=30.0, help="seconds --wait-for waits at most")
    p.add_argument("--delay", type=float, default=0.0, help="seconds to wait before playing (discovery)")
    return p.parse_args(argv)


def replay_main(argv: Sequence[str] | None = None) -> int:
    """Replay a bag over ROS 2 with /clock."""
    import sys

    from side_ros.console import CliError

    args_all = list(sys.argv[1:] if argv is None else argv)
    # Our options, then ROS's after --ros-args (rclpy would read our FROM:=TO remaps as its legacy remap syntax).
    cut = args_all.index("--ros-args") if "--ros-args" in args_all else len(args_all)
    args = parse_args(args_all[:cut])
    remap = parse_remaps(args.remap)
    rclpy.init(args=["side-replay", *args_all[cut:]])
    try:
        node = rclpy.create_node("side_replay")
        try:
            player = BagReplayer(
                node,
                args.bag,
                rate=args.rate,
                topics=args.topics,
                exclude=args.exclude,
                remap=remap,
                qos=args.qos,
                depth=args.depth,
                clock=not args.no_clock,
                clock_hz=args.clock_hz,
                loop=args.loop,
            )
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        for topic, reason in player.stats.skipped_topics.items():
            print(f"skipping {topic}: {reason}", file=sys.stderr)
        if not player.publishers:
            raise CliError("no topic of the bag can be published here")
        unknown = [t for t in args.wait_for if t not in player.publishers]
        if unknown:
            raise CliError(f"--wait-for: not a replayed topic: {', '.join(unknown)}")
        if args.wait_for and not player.wait_for_subscribers(args.wait_for, args.wait_timeout):
            raise CliError(
                f"no subscriber on {', '.join(player.published_topic(t) for t in args.wait_for)} "
                f"after {args.wait_timeout:.0f} s"
            )
        if args.delay > 0:
            time.sleep(args.delay)
        print(
            f"replaying {args.bag}: {len(player.publishers)} topic(s) at rate {args.rate:g}"
            + ("" if args.no_clock else ", publishing /clock")
            + (", looping" if args.loop else "")
        )
        try:
            stats = player.run()
        except KeyboardInterrupt:
            player.stop()
            stats = player.stats
        total = sum(stats.published.values())
        print(
            f"published {total} message(s) in {stats.seconds:.1f} s: "
            + ", ".join(f"{t} {n}" for t, n in sorted(stats.published.items()))
        )
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    return 0


def main() -> None:
    """Console entry point of side-replay."""
    from side_ros.console import run_cli

    raise SystemExit(run_cli(replay_main))


if __name__ == "__main__":
    main()

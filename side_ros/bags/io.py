"""Reading and writing rosbag2 recordings (MCAP and sqlite3) with `rosbags`, with errors a person can act on.

Why a layer over rosbags: its readers and writers fail with messages about internals (a missing metadata key, a
chunk CRC, an existing directory); the offline tools turn every such failure into one BagError that names the
bag and what to do. It also copies topics from one bag to another with their message definitions, type hashes
and offered QoS, so a bag written here replays with `ros2 bag play` exactly as the original did.

A bag is a rosbag2 folder (metadata.yaml + storage files) or a bare `.mcap` / `.db3` file (kitti2mcap writes a
bare MCAP). Messages come in log-time order; nothing here imports ROS.

Integrity: a bag is written into a hidden folder beside its destination and moved into place only once complete,
so an interrupted or failed run never leaves a half-written bag, nor destroys the bag it was to replace. MCAP
chunks carry the CRC-32 of their records (rosbags writes 0, "not computed"), and reading checks every chunk's
CRC, so corrupted bytes become a BagError naming the topics and log times of the damaged chunk instead of
silently wrong messages.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from binascii import crc32
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import ReaderError, Writer, WriterError
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
from rosbags.rosbag2.storage_mcap import McapReader, McapWriter, decompress
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

STORAGES = ("mcap", "sqlite3")
# rosbag2 metadata version 8: read by Humble's, Jazzy's and Kilted's `ros2 bag` (9 only by Kilted and newer).
BAG_VERSION = 8
TF_STATIC = "/tf_static"


class BagError(ValueError):
    """A bag that cannot be read or written as asked; the message says which bag and why."""


def default_typestore() -> Typestore:
    """Message definitions for bags that carry none (old sqlite3 bags) and for the topics written here.

    Kilted's: the PyPI ROS wheels are Kilted, and sensor_msgs / std_msgs are unchanged since Humble, so their
    hashes match what Humble and Jazzy tools expect.
    """
    return get_typestore(Stores.ROS2_KILTED)


@dataclass(frozen=True)
class TopicSummary:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: topic, type, log time (ns since epoch) and its CDR bytes."""

    topic: str
    msgtype: str
    log_time: int
    raw: bytes | memoryview
    connection: Connection


def storage_of(path: str | os.PathLike) -> str:
    """'mcap' or 'sqlite3' for a bag folder or bare storage file (what its metadata or suffix says)."""
    p = Path(path)
    if p.is_file():
        if p.suffix == ".mcap":
            return "mcap"
        if p.suffix == ".db3":
            return "sqlite3"
        raise BagError(f"{p}: not a rosbag2 bag (expected a bag folder, a .mcap or a .db3 file)")
    meta = p / "metadata.yaml"
    if meta.is_file():
        for line in meta.read_text(errors="replace").splitlines():
            key, _, value = line.strip().partition(":")
            if key == "storage_identifier":
                value = value.strip().strip("'\"")
                if value in STORAGES:
                    return value
    if any(p.glob("*.mcap")):
        return "mcap"
    if any(p.glob("*.db3")):
        return "sqlite3"
    raise BagError(f"{p}: not a rosbag2 bag (no metadata.yaml, .mcap or .db3 file)")


class BagReader:
    """A rosbag2 bag opened for reading (use as a context manager).

    Deserializes with the definitions stored in the bag, falling back to the Kilted typestore for bags without
    any, so bags with custom or vendor messages still copy and read.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag not found: {self.path}")
        if self.path.is_dir() and not (self.path / "metadata.yaml").exists():
            raise BagError(
                f"cannot read bag {self.path}: the folder has no metadata.yaml "
                "(pass the .mcap / .db3 file inside it instead)"
            )
        try:
            self._reader = AnyReader([self.path], default_typestore=default_typestore())
            self._reader.open()
        except (AnyReaderError, ReaderError, SerdeError, OSError, ValueError, KeyError) as exc:
            raise BagError(f"cannot read bag {self.path}: {_reason(exc)}") from exc
        self.storage = storage_of(self.path)

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader.stack is not None:
            self._reader.close()

    @property
    def typestore(self) -> Typestore:
        return self._reader.typestore

    @property
    def connections(self) -> list[Connection]:
        return list(self._reader.connections)

    @property
    def topics(self) -> dict[str, TopicSummary]:
        """Topic name -> type and message count (a topic recorded with two types is reported by its first)."""
        out: dict[str, TopicSummary] = {}
        for c in self._reader.connections:
            prev = out.get(c.topic)
            out[c.topic] = TopicSummary(
                c.topic, prev.msgtype if prev else c.msgtype, (prev.count if prev else 0) + c.msgcount
            )
        return out

    @property
    def start_time(self) -> int:
        return self._reader.start_time

    @property
    def end_time(self) -> int:
        return self._reader.end_time

    def topic_list(self) -> str:
        """'name (type)' of every topic, for error messages."""
        return (
            ", ".join(f"{t.name} ({t.msgtype})" for t in sorted(self.topics.values(), key=lambda t: t.name)) or "none"
        )

    def messages(
        self, topics: Iterable[str] | None = None, start: int | None = None, stop: int | None = None
    ) -> Iterator[BagMessage]:
        """Messages of `topics` (all when None) in log-time order; a corrupt bag raises BagError."""
        wanted = None if topics is None else set(topics)
        conns = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        last: BagMessage | None = None
        try:
            for conn, log_time, raw in self._reader.messages(connections=conns, start=start, stop=stop):
                last = BagMessage(conn.topic, conn.msgtype, log_time, raw, conn)
                yield last
        except Exception as exc:  # rosbags' decoders (zstd, lz4, struct) raise unrelated types
            where = self._damaged_chunks() or (
                f"after the message on {last.topic} at {self.time_text(last.log_time)}" if last is not None else ""
            )
            text = f"cannot read bag {self.path}: {_reason(exc).rstrip('.')}"
            raise BagError(text + (f"; {where}" if where else "")) from exc

    def time_text(self, log_time: int) -> str:
        """A log time as a person finds it in `ros2 bag info`/a player: seconds since the epoch and into the bag."""
        start = self.start_time if self.start_time < 2**63 - 1 else log_time
        return f"log time {log_time / 1e9:.6f} s ({(log_time - start) / 1e9:.3f} s into the bag)"

    def _damaged_chunks(self) -> str:
        """Which MCAP chunks fail their size or CRC check, by topics and log times ('' if none is found)."""
        if self.storage != "mcap":
            return ""
        files = [self.path] if self.path.is_file() else sorted(self.path.glob("*.mcap"))
        found = []
        for f in files:
            try:
                damaged = damaged_mcap_chunks(f)
            except Exception:  # the index itself is unreadable: nothing more to say
                continue
            for start, end, topics in damaged:
                span = self.time_text(start) if start == end else f"{self.time_text(start)} to {self.time_text(end)}"
                found.append(
                    f"corrupt data in {f.name} for the messages on {', '.join(topics) or 'no topic'} at {span}"
                )
        return "; ".join(found)

    def deserialize(self, message: BagMessage) -> Any:
        """The message as a rosbags dataclass (fields named as in the .msg file)."""
        try:
            return self._reader.deserialize(message.raw, message.msgtype)
        except (AnyReaderError, SerdeError, ValueError, KeyError, IndexError, struct.error) as exc:
            raise BagError(
                f"{self.path}: cannot decode a {message.msgtype} message on {message.topic} at "
                f"{self.time_text(message.log_time)}: {_reason(exc)}"
            ) from exc

    def first(self, topic: str) -> Any | None:
        """The first message on a topic, deserialized, or None when the topic has none."""
        for m in self.messages([topic]):
            return self.deserialize(m)
        return None


def damaged_mcap_chunks(path: str | os.PathLike) -> list[tuple[int, int, list[str]]]:
    """(first log time, last log time, topics) of every chunk of an MCAP file whose data fails to decompress to
    its recorded size or whose CRC-32 (when written, i.e. not 0) does not match. Reads the file's chunk index."""
    reader = McapReader(Path(path))
    reader.open()
    try:
        assert reader.bio is not None
        bio = reader.bio
        bad = []
        for chunk in reader.chunks:
            # Chunk record: opcode (1), length (8), start/end time (16), uncompressed size (8), CRC (4),
            # compression (4 + n), compressed size (8), records (as rosbags' reader lays it out).
            bio.seek(chunk.chunk_start_offset + 9 + 24)
            (crc,) = struct.unpack("<I", bio.read(4))
            bio.seek(chunk.chunk_start_offset + 9 + 40 + len(chunk.compression))
            data = bio.read(chunk.compressed_size)
            try:
                decompress(data, chunk.compression, chunk.uncompressed_size, crc)
            except Exception:  # any decoder failure means this chunk is damaged
                topics = sorted({reader.channels[c].topic for c in chunk.channel_count if c in reader.channels})
                bad.append((chunk.message_start_time, chunk.message_end_time, topics))
        return bad
    finally:
        reader.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[0].lower() + text[1:] if text else text


def reliable_qos(*, transient_local: bool = False, depth: int = 10) -> Qos:
    """An offered QoS profile for a bag topic (what `ros2 bag play` will offer when replaying it)."""
    zero = QosTime(0, 0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


class _CrcMcapWriter(McapWriter):
    """rosbags' MCAP writer, with the CRC-32 of each chunk's records in the chunk (rosbags writes 0, which
    readers take as "not computed" and so check nothing)."""

    def close_chunk(self) -> None:
        records = self.chunk.bio.getvalue()
        start = self.bio.tell()
        super().close_chunk()
        end = self.bio.tell()
        # The chunk record starts where close_chunk began writing: opcode (1), length (8), message start and end
        # time (16), uncompressed size (8), then the CRC (4).
        self.bio.seek(start + 1 + 8 + 16 + 8)
        self.bio.write(struct.pack("<I", crc32(records)))
        self.bio.seek(end)


class _Writer(Writer):
    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: _CrcMcapWriter}


class BagWriter:
    """A new rosbag2 bag (folder) being written (use as a context manager; an exception deletes the partial bag).

    storage: 'mcap' (zstd-compressed chunks when `compress`, CRC-32 per chunk) or 'sqlite3'. An existing `path` is
    refused unless `overwrite`, and even then only a rosbag2 folder (with metadata.yaml) is replaced, never an
    arbitrary folder. The bag is written into a hidden temporary folder beside `path` and moved to `path` by
    close(), so the old bag stays until the new one is complete; abort() (or an exception, Ctrl-C, SIGTERM in the
    commands) deletes the temporary folder and leaves `path` as it was.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        storage: str = "mcap",
        *,
        overwrite: bool = False,
        compress: bool = False,
        typestore: Typestore | None = None,
    ):
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self.typestore = typestore or default_typestore()
        if self.path.exists() or self.path.is_symlink():
            if not overwrite:
                raise BagError(f"output bag {self.path} exists already (use --overwrite to replace it)")
            if not (self.path.is_dir() and (self.path / "metadata.yaml").is_file()):
                raise BagError(f"output bag {self.path} exists and is not a rosbag2 folder; not replacing it")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmpdir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent))
        except OSError as exc:
            raise BagError(f"cannot create output bag {self.path}: {_oserror_text(exc)}") from exc
        # The storage files are named after the bag folder, so the bag is written under its final name.
        self._writer = _Writer(self._tmpdir / self.path.name, version=BAG_VERSION, storage_plugin=plugin)
        if compress and storage == "mcap":
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        try:
            self._writer.open()
        except (WriterError, OSError) as exc:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise BagError(f"cannot create output bag {self.path}: {_oserror_text(exc)}") from exc
        self._conns: dict[str, Connection] = {}
        self._open = True

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add_topic(
        self,
        topic: str,
        msgtype: str,
        *,
        typestore: Typestore | None = None,
        msgdef: str | None = None,
        digest: str | None = None,
        qos: Sequence[Qos] | None = None,
        serialization_format: str = "cdr",
    ) -> Connection:
        """Register a topic once (later calls return the same connection). Definitions come from `msgdef` and
        `digest` when given, else from `typestore` (default: this writer's)."""
        if topic in self._conns:
            return self._conns[topic]
        store = typestore or self.typestore
        if not msgdef or not digest:
            try:
                msgdef, _ = store.generate_msgdef(msgtype, ros_version=2)
                digest = store.hash_rihs01(msgtype)
            except Exception as exc:  # typesys raises several unrelated types
                raise BagError(f"no message definition for {msgtype} (topic {topic}): {exc}") from exc
        if qos is None:
            qos = [reliable_qos(transient_local=topic == TF_STATIC)]
        try:
            conn = self._writer.add_connection(
                topic,
                msgtype,
                msgdef=msgdef,
                rihs01=digest,
                serialization_format=serialization_format,
                offered_qos_profiles=list(qos),
            )
        except WriterError as exc:
            raise BagError(f"{self.path}: cannot add topic {topic}: {exc}") from exc
        self._conns[topic] = conn
        return conn

    def copy_topic(self, conn: Connection, typestore: Typestore) -> Connection:
        """Register a topic of another bag with its definition, hash and offered QoS.

        Bags without QoS metadata (bare MCAP files such as kitti2mcap's) get reliable QoS, and /tf_static gets
        transient-local durability, so a late RViz still receives the static transforms on replay.
        """
        ext = getattr(conn, "ext", None)
        qos = list(getattr(ext, "offered_qos_profiles", []) or []) or None
        fmt = getattr(ext, "serialization_format", "cdr") or "cdr"
        msgdef = conn.msgdef.data if conn.msgdef and conn.msgdef.data else None
        digest = conn.digest or None
        if digest and not digest.startswith("RIHS01_"):
            digest = None  # ROS 1 md5sums are no rosbag2 type hash
        return self.add_topic(
            conn.topic,
            conn.msgtype,
            typestore=typestore,
            msgdef=msgdef,
            digest=digest,
            qos=qos,
            serialization_format=fmt,
        )

    def write_raw(self, topic: str, log_time: int, raw: bytes | memoryview) -> None:
        """Write already serialized CDR bytes on a registered topic."""
        try:
            self._writer.write(self._conns[topic], int(log_time), raw)
        except KeyError as exc:
            raise BagError(f"{self.path}: topic {topic} was not added before writing") from exc
        except OSError as exc:
            raise BagError(f"cannot write output bag {self.path}: {_oserror_text(exc)}") from exc

    def write(self, topic: str, msg: Any, log_time: int) -> None:
        """Serialize a rosbags message and write it (the topic is registered on first use)."""
        msgtype = msg.__msgtype__
        self.add_topic(topic, msgtype)
        self.write_raw(topic, log_time, self.typestore.serialize_cdr(msg, msgtype))

    def close(self) -> None:
        """Finish the bag and move it to `path` (replacing the old bag there only now)."""
        if not self._open:
            return
        self._open = False
        try:
            self._writer.close()
            self._install()
        except (OSError, WriterError) as exc:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise BagError(f"cannot finish output bag {self.path}: {_oserror_text(exc)}") from exc
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _install(self) -> None:
        """Rename the finished bag to `path`; an old bag there is first renamed into the temporary folder (both
        renames stay in one directory, so neither copies data) and put back if the second rename fails."""
        new = self._tmpdir / self.path.name
        old = self._tmpdir / (self.path.name + ".old")
        had_old = self.path.exists() or self.path.is_symlink()
        if had_old:
            os.replace(self.path, old)
        try:
            os.replace(new, self.path)
        except OSError:
            if had_old:
                os.replace(old, self.path)
            raise

    def abort(self) -> None:
        """Stop writing and delete the partial bag (a half-written bag is worse than none); `path` is untouched."""
        if not self._open:
            return
        self._open = False
        try:
            self._writer.abort()
        except Exception:  # the bag is deleted anyway
            pass
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def _oserror_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")
    return _reason(exc)


def copy_messages(reader: BagReader, writer: BagWriter, topics: Iterable[str] | None = None) -> int:
    """Copy topics (all when None) with their definitions and log times; returns how many messages."""
    wanted = None if topics is None else set(topics)
    for conn in reader.connections:
        if wanted is None or conn.topic in wanted:
            writer.copy_topic(conn, reader.typestore)
    n = 0
    for m in reader.messages(wanted):
        writer.write_raw(m.topic, m.log_time, m.raw)
        n += 1
    return n

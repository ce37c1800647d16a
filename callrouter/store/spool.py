"""The write-ahead spool: every call-log record reaches disk before the database.

Layout of the spool directory::

    spool-000000000001.log   segments, append-only, one record per line
    spool-000000000002.log
    checkpoint.json          {"segment": 2, "offset": 81234}: everything before is in the DB
    rejected.log             records the database refused (kept, never silently dropped)
    lock                     one writer per spool directory

A line is ``<crc32 of the JSON, 8 hex digits> <JSON>\\n``. A torn write (the process or
the machine died in the middle of a line) or a corrupted line fails its checksum: the
reader reports it and carries on with the next line, so nothing after it is lost.

Writes go straight to the file with ``os.write`` when a record is handed over, so a
record survives a SIGKILL of the process the moment the call-log method returns; a
background task fsyncs in groups every few milliseconds (``fsync_pending`` in a worker
thread), which makes it survive a power cut too. Each process starts a new segment, so
a torn tail left by a crash is never appended to. Segments entirely before the
checkpoint are deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from callrouter.errors import SpoolError

SEGMENT_RE = re.compile(r"^spool-(\d{12})\.log$")
CHECKPOINT = "checkpoint.json"
REJECTED = "rejected.log"
LOCK = "lock"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class Position(NamedTuple):
    """A place in the spool: segment number and byte offset in it."""

    segment: int
    offset: int


@dataclass(frozen=True)
class CorruptLine:
    """A line that failed its checksum or did not parse (a torn or damaged write)."""

    segment: int
    offset: int
    length: int
    reason: str

    def describe(self, directory: Path) -> str:
        return (
            f"{directory / segment_name(self.segment)}: byte {self.offset}: "
            f"{self.reason} ({self.length} bytes skipped)"
        )


@dataclass
class ReadResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    corrupt: list[CorruptLine] = field(default_factory=list)
    end: Position = field(default_factory=lambda: Position(0, 0))


def segment_name(number: int) -> str:
    return f"spool-{number:012d}.log"


def encode_record(record: dict[str, Any]) -> bytes:
    """One spool line for ``record`` (JSON plus its checksum)."""
    payload = orjson.dumps(record)
    return zlib.crc32(payload).to_bytes(4, "big").hex().encode() + b" " + payload + b"\n"


def decode_line(line: bytes) -> dict[str, Any]:
    """Parse one spool line (without its newline); ``ValueError`` if torn or corrupt."""
    crc_hex, sep, payload = line.partition(b" ")
    if not sep or len(crc_hex) != 8:
        raise ValueError("no checksum")
    try:
        expected = int(crc_hex, 16)
    except ValueError:
        raise ValueError("no checksum") from None
    if zlib.crc32(payload) != expected:
        raise ValueError("checksum mismatch")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


class Unsynced(NamedTuple):
    """What :meth:`Spool.take_unsynced` hands the syncer, taken in one step."""

    fds: list[int]  # to fsync
    retired: list[int]  # rotated-out segments among them: close after the fsync
    position: Position  # durable once those are fsync'd
    appended: int  # lines appended by this process up to ``position``


class Spool:
    """A segmented append-only spool with a checkpoint (see the module docstring).

    ``append`` runs on the event loop (one ``os.write``); ``fsync_pending``, ``read`` and
    ``checkpoint`` are blocking and meant for a worker thread. ``append`` and
    ``take_unsynced`` may run on different threads (the call log's syncer has its own).
    """

    def __init__(self, directory: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segment = 0
        self._offset = 0
        self._unsynced: list[int] = []  # fds written since the last fsync
        self._retired: list[int] = []  # rotated-out segments: fsync, then close
        self._dirty = False
        #: append and take_unsynced, one at a time (the syncer runs in a thread of its own)
        self._mutex = threading.Lock()
        self.appended = 0  # lines appended by this process
        self.checkpointed = Position(0, 0)

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> Position:
        """Lock the directory, start a new segment; return where reading must resume."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolError(
                f"spool {self.directory} is in use by another callrouter process"
            ) from None
        segments = self.segments()
        self.checkpointed = self._read_checkpoint(segments)
        self._segment = (segments[-1] if segments else 0) + 1
        self._open_segment()
        if not segments:
            self.checkpointed = Position(self._segment, 0)
        self._fsync_directory()
        return self.checkpointed

    def close(self) -> None:
        taken = self.take_unsynced()
        with contextlib.suppress(SpoolError):
            self.fsync_pending(taken.fds, taken.retired)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
                os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def segments(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for n in names if (m := SEGMENT_RE.match(n)))

    def _read_checkpoint(self, segments: list[int]) -> Position:
        first = Position(segments[0], 0) if segments else Position(0, 0)
        try:
            raw = json.loads((self.directory / CHECKPOINT).read_text(encoding="utf-8"))
            position = Position(int(raw["segment"]), int(raw["offset"]))
        except FileNotFoundError:
            return first
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged checkpoint only costs a replay: every write is idempotent.
            return first
        return max(position, first)

    def _open_segment(self) -> int:
        path = self.directory / segment_name(self._segment)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool {path}: {exc.strerror}") from None
        self._offset = os.fstat(self._fd).st_size
        self._unsynced.append(self._fd)
        self._dirty = True
        return self._fd

    # -- writing ---------------------------------------------------------------------
    @property
    def written(self) -> Position:
        """Position after the last line written (not necessarily fsync'd yet)."""
        return Position(self._segment, self._offset)

    def append(self, line: bytes) -> None:
        """Write one encoded line; once this returns the line survives a process kill."""
        with self._mutex:
            self._append(line)
            self.appended += 1

    def _append(self, line: bytes) -> None:
        fd = self._fd
        if fd is None:
            raise SpoolError(f"spool {self.directory} is not open")
        if self._offset >= self.segment_bytes:
            fd = self._rotate()
        try:
            written = os.write(fd, line)
        except OSError as exc:
            raise SpoolError(
                f"cannot write to spool {self.directory}: {exc.strerror}; record not logged"
            ) from None
        if written != len(line):
            written = self._finish_short_write(line, written)
        self._offset += written
        if not self._dirty:
            self._dirty = True
            if fd not in self._unsynced:
                self._unsynced.append(fd)

    def _rotate(self) -> int:
        """Start the next segment; the old one is fsync'd and closed by the syncer."""
        assert self._fd is not None  # noqa: S101 (checked by the caller)
        self._retired.append(self._fd)
        if self._fd in self._unsynced:
            self._unsynced.remove(self._fd)
        self._segment += 1
        return self._open_segment()

    def _finish_short_write(self, line: bytes, written: int) -> int:
        """A short write (disk full): finish the line or terminate it as a torn one."""
        assert self._fd is not None  # noqa: S101 (checked by the caller)
        try:
            while written < len(line):
                written += os.write(self._fd, line[written:])
        except OSError as exc:
            # Terminate the torn line so the next record starts on a clean line.
            with contextlib.suppress(OSError):
                written += os.write(self._fd, b"\n")
            self._offset += written
            raise SpoolError(
                f"cannot write to spool {self.directory}: {exc.strerror}; record not logged"
            ) from None
        return written

    def take_unsynced(self) -> Unsynced:
        """What to fsync (and close after) for everything appended so far to be durable."""
        with self._mutex:
            retired, self._retired = self._retired, []
            fds, self._unsynced = self._unsynced, []
            self._dirty = False
            return Unsynced(retired + fds, retired, self.written, self.appended)

    def fsync_pending(self, fds: list[int], close: list[int]) -> None:
        """In a worker thread: fsync what was written, close rotated-out segments."""
        try:
            for fd in fds:
                os.fsync(fd)
            if close:
                self._fsync_directory()
        except OSError as exc:
            raise SpoolError(f"cannot fsync spool {self.directory}: {exc.strerror}") from None
        finally:
            for fd in close:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading ---------------------------------------------------------------------
    def read(
        self, start: Position, limit: Position, max_records: int, max_bytes: int = 4 << 20
    ) -> ReadResult:
        """Records from ``start`` up to ``limit`` (a durable position), at most ``max_records``.

        Segments before ``limit.segment`` are complete: they are read to their end, and a
        last line without a newline there is a torn write. Corrupt lines are returned in
        ``corrupt`` and skipped; ``end`` is where the next read starts.
        """
        result = ReadResult(end=start)
        position = start
        while len(result.records) < max_records and position < limit:
            segment, offset = position
            finished = segment < limit.segment
            want = max_bytes if finished else min(max_bytes, limit.offset - offset)
            try:
                with (self.directory / segment_name(segment)).open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read(want)
            except FileNotFoundError:
                chunk = b""
            at_eof = len(chunk) < want
            consumed, full = self._parse(
                chunk,
                segment,
                offset,
                max_records=max_records,
                torn_tail_possible=finished and at_eof,
                result=result,
            )
            if full:
                break
            if consumed == len(chunk) and finished and at_eof:
                following = [s for s in self.segments() if s > segment]
                position = result.end = Position(following[0] if following else limit.segment, 0)
            elif consumed == 0 and not finished and len(chunk) == limit.offset - offset:
                # Written data ending mid-line (a write that failed half-way): torn.
                result.corrupt.append(
                    CorruptLine(segment, offset, len(chunk), "torn write (no newline)")
                )
                position = result.end = limit
            elif consumed == 0 and not at_eof:
                max_bytes *= 2  # one line longer than a chunk
            elif consumed == 0:
                break  # the file is shorter than it should be: nothing more to read here
            else:
                position = result.end = Position(segment, offset + consumed)
        return result

    @staticmethod
    def _parse(
        chunk: bytes,
        segment: int,
        offset: int,
        *,
        max_records: int,
        torn_tail_possible: bool,
        result: ReadResult,
    ) -> tuple[int, bool]:
        """Parse whole lines of ``chunk``; (bytes consumed, stopped at max_records)."""
        records = result.records
        lines = chunk.split(b"\n")
        tail = lines.pop()  # b"" when the chunk ends with a newline, else a partial line
        pos = 0
        crc32, loads = zlib.crc32, orjson.loads
        for line in lines:
            if len(records) >= max_records:
                result.end = Position(segment, offset + pos)
                return pos, True
            # Fast path of decode_line: checksum, then JSON.
            data = None
            with contextlib.suppress(ValueError):
                if line[8:9] == b" " and crc32(line[9:]) == int(line[:8], 16):
                    data = loads(line[9:])
            if type(data) is dict:
                records.append(data)
                pos += len(line) + 1
                continue
            try:
                decode_line(line)  # says what is wrong with it
                reason = "not a JSON object"
            except ValueError as exc:
                reason = str(exc)
            if line.strip():
                result.corrupt.append(CorruptLine(segment, offset + pos, len(line), reason))
            pos += len(line) + 1
        if tail and torn_tail_possible and len(records) < max_records:
            # A finished segment ending without a newline: a torn last write.
            result.corrupt.append(
                CorruptLine(segment, offset + pos, len(tail), "torn write (no newline)")
            )
            pos += len(tail)
        result.end = Position(segment, offset + pos)
        return pos, False

    # -- checkpoint ------------------------------------------------------------------
    def checkpoint(self, position: Position) -> None:
        """Remember that everything before ``position`` is in the database.

        Not fsync'd on purpose: losing a checkpoint only means replaying (idempotent)
        records. Whole segments before it are deleted.
        """
        tmp = self.directory / (CHECKPOINT + ".tmp")
        tmp.write_text(
            json.dumps({"segment": position.segment, "offset": position.offset}), encoding="utf-8"
        )
        tmp.replace(self.directory / CHECKPOINT)
        self.checkpointed = position
        for segment in self.segments():
            if segment >= position.segment or segment >= self._segment:
                break
            with contextlib.suppress(FileNotFoundError):
                (self.directory / segment_name(segment)).unlink()

    def reject(self, record: dict[str, Any], reason: str) -> None:
        """Keep a record the database refused, with why, in ``rejected.log``."""
        line = encode_record({"reason": reason, "record": record})
        with (self.directory / REJECTED).open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

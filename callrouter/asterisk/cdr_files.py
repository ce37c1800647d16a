"""Reading the cdr_custom JSON file for the fallback import: resume at a saved byte offset,
follow a rotation by inode, keep the lines that cannot be read (the rules are in
:mod:`callrouter.asterisk.cdr_import`, which re-exports these names)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import structlog

from callrouter.asterisk.cdr_lines import MAX_LINE_BYTES, CdrLine, CdrLineError, parse_line

#: the importer's logger: its events keep the name they had before this split
log = structlog.get_logger("callrouter.asterisk.cdr_import")


@dataclass
class ReadState:
    inode: int | None = None
    offset: int = 0
    line: int | None = None  # number of the line at ``offset`` (1-based); None: count it

    @classmethod
    def load(cls, path: Path) -> ReadState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            line = data.get("line")
            return cls(
                inode=data.get("inode"),
                offset=int(data.get("offset", 0)),
                line=int(line) if line is not None else None,
            )
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, OSError, AttributeError) as exc:
            log.warning("cdr.state_unreadable", path=str(path), error=str(exc))
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"inode": self.inode, "offset": self.offset, "line": self.line}),
            encoding="utf-8",
        )
        os.replace(tmp, path)


@dataclass(frozen=True)
class Rejected:
    """A line that could not be read: kept in the rejected file with why."""

    file: str
    line: int
    field: str
    problem: str
    text: str


@dataclass
class ReadResult:
    lines: list[CdrLine] = field(default_factory=list)
    bad: int = 0
    repaired: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    state: ReadState = field(default_factory=ReadState)


def _read_fh(
    fh: IO[bytes], path: Path, offset: int, first_line: int | None, out: ReadResult, *, final: bool
) -> tuple[int, int]:
    """Lines of the open file ``fh`` from ``offset`` (complete ones only, unless ``final``:
    a rotated file nobody writes any more). Returns the offset and line number after them."""
    if first_line is None:
        fh.seek(0)
        first_line = fh.read(offset).count(b"\n") + 1
    fh.seek(offset)
    data = fh.read()
    end = len(data) if final else data.rfind(b"\n") + 1
    n = first_line
    for raw in data[:end].split(b"\n"):
        if raw.strip():
            text = raw.decode("utf-8", errors="replace")
            try:
                if len(raw) > MAX_LINE_BYTES:
                    raise CdrLineError(path, n, "-", f"longer than {MAX_LINE_BYTES} bytes")
                cdr = parse_line(text, path, n)
            except CdrLineError as exc:
                out.bad += 1
                out.rejected.append(Rejected(str(path), n, exc.field, exc.problem, text))
                log.warning(
                    "cdr.bad_line",
                    file=str(exc.path),
                    line=exc.line,
                    field=exc.field,
                    problem=exc.problem,
                )
            else:
                if cdr.repaired:
                    out.repaired += 1
                    log.warning(
                        "cdr.repaired_line",
                        file=str(path),
                        line=n,
                        problem="unescaped quotes inside a value",
                    )
                out.lines.append(cdr)
        n += 1
    consumed = data[:end]
    return offset + end, first_line + consumed.count(b"\n")


def _read_from(path: Path, offset: int, out: ReadResult, *, final: bool = False) -> int:
    """Complete lines of ``path`` from ``offset``; returns the offset after the last one."""
    with path.open("rb") as fh:
        return _read_fh(fh, path, offset, None, out, final=final)[0]


def _rotated(path: Path, inode: int) -> Path | None:
    """The file in ``path``'s directory that is the rotated former ``path`` (same inode)."""
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            if candidate != path and candidate.name.startswith(path.name):
                with contextlib.suppress(OSError):
                    if candidate.stat().st_ino == inode:
                        return candidate
    return None


ROTATED_SETTLE_SECONDS: Final = 5.0


def _may_still_be_written(path: Path) -> bool:
    """A rotated file whose last line is unfinished and that changed a moment ago."""
    with contextlib.suppress(OSError), path.open("rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_size == 0:
            return False
        fh.seek(st.st_size - 1)
        unfinished = fh.read(1) != b"\n"
        return unfinished and time.time() - st.st_mtime < ROTATED_SETTLE_SECONDS
    return False


def keep_rejected(path: Path, rejected: list[Rejected]) -> None:
    """Append the lines that could not be read to ``path`` (JSON lines: file, line, field,
    problem, the line itself), so an operator can see and replay them."""
    if not rejected:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with path.open("a", encoding="utf-8") as fh:
        for r in rejected:
            record = {
                "at": at,
                "file": r.file,
                "line": r.line,
                "field": r.field,
                "problem": r.problem,
                "text": r.text,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())

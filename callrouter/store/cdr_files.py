"""Retention of the files outside the database that hold callers' numbers.

These files keep raw numbers: Asterisk's CDR file the fallback import reads
(``callrouter-cdr.json``, ``src`` is the caller), the import's rejected-lines file
(``<state dir>/cdr-rejected.jsonl``) and each spool's ``rejected.log`` (records the database
refused). ``db purge`` applies the retention to all of them, without losing a CDR line the
import has not read yet:

1. **Rotate.** When the live file's oldest line is past the cut-off, it is renamed
   ``<name>.purge-<UTC time>`` in the same directory. Asterisk opens the file for each
   record, so the next record starts a new file; a writer that had the old one open still
   lands in the renamed file. The CDR file is rotated only once the import has read it
   (its state file names that file's inode): the import then finds the rest of the renamed
   file by inode, as after any log rotation, and reads it before the new one.
2. **Trim.** A rotated file nobody reads or writes any more (for the CDR file: the import's
   state has moved on to another file; untouched for a minute) loses its lines past the
   cut-off; when none is left it is deleted. Lines whose time cannot be read are kept
   (compressed rotations are deleted whole once their last change is past the cut-off).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

ROTATED_MARK: Final = ".purge-"
SETTLED_SECONDS: Final = 60.0
# The time of a line: a CDR's ``start``, a rejected CDR line's ``at``, a spool record's first time.
_TIME = re.compile(rb'"(start|at|started_at|created_at|answered_at|ended_at)"\s*:\s*"([^"]{8,40})"')


@dataclass
class FilePurge:
    """What the purge did to one file and its rotations."""

    path: str
    rotated_to: str | None = None
    lines_removed: int = 0
    files_deleted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def line_time(line: bytes) -> datetime | None:
    """The time of a CDR line (``start``) or a rejected-line record (``at``), if readable."""
    match = _TIME.search(line)
    if match is None:
        return None
    raw = match.group(2).decode("ascii", errors="replace")
    for parse in (lambda t: datetime.strptime(t, "%Y-%m-%dT%H:%M:%S%z"), datetime.fromisoformat):
        try:
            value = parse(raw)
        except ValueError:
            continue
        return value.astimezone(UTC) if value.tzinfo is not None else None
    return None


def _first_time(path: Path) -> datetime | None:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                return line_time(line)
    return None


def _rotations(path: Path) -> list[Path]:
    """The rotated copies of ``path`` in its directory (``<name>.1``, ``<name>-2026…``)."""
    if not path.parent.is_dir():
        return []
    return sorted(
        p
        for p in path.parent.iterdir()
        if p != path
        and p.name.startswith(path.name)
        and p.name[len(path.name)] in ".-"
        and not p.name.endswith(".tmp")
        and p.is_file()
    )


def _trim(path: Path, cutoff: datetime, out: FilePurge, *, dry_run: bool) -> None:
    """Drop the lines of a settled rotated file that are past ``cutoff``."""
    if path.suffix in (".gz", ".bz2", ".xz", ".zst"):
        if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
            out.files_deleted.append(path.name)
            if not dry_run:
                path.unlink()
        return
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [
        line
        for line in lines
        if line.strip() and ((when := line_time(line)) is None or when >= cutoff)
    ]
    removed = sum(1 for line in lines if line.strip()) - len(kept)
    out.lines_removed += removed
    if not kept:
        out.files_deleted.append(path.name)
        if not dry_run:
            path.unlink()
    elif removed and not dry_run:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(b"".join(kept))
        os.replace(tmp, path)


def purge_file(
    path: Path,
    cutoff: datetime,
    *,
    now: datetime,
    may_rotate: bool,
    settled: Callable[[Path], bool],
    dry_run: bool = False,
) -> FilePurge:
    """Rotate ``path`` when its oldest line is past ``cutoff`` (and ``may_rotate``), then
    trim every rotated copy for which ``settled`` says nobody needs it any more."""
    out = FilePurge(str(path))
    try:
        if path.is_file() and may_rotate:
            first = _first_time(path)
            if first is not None and first < cutoff:
                target = path.with_name(f"{path.name}{ROTATED_MARK}{now:%Y%m%dT%H%M%S}")
                out.rotated_to = target.name
                if not dry_run:
                    os.rename(path, target)
        for rotated in _rotations(path):
            if time.time() - rotated.stat().st_mtime >= SETTLED_SECONDS and settled(rotated):
                _trim(rotated, cutoff, out, dry_run=dry_run)
    except OSError as exc:
        out.problems.append(f"{exc.filename or path}: {exc.strerror}")
    return out


def _import_inode(state_file: Path) -> int | None:
    """The inode of the CDR file the fallback import is reading (from its state file)."""
    try:
        inode = json.loads(state_file.read_text(encoding="utf-8")).get("inode")
    except (OSError, ValueError, AttributeError):
        return None
    return inode if isinstance(inode, int) else None


def purge_cdr_files(
    cdr_path: Path,
    state_file: Path,
    rejected: Sequence[Path],
    cutoff: datetime,
    *,
    now: datetime,
    dry_run: bool = False,
) -> list[FilePurge]:
    """Apply the retention to the CDR file the import reads and to the files of rejected
    lines (the import's ``cdr-rejected.jsonl``, each spool's ``rejected.log``)."""
    inode = _import_inode(state_file)
    live_inode: int | None = None
    try:
        live_inode = cdr_path.stat().st_ino
    except OSError:
        live_inode = None
    cdr = purge_file(
        cdr_path,
        cutoff,
        now=now,
        # Only a file the import has read (and will follow by inode when renamed).
        may_rotate=inode is not None and inode == live_inode,
        # A rotated CDR file is done with once the import reads another file.
        settled=lambda p: inode is not None and p.stat().st_ino != inode,
        dry_run=dry_run,
    )
    return [cdr] + [
        purge_file(path, cutoff, now=now, may_rotate=True, settled=lambda _p: True, dry_run=dry_run)
        for path in rejected
    ]

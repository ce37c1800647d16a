"""The files outside the database that hold callers' numbers: retention and erasure.

These files keep raw numbers: Asterisk's CDR file the fallback import reads
(``callrouter-cdr.json``, ``src`` is the caller), the import's rejected-lines file
(``<state dir>/cdr-rejected.jsonl``) and each spool's ``rejected.log`` (records the database
refused). ``db purge`` removes their lines past retention (:func:`past`), ``privacy erase``
the lines quoting a number (:func:`quoting`), without losing a CDR line the import has not
read yet:

1. **Rotate.** When the live file has a line to remove, it is renamed
   ``<name>.purge-<UTC time>`` in the same directory. Asterisk opens the file for each
   record, so the next record starts a new file; a writer that had the old one open still
   lands in the renamed file. The CDR file is rotated only once the import has read it
   (its state file names that file's inode): the import then finds the rest of the renamed
   file by inode, as after any log rotation, and reads it before the new one.
2. **Trim.** A rotated file nobody reads or writes any more (for the CDR file: the import's
   state has moved on to another file; untouched for a minute) loses those lines; when none
   is left it is deleted. Lines still in a file in use are counted as ``pending``: the next
   run removes them. Lines whose time cannot be read are kept by the retention; compressed
   rotations are deleted whole once their last change is past the cut-off, and not searched
   for a number.
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
    pending: int = 0  # lines to remove still in a file in use (rotated now, removed later)
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


@dataclass(frozen=True)
class LineRule:
    """Which lines go: ``drop(line)``, and whether a compressed rotation goes whole."""

    drop: Callable[[bytes], bool]
    drop_compressed: Callable[[Path], bool]


def past(cutoff: datetime) -> LineRule:
    """Retention: lines older than ``cutoff`` (a line without a readable time stays)."""

    def old_file(path: Path) -> bool:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff

    return LineRule(
        drop=lambda line: (when := line_time(line)) is not None and when < cutoff,
        drop_compressed=old_file,
    )


def quoting(forms: Sequence[str]) -> LineRule:
    """A data subject's erasure: lines holding one of the number's forms (not as part of a
    longer number). Compressed rotations are not searched."""
    pattern = re.compile(
        rb"(?<![0-9+])(?:" + b"|".join(re.escape(f.encode()) for f in forms) + rb")(?![0-9])"
    )
    return LineRule(
        drop=lambda line: pattern.search(line) is not None, drop_compressed=lambda _p: False
    )


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


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


def _free_name(path: Path, now: datetime) -> Path:
    """``<name>.purge-<time>`` (``-2``, ``-3``… when taken): never renamed onto a file."""
    stem = f"{path.name}{ROTATED_MARK}{now:%Y%m%dT%H%M%S}"
    target, n = path.with_name(stem), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{stem}-{n}")
    return target


def _compressed(path: Path) -> bool:
    return path.suffix in (".gz", ".bz2", ".xz", ".zst")


def _trim(path: Path, rule: LineRule, out: FilePurge, *, dry_run: bool) -> None:
    """Drop the lines ``rule`` names from a settled rotated file (delete it when empty)."""
    if _compressed(path):
        if rule.drop_compressed(path):
            out.files_deleted.append(path.name)
            if not dry_run:
                path.unlink()
        return
    lines = _lines(path)
    kept = [line for line in lines if line.strip() and not rule.drop(line)]
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
    rule: LineRule,
    *,
    now: datetime,
    may_rotate: bool,
    settled: Callable[[Path], bool],
    dry_run: bool = False,
) -> FilePurge:
    """Rotate ``path`` when it has a line ``rule`` drops (and ``may_rotate``), then trim every
    rotated copy for which ``settled`` says nobody needs it any more; lines to drop that are
    left in files still in use are counted in ``pending``."""
    out = FilePurge(str(path))
    try:
        if path.is_file():
            live = sum(1 for line in _lines(path) if rule.drop(line))
            if live and may_rotate:
                target = _free_name(path, now)
                out.rotated_to = target.name
                if not dry_run:
                    os.rename(path, target)
            if live and (dry_run or not may_rotate):
                out.pending += live
        for rotated in _rotations(path):
            if time.time() - rotated.stat().st_mtime >= SETTLED_SECONDS and settled(rotated):
                _trim(rotated, rule, out, dry_run=dry_run)
            elif not _compressed(rotated):
                out.pending += sum(1 for line in _lines(rotated) if rule.drop(line))
    except OSError as exc:
        out.problems.append(f"{exc.filename or path}: {exc.strerror}")
    return out


def _always(_path: Path) -> bool:
    return True


def _import_inode(state_file: Path) -> int | None:
    """The inode of the CDR file the fallback import is reading (from its state file)."""
    try:
        inode = json.loads(state_file.read_text(encoding="utf-8")).get("inode")
    except (OSError, ValueError, AttributeError):
        return None
    return inode if isinstance(inode, int) else None


@dataclass(frozen=True)
class PersonalFiles:
    """The files outside the database that hold callers' numbers."""

    cdr: Path  # Asterisk's CDR file the fallback import reads
    import_state: Path  # the import's state file (which CDR file it reads, how far)
    rejected: tuple[Path, ...]  # cdr-rejected.jsonl, each spool's rejected.log

    def apply(self, rule: LineRule, *, now: datetime, dry_run: bool = False) -> list[FilePurge]:
        """Remove the lines ``rule`` names from every file, without losing a CDR line the
        import has not read yet."""
        inode = _import_inode(self.import_state)
        try:
            live_inode: int | None = self.cdr.stat().st_ino
        except OSError:
            live_inode = None
        cdr = purge_file(
            self.cdr,
            rule,
            now=now,
            # Only a file the import has read (and will follow by inode when renamed).
            may_rotate=inode is not None and inode == live_inode,
            # A rotated CDR file is done with once the import reads another file.
            settled=lambda p: inode is not None and p.stat().st_ino != inode,
            dry_run=dry_run,
        )
        return [cdr] + [
            purge_file(
                path, rule, now=now, may_rotate=True, settled=lambda _p: True, dry_run=dry_run
            )
            for path in self.rejected
        ]

    def lines(self, rule: LineRule) -> list[dict[str, object]]:
        """Every line ``rule`` names, in every file and uncompressed rotation (for export)."""
        found: list[dict[str, object]] = []
        for path in (self.cdr, *self.rejected):
            try:
                for f in ([path] if path.is_file() else []) + _rotations(path):
                    if _compressed(f):
                        found.append({"file": str(f), "error": "compressed: not searched"})
                        continue
                    for n, line in enumerate(_lines(f), start=1):
                        if rule.drop(line):
                            text = line.decode("utf-8", errors="replace").rstrip("\n")
                            found.append({"file": str(f), "line": n, "text": text})
            except OSError as exc:
                found.append({"file": str(exc.filename or path), "error": str(exc.strerror)})
        return found

"""Changing the notices file one notice at a time: what the web's notices page and
``callrouter notices add`` both do.

The notices file stays the one home of the notices: ``callrouter serve`` watches it and
rewrites the dialplan fallback's include from it, ``callrouter notices check`` reads it, and
an admin on the web edits it through this module. A change is

1. spliced into the file's text: only the lines of that notice are replaced (added after the
   last notice, or removed), so the operator's comments and the rest of the file stay as
   written;
2. validated whole with the same loader as the file (:func:`~.config.parse_notices`, every
   problem as ``file:line:column``), and the changed notice spoken and measured in a scratch
   directory (:func:`~.board.prepare`): a notice longer than ``max_seconds`` once spoken, a
   recording in the wrong format, a missing speech engine refuse the change with what was
   measured. Text the voice cannot say (:func:`~.speech.unsayable`) is saved but warned: serve
   leaves that notice out (``notice.not_playable``) until it is reworded;
3. written atomically (a refused change never touches the file, so the running set stays),
   only when the file is still the one the change was built from (its SHA-256: a clerk who
   edited it meanwhile, on the web or with the CLI, is not overwritten);
4. journaled: one JSON line per change in ``<file>.history.jsonl`` beside it, with the
   account, the time, the notice before and after.

serve's watcher then reloads the file within its poll period, as for an edit by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from callrouter.answers.fold import fold
from callrouter.asterisk.fallback import write_config_atomically
from callrouter.errors import NoticeError, NoticeFileError
from callrouter.notices.board import NoticeSet, ReadyNotice, prepare, sound_dir
from callrouter.notices.config import NoticesFile, parse_notices
from callrouter.notices.normalise import Normaliser
from callrouter.notices.speech import describe_unsayable, unsayable

Action = Literal["add", "edit", "remove"]
EMPTY_FILE: Final = "notices:\n"
JOURNAL_SUFFIX: Final = ".history.jsonl"
_SLUG_WORDS: Final = 6


class NoticeChangeRefused(NoticeError):
    """A change that would make the file invalid or a notice unplayable; ``problems`` says
    why (file:line for the file, the measured length for a notice too long)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class NoticeConflict(NoticeError):
    """The file changed since the change was built from it."""


@dataclass(frozen=True)
class NoticeDraft:
    """One notice as an admin writes it (dates as ``YYYY-MM-DD[ HH:MM]``, in the file's
    time zone). ``recording``: kept from the file (the web does not upload recordings)."""

    id: str
    text: str
    valid_from: str
    valid_until: str
    audience: str
    recording: str | None = None

    def entry(self) -> dict[str, str]:
        out = {
            "id": self.id,
            "text": " ".join(self.text.split()),
            "valid_from": self.valid_from.replace("T", " "),
            "valid_until": self.valid_until.replace("T", " "),
            "audience": self.audience,
        }
        if self.recording:
            out["recording"] = self.recording
        return out


def suggest_id(text: str, taken: set[str]) -> str:
    """A notice id from its first words without diacritics (``tiem-chung-mo-rong``), made
    unique among ``taken``."""
    words = re.findall(r"[a-z0-9]+", fold(text))[:_SLUG_WORDS]
    base = "-".join(words)[:48].strip("-") or "thong-bao"
    found, n = base, 2
    while found in taken:
        found, n = f"{base}-{n}", n + 1
    return found


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """The notices file as it is now: its text, the SHA-256 a change is built from, and
    its notices (None with ``problems`` when the file does not validate)."""

    text: str
    digest: str
    file: NoticesFile | None
    problems: tuple[str, ...] = ()
    entries: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def read_snapshot(path: Path) -> Snapshot:
    """Blocking. A missing file reads as an empty one (the first notice creates it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = EMPTY_FILE
    except (OSError, UnicodeDecodeError) as exc:
        return Snapshot("", "", None, (f"{path}: không đọc được tệp: {exc}",))
    try:
        parsed = parse_notices(text, str(path))
    except NoticeFileError as exc:
        return Snapshot(text, digest(text), None, tuple(exc.problems))
    return Snapshot(text, digest(text), parsed, (), _entries(text))


def _entries(text: str) -> dict[str, dict[str, Any]]:
    """Each notice as written in the file (the journal's "before"), by id."""
    data = yaml.safe_load(text) or {}
    notices = data.get("notices") if isinstance(data, dict) else None
    out: dict[str, dict[str, Any]] = {}
    for item in notices or []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out[item["id"]] = {k: _plain(v) for k, v in item.items()}
    return out


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


# ------------------------------------------------------------------------------ the text
def _block(entry: Mapping[str, str], indent: int) -> list[str]:
    dumped = yaml.safe_dump(
        [dict(entry)], allow_unicode=True, sort_keys=False, width=10_000, default_flow_style=False
    )
    return [" " * indent + line + "\n" for line in dumped.splitlines()]


def _end_line(item: yaml.MappingNode) -> int:
    """The last line (0-based) holding the item's own text: its last value's end, not the
    comments and blank lines PyYAML counts up to the next item."""
    last = 0
    for key, value in item.value:
        end = value.end_mark
        last = max(last, key.start_mark.line, end.line - 1 if end.column == 0 else end.line)
    return last


def splice(text: str, notice_id: str | None, entry: Mapping[str, str] | None) -> str:
    """``text`` with the notice ``notice_id`` replaced by ``entry`` (``notice_id`` None: added
    after the last notice; ``entry`` None: removed). Lines outside that notice stay as they
    are. Raises KeyError when ``notice_id`` is not in the file; yaml.YAMLError when the text
    is not YAML."""
    root = yaml.compose(text)
    if root is None:
        text, root = EMPTY_FILE, yaml.compose(EMPTY_FILE)
    if not isinstance(root, yaml.MappingNode):
        return _rewrite(text, notice_id, entry)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    pair = next((p for p in root.value if p[0].value == "notices"), None)
    if pair is None:
        if notice_id is not None or entry is None:
            raise KeyError(notice_id)
        return "".join([*lines, "notices:\n", *_block(entry, 2)])
    key, seq = pair
    if isinstance(seq, yaml.ScalarNode) and seq.value in ("", "~", "null"):
        if notice_id is not None or entry is None:
            raise KeyError(notice_id)
        at = key.start_mark.line
        lines[at] = lines[at][: key.start_mark.column] + "notices:\n"
        return "".join(
            [*lines[: at + 1], *_block(entry, key.start_mark.column + 2), *lines[at + 1 :]]
        )
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style:
        return _rewrite(text, notice_id, entry)
    items = [i for i in seq.value if isinstance(i, yaml.MappingNode)]
    if len(items) != len(seq.value) or not items:
        return _rewrite(text, notice_id, entry)
    first = items[0].start_mark
    dash = lines[first.line].rfind("-", 0, first.column)
    if dash < 0:
        return _rewrite(text, notice_id, entry)
    if notice_id is None:
        assert entry is not None  # noqa: S101 - an add always has its entry
        after = _end_line(items[-1]) + 1
        return "".join([*lines[:after], *_block(entry, dash), *lines[after:]])
    for item in items:
        ids = [v.value for k, v in item.value if k.value == "id"]
        if ids == [notice_id]:
            start, end = item.start_mark.line, _end_line(item)
            if lines[start].rfind("-", 0, item.start_mark.column) < 0:
                return _rewrite(text, notice_id, entry)
            new = _block(entry, dash) if entry is not None else []
            return "".join([*lines[:start], *new, *lines[end + 1 :]])
    raise KeyError(notice_id)


def _rewrite(text: str, notice_id: str | None, entry: Mapping[str, str] | None) -> str:
    """The whole file dumped again (comments lost): for layouts :func:`splice` does not edit
    line by line (a flow-style ``notices: [...]``, a dash on its own line)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        data = {}
    notices = list(data.get("notices") or [])
    if notice_id is None:
        assert entry is not None  # noqa: S101 - an add always has its entry
        notices.append(dict(entry))
    else:
        where = [
            i for i, n in enumerate(notices) if isinstance(n, dict) and n.get("id") == notice_id
        ]
        if not where:
            raise KeyError(notice_id)
        if entry is None:
            del notices[where[0]]
        else:
            notices[where[0]] = dict(entry)
    data["notices"] = notices
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000)


# ------------------------------------------------------------------------------ checks
@dataclass(frozen=True)
class Checked:
    """A new file text that validated, with the changed notice measured."""

    text: str
    file: NoticesFile
    ready: ReadyNotice | None  # None: removed, or not playable (see ``warnings``)
    warnings: tuple[str, ...] = ()
    scratch: Path | None = None  # where its sound was made (copied to Asterisk's on save)


def check_text(text: str, source: Path, notice_id: str | None, scratch: Path) -> Checked:
    """Blocking: validate ``text`` as the notices file ``source`` and make the sound of
    ``notice_id`` in ``scratch``. Raises :class:`NoticeChangeRefused`."""
    try:
        parsed = parse_notices(text, str(source))
    except NoticeFileError as exc:
        raise NoticeChangeRefused(exc.problems) from None
    notice = next((n for n in parsed.notices if n.id == notice_id), None)
    if notice is None:
        return Checked(text, parsed, None)
    if not notice.recording:
        strange = unsayable(Normaliser(parsed.say)(notice.text))
        if strange:
            warning = (
                f"thông báo {notice.id}: giọng đọc không đọc được {describe_unsayable(strange)}; "
                "thông báo được lưu nhưng sẽ KHÔNG phát cho đến khi viết lại bằng chữ"
            )
            return Checked(text, parsed, None, (warning,))
    one = NoticesFile(
        timezone=parsed.timezone, max_seconds=parsed.max_seconds, say=parsed.say, notices=[notice]
    )
    made: NoticeSet = prepare(one, source.parent, scratch)
    if made.problems:
        raise NoticeChangeRefused(list(made.problems))
    return Checked(text, parsed, made.ready[0], (), scratch)


# ------------------------------------------------------------------------------ saving
@dataclass(frozen=True)
class Change:
    """One saved change, as journaled."""

    at: datetime
    account: str
    action: Action
    notice_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    digest: str

    def line(self) -> str:
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "account": self.account,
                "action": self.action,
                "id": self.notice_id,
                "before": self.before,
                "after": self.after,
                "digest": self.digest,
            },
            ensure_ascii=False,
            default=str,
        )


@dataclass(frozen=True)
class Saved:
    change: Change
    checked: Checked


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + JOURNAL_SUFFIX)


def read_journal(path: Path, limit: int = 200) -> list[Change]:
    """Blocking: the newest ``limit`` changes, newest first (lines that do not read are
    skipped: the journal is a record, not an input)."""
    try:
        raw = journal_path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out: list[Change] = []
    for line in reversed(raw):
        try:
            d = json.loads(line)
            out.append(
                Change(
                    datetime.fromisoformat(d["at"]),
                    str(d["account"]),
                    d["action"],
                    str(d["id"]),
                    d.get("before"),
                    d.get("after"),
                    str(d.get("digest", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
        if len(out) >= limit:
            break
    return out


@dataclass
class NoticesEditor:
    """Saves changes to the notices file ``path`` one at a time (a lock per process; the
    digest check covers another process). ``sounds_dir``/``folder``: where serve's board
    keeps the sounds, so a saved notice's speech is there before the reload (None: serve
    speaks it)."""

    path: Path
    sounds_dir: Path | None = None
    folder: str = "callrouter"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def save(
        self,
        action: Action,
        draft: NoticeDraft | None,
        *,
        notice_id: str | None = None,
        expected: str | None,
        account: str,
        now: datetime,
    ) -> Saved:
        """Blocking: apply one change (``add`` a draft, ``edit`` the notice ``draft.id``,
        ``remove`` ``notice_id``). ``expected``: the digest the change was built from (None:
        whatever the file is now, the CLI's way). Raises :class:`NoticeChangeRefused`,
        :class:`NoticeConflict`."""
        with self._lock:
            snap = read_snapshot(self.path)
            if expected is not None and snap.digest != expected:
                raise NoticeConflict(
                    "tệp thông báo vừa được người khác thay đổi; hãy tải lại trang, xem bản "
                    "mới rồi sửa lại"
                )
            target = draft.id if draft is not None else notice_id
            if target is None:
                raise NoticeChangeRefused(["thiếu mã thông báo"])
            if snap.file is None:
                raise NoticeChangeRefused(
                    ["tệp thông báo hiện có lỗi, hãy sửa tệp trước:", *snap.problems]
                )
            before = snap.entries.get(target)
            if action == "add" and before is not None:
                raise NoticeChangeRefused([f"mã {target!r} đã có; hãy chọn mã khác"])
            if action != "add" and before is None:
                raise NoticeChangeRefused([f"không có thông báo {target!r} trong tệp"])
            if draft is not None and action == "edit" and draft.recording is None:
                # the web does not upload recordings: an edit keeps the file's own
                kept = before.get("recording") if before is not None else None
                draft = replace(draft, recording=str(kept) if kept else None)
            entry = draft.entry() if draft is not None and action != "remove" else None
            try:
                text = splice(snap.text, None if action == "add" else target, entry)
            except (yaml.YAMLError, KeyError) as exc:
                raise NoticeChangeRefused([f"không sửa được tệp: {exc}"]) from None
            with tempfile.TemporaryDirectory(prefix="callrouter-notice-check-") as tmp:
                checked = check_text(text, self.path, target if entry else None, Path(tmp))
                self._keep_sound(checked)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_config_atomically(self.path, text)
            change = Change(now, account, action, target, before, entry, digest(text))
            with journal_path(self.path).open("a", encoding="utf-8") as journal:
                journal.write(change.line() + "\n")
            return Saved(change, checked)

    def _keep_sound(self, checked: Checked) -> None:
        """Copy the measured sound where serve looks for it (serve then does not speak it
        again); a failure only means serve speaks it itself."""
        ready = checked.ready
        if ready is None or self.sounds_dir is None or checked.scratch is None:
            return
        name = f"{ready.key}.wav"
        made = sound_dir(checked.scratch) / name
        target = sound_dir(self.sounds_dir, self.folder) / name
        try:
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(made, target)
                target.chmod(0o644)
        except OSError:
            return


__all__ = [
    "Change",
    "Checked",
    "NoticeChangeRefused",
    "NoticeConflict",
    "NoticeDraft",
    "NoticesEditor",
    "Snapshot",
    "read_journal",
    "read_snapshot",
    "splice",
    "suggest_id",
]

"""One line of the fallback's CDR file (``cdr_custom``, JSON lines) read into a :class:`CdrLine`,
or refused with a :class:`CdrLineError` naming file, line, field and problem.

**Quotes.** Asterisk 22's JSON writer does not escape a ``"`` inside a value; :func:`repair_line`
rebuilds such a line from the known CDR field names (see :mod:`callrouter.asterisk.cdr_import`).

**Bounds.** Whatever a line carries must fit where it goes, or the line is rejected the same
way (never cut short, never left to fail the database write and stop every later run): a
line of at most :data:`MAX_LINE_BYTES`; linkedid/uniqueid plain tokens of at most 64
characters; times between 1970 and 2100 (``0001-01-01T00:00:00+0100`` and an attempt at
epoch ``999999999999`` are refused, not overflowed); ``src`` through the one caller-number
normaliser (:func:`~callrouter.rota.phones.caller_number`: digits but not a number → the line
is rejected; no digits, ``anonymous`` → no number); the marker's values short words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from callrouter.asterisk import contract
from callrouter.rota.phones import caller_number, is_caller_number

REQUIRED: Final = ("linkedid", "start", "end", "userfield")
# Every field name cdr_custom can write, plus callrouter's CDR variable: the layout a broken
# line is repaired against.
CDR_FIELDS: Final = frozenset(
    {
        "accountcode",
        "amaflags",
        "answer",
        "billsec",
        "channel",
        "clid",
        "dcontext",
        "disposition",
        "dst",
        "dstchannel",
        "duration",
        "end",
        "lastapp",
        "lastdata",
        "linkedid",
        "peeraccount",
        "sequence",
        "src",
        "start",
        "uniqueid",
        "userfield",
        contract.CDR_ATTEMPTS_VAR,
    }
)
# Bounds of what one line may carry (a line past them is rejected, never cut short).
MAX_LINE_BYTES: Final = 64 * 1024
MAX_TIMESTAMP_CHARS: Final = 40
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)  # epoch 0: what the dialplan can write
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
MAX_ATTEMPTS_CHARS: Final = 8 * 1024
MAX_MARK_VALUE_CHARS: Final = 64  # rota version, reason, result: short words


class CdrLineError(ValueError):
    def __init__(self, path: Path, line: int, field: str, problem: str) -> None:
        super().__init__(f"{path}:{line}: field {field!r}: {problem}")
        self.path, self.line, self.field, self.problem = path, line, field, problem


@dataclass(frozen=True)
class CdrLine:
    linkedid: str
    uniqueid: str
    src: str | None
    start: datetime
    end: datetime
    disposition: str
    userfield: str
    mark: dict[str, str] | None
    dstchannel: str = ""
    lastapp: str = ""
    attempts: str = ""
    repaired: bool = False


def _when(path: Path, line: int, name: str, raw: Any) -> datetime:
    if not isinstance(raw, str) or not raw:
        raise CdrLineError(path, line, name, "missing or empty")
    if len(raw) > MAX_TIMESTAMP_CHARS:
        raise CdrLineError(path, line, name, f"not a timestamp: {raw[:40]!r}")
    try:
        value = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise CdrLineError(path, line, name, f"not a timestamp: {raw[:40]!r}") from None
    if value.tzinfo is None:
        raise CdrLineError(path, line, name, "timestamp without a UTC offset")
    try:  # 0001-01-01T00:00:00+0100 is before datetime.min in UTC: OverflowError
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise CdrLineError(path, line, name, f"out of range: {raw[:40]!r}") from None
    if not EARLIEST <= value < LATEST:
        raise CdrLineError(
            path, line, name, f"{raw[:40]!r} is not between {EARLIEST:%Y} and {LATEST:%Y}"
        )
    return value


def _token(path: Path, line: int, name: str, raw: Any, *, required: bool) -> str | None:
    """A linkedid/uniqueid as Asterisk writes them (``1700000000.42``, ``pbx-1.2``): a short
    plain token that fits its column, or a :class:`CdrLineError` naming the field."""
    if raw is None or raw == "":
        if required:
            raise CdrLineError(path, line, name, "empty")
        return None
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise CdrLineError(path, line, name, "empty or not a string")
    if len(text) > contract.LINKEDID_MAX:
        raise CdrLineError(path, line, name, f"longer than {contract.LINKEDID_MAX} characters")
    if not contract.is_linkedid(text):
        raise CdrLineError(path, line, name, f"not a plain token: {text[:40]!r}")
    return text


def _epoch_ok(value: float) -> bool:
    return EARLIEST.timestamp() <= value < LATEST.timestamp()


def _check_attempts(path: Path, line: int, raw: str) -> str:
    """The attempts variable, refused when too long or when an entry's times are out of
    range (``999999999999`` is the year 33658: no datetime holds it)."""
    if len(raw) > MAX_ATTEMPTS_CHARS:
        raise CdrLineError(
            path, line, contract.CDR_ATTEMPTS_VAR, f"longer than {MAX_ATTEMPTS_CHARS} characters"
        )
    entries, _bad = contract.parse_cdr_attempts(raw)
    for entry in entries:
        times = (entry.dial_at, entry.end_at, entry.answered_at)
        if not all(_epoch_ok(t) for t in times if t is not None):
            raise CdrLineError(
                path,
                line,
                contract.CDR_ATTEMPTS_VAR,
                f"attempt {entry.index}: a time out of range ({entry.dial_at}, {entry.end_at})",
            )
    return raw


def _check_mark(path: Path, line: int, mark: dict[str, str] | None) -> dict[str, str] | None:
    """The fallback marker's values, bounded to what their columns and events hold."""
    if mark is None:
        return None
    for key, value in mark.items():
        if len(value) > MAX_MARK_VALUE_CHARS:
            raise CdrLineError(
                path, line, "userfield", f"{key[:20]!r} longer than {MAX_MARK_VALUE_CHARS}"
            )
    for key in ("dial_at", "routed_at"):
        value = mark.get(key, "")
        if value and epoch_of(value) is None:
            raise CdrLineError(path, line, "userfield", f"{key} out of range: {value[:20]!r}")
    answered_by = mark.get("answered_by", "")
    if answered_by and not is_caller_number(answered_by):
        raise CdrLineError(path, line, "userfield", "answered_by is not a phone number")
    return mark


_EPOCH_TEXT = re.compile(contract.EPOCH_TEXT)


def epoch_of(raw: str) -> float | None:
    """A marker's time (``dial_at``, ``routed_at``: epoch seconds as the dialplan writes them,
    ``1764900000`` or ``1764900000.123``) when it is one, in range; None otherwise."""
    if not _EPOCH_TEXT.fullmatch(raw):
        return None
    value = float(raw)
    return value if _epoch_ok(value) else None


_KEY = re.compile(r'([{,])\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*:')
# A double quote preceded by an even number of backslashes (none included): not escaped.
_BARE_QUOTE = re.compile(r'(?<!\\)((?:\\\\)*)"')


def _lenient_string(inner: str) -> str | None:
    try:
        value = json.loads(f'"{inner}"')
    except json.JSONDecodeError:
        try:
            value = json.loads('"' + _BARE_QUOTE.sub(r'\1\\"', inner) + '"')
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, str) else None


def repair_line(text: str) -> dict[str, Any] | None:
    """The object a cdr_custom JSON line meant, when its only fault is an unescaped ``"``
    inside string values; None when it cannot be read that way.

    The field names are known (:data:`CDR_FIELDS`): a field starts at ``"name":`` right after
    ``{`` or ``,``, its value runs to the next such start. Each known name at most once, the
    first right after ``{``, no unknown name, string values quoted at both ends, other values
    plain JSON.
    """
    s = text.strip()
    if not (s.startswith("{") and s.endswith("}")):
        return None
    starts = [m for m in _KEY.finditer(s) if m.group(2).lower() in CDR_FIELDS]
    if not starts or starts[0].start() != 0:
        return None
    out: dict[str, Any] = {}
    for i, m in enumerate(starts):
        name = m.group(2).lower()
        if name in out:
            return None
        stop = starts[i + 1].start() if i + 1 < len(starts) else len(s) - 1
        raw = s[m.end() : stop].strip()
        if any(k.group(1) == "," for k in _KEY.finditer(raw)):
            return None  # a field whose name is not known: the layout is not known
        value = _field_value(raw)
        if value is _UNREADABLE:
            return None
        out[name] = value
    return out


_UNREADABLE: Any = object()


def _field_value(raw: str) -> Any:
    """One field's value as :func:`repair_line` reads it: a quoted string leniently, anything
    else as plain JSON; :data:`_UNREADABLE` when it cannot be read."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        text = _lenient_string(raw[1:-1])
        return _UNREADABLE if text is None else text
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return _UNREADABLE


def parse_line(text: str, path: Path, line: int) -> CdrLine:
    """One JSON CDR line (repaired if its only fault is unescaped quotes); raises
    :class:`CdrLineError` naming file, line and field."""
    data, repaired = _load(text, path, line)
    linkedid = _token(path, line, "linkedid", data["linkedid"], required=True) or ""
    uniqueid = _token(path, line, "uniqueid", data.get("uniqueid"), required=False)
    userfield = str(data["userfield"])
    start = _when(path, line, "start", data["start"])
    end = _when(path, line, "end", data["end"]) if data["end"] else start
    caller = _caller(path, line, data.get("src"))
    return CdrLine(
        linkedid=linkedid,
        uniqueid=uniqueid or linkedid,
        src=caller,
        start=start,
        end=end,
        disposition=_short(data, "disposition"),
        userfield=userfield,
        mark=_check_mark(path, line, contract.parse_cdr_userfield(userfield)),
        dstchannel=_short(data, "dstchannel"),
        lastapp=_short(data, "lastapp"),
        attempts=_check_attempts(path, line, str(data.get(contract.CDR_ATTEMPTS_VAR) or "")),
        repaired=repaired,
    )


def _load(text: str, path: Path, line: int) -> tuple[dict[str, Any], bool]:
    """The line's JSON object with every :data:`REQUIRED` field, and whether it had to be
    repaired; raises :class:`CdrLineError` otherwise."""
    repaired = False
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        data = repair_line(text)
        if data is None:
            raise CdrLineError(path, line, "-", f"not JSON ({exc.msg})") from None
        repaired = True
    if not isinstance(data, dict):
        raise CdrLineError(path, line, "-", "not a JSON object")
    for name in REQUIRED:
        if name not in data or data[name] is None:
            raise CdrLineError(path, line, name, "missing")
    return data, repaired


def _caller(path: Path, line: int, src: Any) -> str | None:
    """The caller's number from ``src`` (None when there is none); raises
    :class:`CdrLineError` for digits that are not a phone number."""
    src_text = str(src) if src not in (None, "") else None
    caller = caller_number(src_text)
    if src_text is not None and caller is None and any(c.isdigit() for c in src_text):
        # Digits, but not a number (70 of them): kept in the rejected file, not cut short.
        raise CdrLineError(path, line, "src", f"not a phone number ({len(src_text)} characters)")
    return caller


def _short(data: dict[str, Any], name: str) -> str:
    """A free field's text, cut to the longest the store keeps."""
    return str(data.get(name) or "")[: contract.LINKEDID_MAX]

"""Reading a rota file: YAML → plain data with positions → :class:`Rota`, or every problem.

Every problem is reported as ``file:line:column: path (field in plain words): message``.
The YAML is composed into nodes (so each value keeps its line and column) and turned into
plain strings, lists and dicts by hand: YAML never guesses types here (``17:00`` is not the
sexagesimal number 1020, ``no`` is not ``False``); the pydantic models parse the strings.
Duplicate keys are an error, as are files that are empty, not a mapping, not UTF-8, or
larger than :data:`MAX_BYTES`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from callrouter.errors import RotaValidationError
from callrouter.rota.holidays import public_holidays_by_year
from callrouter.rota.model import HOLIDAY, OWN_PHONE, Rota, fold, parse_day, parse_staffing
from callrouter.rota.phones import normalise_phone

MAX_BYTES = 1024 * 1024
MAX_NODES = 200_000
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_HOLIDAY_NAME_YEARS = range(2020, 2041)

Path_ = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)
#: An error class built from (source, every problem), like :class:`RotaValidationError`.
ProblemsError = Callable[[str, list[str]], Exception]

# Field names in plain words, by (section, key) first, then by key alone.
_WORDS: dict[tuple[str, str] | str, str] = {
    "version": "phiên bản (tự tính)",
    "unit": "tên đơn vị",
    "timezone": "múi giờ",
    "branch": "nhánh tổng đài",
    "numbers": "các số điện thoại đăng ký",
    "officers": "danh sách cán bộ trực",
    "shifts": "các ca trực",
    "overrides": "các thay đổi lịch trực",
    "holidays": "ngày lễ, ngày nghỉ, ngày làm bù",
    "policy": "cách đổ chuông",
    ("numbers", "label"): "nhãn của số đăng ký",
    ("numbers", "number"): "số điện thoại đăng ký",
    ("numbers", "kind"): "loại số (landline: cố định, mobile: di động)",
    ("numbers", "confirm"): "yêu cầu bấm phím 1 để nhận cuộc gọi",
    ("officers", "id"): "mã cán bộ",
    ("officers", "name"): "họ và tên cán bộ",
    ("officers", "phone"): "số điện thoại của cán bộ",
    ("officers", "email"): "e-mail của cán bộ",
    ("shifts", "name"): "tên ca trực",
    ("shifts", "days"): "các ngày của ca trực",
    ("shifts", "start"): "giờ bắt đầu ca",
    ("shifts", "end"): "giờ kết thúc ca",
    "duty": "danh sách người trực theo thứ tự đổ chuông",
    "officer": "mã cán bộ trực",
    "at": "số nghe máy (nhãn số đăng ký hoặc own)",
    ("overrides", "date"): "ngày thay đổi (cả ngày)",
    ("overrides", "from"): "bắt đầu thay đổi",
    ("overrides", "to"): "kết thúc thay đổi",
    ("overrides", "reason"): "lý do thay đổi",
    ("overrides", "closed"): "đóng máy trong thời gian này",
    ("overrides", "swap"): "đổi người trong các ca",
    ("overrides", "by"): "người trực thay",
    ("holidays", "default"): "cách trực ngày lễ mặc định",
    ("holidays", "rules"): "cách trực từng ngày lễ",
    ("holidays", "match"): "tên ngày lễ (một phần)",
    ("holidays", "staffing"): "cách trực ngày lễ",
    ("holidays", "closed_dates"): "các ngày nghỉ thêm của đơn vị",
    ("holidays", "make_up_days"): "các ngày làm bù",
    ("holidays", "like"): "làm như ngày",
    ("holidays", "date"): "ngày",
    ("holidays", "name"): "tên ngày",
    ("policy", "strategy"): "cách đổ chuông (sequential/simultaneous/rotate)",
    ("policy", "ring_timeout"): "số giây đổ chuông mỗi lượt",
    ("policy", "rounds"): "số vòng gọi",
    ("policy", "max_wait"): "số giây chờ tối đa của người gọi",
    ("policy", "confirm_timeout"): "số giây chờ bấm phím 1",
    ("policy", "confirm_own_phone"): "bấm phím 1 khi gọi số riêng của cán bộ",
    ("policy", "after_hours_action"): "xử lý cuộc gọi ngoài giờ",
    ("policy", "nobody_answered_action"): "xử lý khi không ai nghe máy",
}


@dataclass
class _Document:
    """Plain data plus the position (line, column; 1-based) of every value and key."""

    source: str
    data: Any = None
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[tuple[int, int, str]] = field(default_factory=list)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path`` (its key if asked), else of its nearest existing parent."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while probe not in self.values and probe:
            probe = probe[:-1]
        return self.values.get(probe, (1, 1))

    def add(self, path: Path_, message: str, *, key: bool = False) -> None:
        line, column = self.where(path, key=key)
        self.problems.append((line, column, f"{describe(path, words=not key)}: {message}"))

    def formatted(self) -> list[str]:
        return [
            f"{self.source}:{line}:{column}: {message}"
            for line, column, message in sorted(self.problems, key=lambda p: (p[0], p[1]))
        ]


def describe(path: Path_, *, words: bool = True) -> str:
    """``officers[2].phone (số điện thoại của cán bộ)``."""
    if not path:
        return "tệp rota"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    names = [p for p in path if isinstance(p, str)]
    plain = None
    if names and words:
        plain = _WORDS.get((names[0], names[-1])) if len(names) > 1 else None
        plain = plain or _WORDS.get(names[-1])
    return f"{text} ({plain})" if plain else text


class _Converter:
    def __init__(self, doc: _Document) -> None:
        self.doc = doc
        self.nodes = 0

    @staticmethod
    def pos(node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooComplex
        self.doc.values[path] = self.pos(node)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _NULL_TAG:
                return None
            return str(node.value)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        raise _TooComplex  # pragma: no cover - the composer produces only these three

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        merged: list[dict[str, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                value = self.convert(value_node, path)
                parts = value if isinstance(value, list) else [value]
                merged.extend(p for p in parts if isinstance(p, dict))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, column = self.pos(key_node)
                self.doc.problems.append(
                    (line, column, f"{describe(path)}: khóa phải là một chữ, không phải danh sách")
                )
                continue
            key = str(key_node.value)
            line, column = self.pos(key_node)
            if key in first_seen:
                self.doc.problems.append(
                    (
                        line,
                        column,
                        f"{describe((*path, key), words=False)}: khóa {key!r} bị lặp lại "
                        f"(đã có ở dòng {first_seen[key]})",
                    )
                )
                continue
            first_seen[key] = line
            self.doc.keys[(*path, key)] = (line, column)
            out[key] = self.convert(value_node, (*path, key))
        for extra in merged:
            for key, value in extra.items():
                out.setdefault(key, value)
        return out


class _TooComplex(Exception):
    pass


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[int, int, str]:
    if isinstance(exc, yaml.reader.ReaderError):
        position = max(0, min(exc.position, len(text)))
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return line, column, f"ký tự không được phép trong tệp YAML: U+{ord(char):04X}"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"lỗi cú pháp YAML: {problem}" + (f" ({context})" if context else "")
    if mark is not None:
        return mark.line + 1, mark.column + 1, text
    return 1, 1, text


def _read_document(text: str, source: str) -> _Document:
    doc = _Document(source)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        doc.problems.append((1, 1, "tệp rota đang trống (cần ít nhất numbers và officers)"))
        return doc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        doc.problems.append(_yaml_problem(exc, text))
        return doc
    except RecursionError:
        doc.problems.append((1, 1, "tệp lồng nhau quá sâu, không phải một rota"))
        return doc
    if node is None:
        doc.problems.append((1, 1, "tệp rota đang trống (chỉ có chú thích)"))
        return doc
    if not isinstance(node, yaml.MappingNode):
        line, column = _Converter.pos(node)
        doc.problems.append(
            (line, column, "tệp rota phải là các cặp 'khóa: giá trị' (timezone:, numbers:, …)")
        )
        return doc
    try:
        doc.data = _Converter(doc).convert(node, ())
    except (_TooComplex, RecursionError):
        doc.problems.append((1, 1, "tệp quá phức tạp (quá nhiều mục hoặc bí danh lồng nhau)"))
        doc.data = None
    return doc


# ---------------------------------------------------------------------------------------
# pydantic errors → plain words


def _message(error: ErrorDetails, path: Path_) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    shown = f" (đang ghi: {given!r})" if isinstance(given, str) else ""
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "missing":
        return "thiếu, cần ghi trường này"
    if kind == "extra_forbidden":
        return "trường này không có trong mẫu rota (kiểm tra chính tả hoặc thụt lề)"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"cần một số nguyên{shown}"
    if kind in ("bool_parsing", "bool_type"):
        return f"cần true hoặc false{shown}"
    if kind in ("list_type", "tuple_type"):
        return "cần một danh sách (mỗi mục một dòng bắt đầu bằng '- ')"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        names = [p for p in path if isinstance(p, str)]
        example = ", ví dụ { officer: an, at: own }" if names and names[-1] == "duty" else ""
        return f"cần các cặp 'khóa: giá trị'{example}{shown}"
    if kind == "string_type":
        return "cần một đoạn chữ"
    if kind == "greater_than_equal":
        return f"phải lớn hơn hoặc bằng {ctx.get('ge')}{shown}"
    if kind == "less_than_equal":
        return f"phải nhỏ hơn hoặc bằng {ctx.get('le')}{shown}"
    if kind == "too_short":
        return f"cần ít nhất {ctx.get('min_length')} mục"
    if kind == "string_too_long":
        return f"dài quá {ctx.get('max_length')} ký tự"
    if kind == "enum":
        return f"phải là một trong: {ctx.get('expected')}{shown}"
    if kind in ("zoneinfo_str", "zoneinfo_unknown"):
        return f"múi giờ không tồn tại{shown}; ví dụ Asia/Ho_Chi_Minh"
    return str(error["msg"])


def _pydantic_problems(doc: _Document, exc: ValidationError, *, skip_root: bool) -> None:
    errors = [
        (tuple(p for p in error["loc"] if isinstance(p, str | int)), error)
        for error in exc.errors(include_url=False)
    ]
    deeper = {path[:-1] for path, _ in errors if path}
    for path, error in errors:
        if skip_root and not path:
            continue
        if error["type"] == "too_short" and path in deeper:
            continue  # its items are wrong, not missing: those errors say it better
        doc.add(path, _message(error, path), key=error["type"] == "extra_forbidden")


# ---------------------------------------------------------------------------------------
# Cross-references, checked on the plain data so they come out together with field errors


def _items(data: Any, *path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    node = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, dict):
                yield i, item


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; có phải {close[0]!r}?" if close else ""


@lru_cache(maxsize=1)
def _known_holiday_names() -> tuple[str, ...]:
    names: set[str] = set()
    for found in public_holidays_by_year(_HOLIDAY_NAME_YEARS).values():
        names.update(fold(n) for n in found.values())
    return tuple(sorted(names))


def _cross_checks(doc: _Document) -> None:
    data = doc.data
    if "version" in data:
        doc.add(("version",), "phiên bản được tính tự động từ nội dung tệp, đừng ghi", key=True)

    officer_ids: list[str] = []
    seen_ids: dict[str, int] = {}
    for i, officer in _items(data, "officers"):
        oid = officer.get("id")
        if isinstance(oid, str):
            if oid in seen_ids:
                doc.add(
                    ("officers", i, "id"), f"mã {oid!r} đã dùng cho cán bộ thứ {seen_ids[oid] + 1}"
                )
            else:
                seen_ids[oid] = i
            officer_ids.append(oid)

    labels: list[str] = []
    seen_numbers: dict[str, int] = {}
    for i, number in _items(data, "numbers"):
        label = number.get("label")
        if isinstance(label, str):
            if label in labels:
                doc.add(("numbers", i, "label"), f"nhãn {label!r} bị trùng")
            labels.append(label)
        raw = number.get("number")
        if isinstance(raw, str):
            try:
                national = normalise_phone(raw)
            except ValueError:
                continue
            if national in seen_numbers:
                doc.add(
                    ("numbers", i, "number"),
                    f"số {national} đã đăng ký ở mục thứ {seen_numbers[national] + 1}",
                )
            seen_numbers[national] = i

    for i, override in _items(data, "overrides"):
        for j, swap in _items(override, "swap"):
            for key in ("officer", "by"):
                who = swap.get(key)
                if isinstance(who, str) and who not in officer_ids:
                    doc.add(
                        ("overrides", i, "swap", j, key),
                        f"không có cán bộ nào mã {who!r} trong officers"
                        + _suggest(who, officer_ids),
                    )

    for section in ("shifts", "overrides"):
        for i, item in _items(data, section):
            for j, entry in _items(item, "duty"):
                who = entry.get("officer")
                if isinstance(who, str) and who not in officer_ids:
                    doc.add(
                        (section, i, "duty", j, "officer"),
                        f"không có cán bộ nào mã {who!r} trong officers"
                        + _suggest(who, officer_ids),
                    )
                at = entry.get("at", OWN_PHONE)
                if isinstance(at, str) and at != OWN_PHONE and at not in labels:
                    doc.add(
                        (section, i, "duty", j, "at"),
                        f"không có số đăng ký nhãn {at!r}; chỉ được gọi số đăng ký "
                        f"({', '.join(dict.fromkeys(labels)) or 'chưa có'}) "
                        f"hoặc số riêng của cán bộ ({OWN_PHONE})" + _suggest(at, labels),
                    )

    _holiday_checks(doc, data)


def _holiday_checks(doc: _Document, data: dict[str, Any]) -> None:
    holidays = data.get("holidays")
    if not isinstance(holidays, dict):
        return
    uses_shifts: list[Path_] = []
    default = holidays.get("default")
    if isinstance(default, str) and _staffing(default) == "shifts":
        uses_shifts.append(("holidays", "default"))
    for i, rule in _items(holidays, "rules"):
        staffing = rule.get("staffing")
        if isinstance(staffing, str) and _staffing(staffing) == "shifts":
            uses_shifts.append(("holidays", "rules", i, "staffing"))
        rule_date = rule.get("date")
        if isinstance(rule_date, str):
            try:
                day = date.fromisoformat(rule_date.strip())
            except ValueError:
                day = None  # reported by the model
            if day is not None and day not in public_holidays_by_year([day.year])[day.year]:
                doc.add(
                    ("holidays", "rules", i, "date"),
                    f"{rule_date} không phải ngày lễ Việt Nam; muốn đóng máy ngày đó hãy dùng "
                    "holidays.closed_dates, muốn đổi người trực hãy dùng overrides",
                )
        match = rule.get("match")
        if isinstance(match, str) and match.strip():
            wanted = fold(match)
            if not any(wanted in name for name in _known_holiday_names()):
                doc.add(
                    ("holidays", "rules", i, "match"),
                    f"không có ngày lễ Việt Nam nào có tên chứa {match!r} (ví dụ: 'Tết Nguyên Đán',"
                    " 'Giỗ Tổ Hùng Vương', 'Quốc khánh')",
                )
    if uses_shifts:
        has_holiday_shift = any(
            isinstance(shift.get("days"), str | list) and _mentions_holiday(shift["days"])
            for _, shift in _items(data, "shifts")
        )
        if not has_holiday_shift:
            for path in uses_shifts:
                doc.add(path, "'shifts' cần ít nhất một ca có days chứa 'holiday'")
    dates: dict[str, tuple[str, int]] = {}
    for section in ("closed_dates", "make_up_days"):
        listed = holidays.get(section)
        for i, raw in enumerate(listed if isinstance(listed, list) else []):
            when: Any = raw.get("date") if isinstance(raw, dict) else raw
            if not isinstance(when, str):
                continue
            when = when.strip()
            where: Path_ = ("holidays", section, i)
            if when in dates:
                other, index = dates[when]
                doc.add(where, f"ngày {when} đã có trong {other}[{index}]")
            else:
                dates[when] = (section, i)


def _staffing(text: str) -> str | None:
    try:
        return parse_staffing(text)
    except ValueError:
        return None


def _mentions_holiday(days: str | list[Any]) -> bool:
    items = [days] if isinstance(days, str) else days
    for item in items:
        if not isinstance(item, str):
            continue
        for part in item.replace(";", ",").split(","):
            try:
                if parse_day(part) == HOLIDAY:
                    return True
            except ValueError:
                continue
    return False


# ---------------------------------------------------------------------------------------
# Public entry points


def _version(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:12]


def _parse(text: str, source: str, version: str) -> Rota:
    return _validate(
        text, source, Rota, RotaValidationError, _cross_checks, extra={"version": version}
    )


def _validate(
    text: str,
    source: str,
    model: type[_M],
    error: ProblemsError,
    check: Callable[[_Document], None] | None,
    *,
    extra: dict[str, Any] | None = None,
) -> _M:
    """YAML text → ``model``, or ``error`` with every problem (``check`` adds cross-checks)."""
    doc = _read_document(text, source)
    if doc.data is None:
        raise error(source, doc.formatted())
    if check is not None:
        check(doc)
    try:
        value = model.model_validate({**doc.data, **(extra or {})})
    except ValidationError as exc:
        _pydantic_problems(doc, exc, skip_root=bool(doc.problems))
        raise error(source, doc.formatted()) from None
    if doc.problems:
        raise error(source, doc.formatted())
    if isinstance(value, Rota):
        value._officer_lines = {
            officer.id: doc.where(("officers", i))[0] for i, officer in enumerate(value.officers)
        }
    return value


def parse_rota(text: str, source: str) -> Rota:
    """Validate rota YAML text; ``source`` names it in errors (usually the file path)."""
    raw = text.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_BYTES:
        raise RotaValidationError(
            source, [f"{source}: tệp quá lớn ({len(raw)} byte, tối đa {MAX_BYTES} byte)"]
        )
    return _parse(text, source, _version(raw))


def load_rota(path: Path) -> Rota:
    """Read and validate a rota file; raises :class:`RotaValidationError` with every problem."""
    text, raw = read_config_file(path, RotaValidationError)
    return _parse(text, str(path), _version(raw))


def read_config_file(path: Path, error: ProblemsError) -> tuple[str, bytes]:
    """A YAML configuration file's text (bounded, UTF-8), or ``error(source, [problem])``."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise error(source, [f"{source}: không đọc được tệp: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_BYTES:
        raise error(source, [f"{source}: tệp quá lớn (hơn {MAX_BYTES} byte)"])
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            source,
            [
                f"{source}:{line}:{column}: tệp không phải UTF-8 (byte 0x{raw[exc.start]:02x}); "
                "hãy lưu lại tệp với bảng mã UTF-8"
            ],
        ) from None


def parse_config_model(
    text: str,
    source: str,
    model: type[_M],
    error: ProblemsError,
    check: Callable[[Any], list[tuple[Path_, str]]] | None = None,
) -> _M:
    """Validate YAML text into ``model`` the way a rota is validated (``file:line:col``).

    ``check`` sees the plain data first and returns extra problems by path (cross-references
    the model cannot see); every problem found comes out together in ``error``.
    """

    def problems_of(doc: _Document) -> None:
        for path, message in check(doc.data) if check is not None else ():
            doc.add(path, message)

    return _validate(text, source, model, error, problems_of)

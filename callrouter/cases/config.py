"""The cases configuration: topics, agencies, deadlines (a YAML file validated like the rota).

::

    topics:                 # lĩnh vực: code → Vietnamese label
      kham_chua_benh: Khám, chữa bệnh
    agencies:               # cơ quan nhận chuyển: code → name
      so_y_te: Sở Y tế
    deadlines:              # hạn xử lý, in official working days, per kind
      phan_anh: 10
    summary_max: 2000       # longest summary / answer / result text, in characters

Problems come out as ``file:line:column: field: message`` (the rota loader's machinery). A
running process that reloads a bad file keeps the list it had (:meth:`CasesConfigHolder.reload`).
Without a file the topics are the ``categories`` of the main settings, no agency is listed,
and the deadlines are :data:`DEFAULT_DEADLINES`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from callrouter.cases.lifecycle import KIND_LABELS, Kind
from callrouter.errors import CaseConfigError, CaseInputError
from callrouter.rota.loader import parse_config_model, read_config_file

DEFAULT_DEADLINES: Final[dict[Kind, int]] = {
    Kind.QUESTION: 5,
    Kind.FEEDBACK: 10,
    Kind.PETITION: 10,
    Kind.OTHER: 10,
}
SUMMARY_MAX_DEFAULT: Final = 2000
_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def _label(raw: str) -> str:
    text = unicodedata.normalize("NFC", raw).strip()
    if not text:
        raise ValueError("tên không được để trống")
    return text


Label = Annotated[str, AfterValidator(_label), Field(max_length=200)]


def _code_problems(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Codes of topics and agencies, reported at their own line."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if not isinstance(data, dict):
        return problems
    for section in ("topics", "agencies"):
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        for code in entries:
            if not _CODE.fullmatch(code):
                problems.append(
                    (
                        (section, code),
                        f"mã {code!r} chỉ gồm chữ thường không dấu, chữ số, '.', '-' hoặc '_' "
                        "(tối đa 64 ký tự), ví dụ so_y_te",
                    )
                )
    return problems


class CasesConfig(BaseModel):
    """Topics, agencies and deadlines of cases (codes are configuration, not schema)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topics: Annotated[dict[str, Label], Field(min_length=1)]
    agencies: dict[str, Label] = Field(default_factory=dict)
    deadlines: dict[Kind, Annotated[int, Field(ge=0, le=365)]] = Field(
        default_factory=lambda: dict(DEFAULT_DEADLINES)
    )
    summary_max: int = Field(default=SUMMARY_MAX_DEFAULT, ge=100, le=20_000)

    @field_validator("deadlines", mode="before")
    @classmethod
    def _deadline_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            known = {k.value for k in Kind}
            for key in value:
                if key not in known:
                    choices = ", ".join(f"{k.value} ({k.label})" for k in Kind)
                    raise ValueError(f"loại {key!r} không có; chọn một trong: {choices}")
            return {**{k.value: v for k, v in DEFAULT_DEADLINES.items()}, **value}
        return value

    def deadline_days(self, kind: Kind) -> int:
        return self.deadlines.get(kind, DEFAULT_DEADLINES[kind])

    def topic_label(self, code: str | None) -> str:
        if code is None:
            return "Chưa rõ lĩnh vực"
        return self.topics.get(code, code)

    def agency_label(self, code: str | None) -> str:
        if code is None:
            return ""
        return self.agencies.get(code, code)

    def check_topic(self, code: str) -> str:
        if code not in self.topics:
            raise CaseInputError(
                f"lĩnh vực {code!r} không có trong danh sách: {_list(self.topics)}"
            )
        return code

    def check_agency(self, code: str) -> str:
        if code not in self.agencies:
            if not self.agencies:
                raise CaseInputError(
                    "chưa cấu hình cơ quan nào để chuyển (mục agencies của tệp cấu hình hồ sơ)"
                )
            raise CaseInputError(
                f"cơ quan {code!r} không có trong danh sách: {_list(self.agencies)}"
            )
        return code

    def check_text(self, what: str, text: str | None) -> str | None:
        """Free text bounded at :attr:`summary_max` (NFC, stripped; empty → None)."""
        if text is None:
            return None
        cleaned = unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()
        if "\x00" in cleaned:
            raise CaseInputError(f"{what}: có ký tự không hợp lệ (NUL)")
        if len(cleaned) > self.summary_max:
            raise CaseInputError(
                f"{what}: dài {len(cleaned)} ký tự, tối đa {self.summary_max} ký tự; "
                "hãy tóm tắt ngắn hơn"
            )
        return cleaned or None


def _list(choices: Mapping[str, str]) -> str:
    return ", ".join(f"{code} ({label})" for code, label in choices.items())


def parse_cases_config(text: str, source: str) -> CasesConfig:
    """Validate cases YAML text; every problem in one :class:`CaseConfigError`."""
    return parse_config_model(text, source, CasesConfig, CaseConfigError, _code_problems)


def load_cases_config(path: Path) -> CasesConfig:
    text, _ = read_config_file(path, CaseConfigError)
    return parse_cases_config(text, str(path))


def default_cases_config(categories: Mapping[str, str]) -> CasesConfig:
    """No file: the settings' categories are the topics."""
    return CasesConfig(topics=dict(categories))


@dataclass
class CasesConfigHolder:
    """The configuration a running process uses; a bad file on reload keeps the old one."""

    path: Path | None
    current: CasesConfig

    def reload(self) -> list[str]:
        """Re-read the file: [] when taken, else the problems (and the running list stays)."""
        if self.path is None:
            return []
        try:
            self.current = load_cases_config(self.path)
        except CaseConfigError as exc:
            return exc.problems
        return []


KIND_CHOICES: Final = {k.value: label for k, label in KIND_LABELS.items()}

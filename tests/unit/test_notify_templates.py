"""The notification templates: built-in ones render, a file overrides one, and a file with an
unknown placeholder (or a wrong layout) is refused with its file and line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callrouter.errors import ConfigError
from callrouter.notify.templates import DEFAULTS, PLACEHOLDERS, load_templates
from callrouter.rota import parse_rota
from callrouter.rota.model import Officer

pytestmark = pytest.mark.unit

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_every_builtin_template_renders_with_its_placeholders() -> None:
    templates = load_templates(None)
    assert set(templates) == set(DEFAULTS)
    for kind, template in templates.items():
        subject, body = template.render({name: f"<{name}>" for name in PLACEHOLDERS[kind]})
        assert "<unit>" in subject
        assert "$" not in subject + body


def test_a_file_replaces_the_builtin_template(tmp_path: Path) -> None:
    (tmp_path / "shift_reminder.txt").write_text(
        "Ca trực của $officer\n\nTừ ${start} tại số $number.\n", encoding="utf-8"
    )
    templates = load_templates(tmp_path)
    values = dict.fromkeys(PLACEHOLDERS["shift_reminder"], "x") | {"officer": "Lan"}
    assert templates["shift_reminder"].render(values) == ("Ca trực của Lan", "Từ x tại số x.\n")


def test_an_unknown_placeholder_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "uncovered_hours.txt"
    path.write_text("Cảnh báo $unit\n\nDanh sách:\n$gaps\nNgười lập: $ten_can_bo\n", "utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:5: không có biến \$ten_can_bo") as info:
        load_templates(tmp_path)
    assert "$gaps" in str(info.value)  # says what may be used


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("\n\nthân\n", 1, "tiêu đề"),
        ("Tiêu đề\nthân ngay\n", 2, "dòng trống"),
        ("Tiêu đề\n\n  \n", 3, "trống"),
        ("Tiêu đề $\n\nthân\n", 1, "không có biến"),
    ],
)
def test_a_template_file_in_the_wrong_layout_is_refused(
    tmp_path: Path, text: str, line: int, why: str
) -> None:
    path = tmp_path / "duty_changed.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}:{line}: .*{why}"):
        load_templates(tmp_path)


def test_a_file_for_no_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nhac_ca.txt").write_text("x\n\ny\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nhac_ca\.txt:1: không có loại thông báo này"):
        load_templates(tmp_path)


ROTA = """
numbers: [{label: office, number: "024 3333 4444"}]
officers:
  - {id: an, name: An, phone: "0912000101", email: an@example.vn, quiet_hours: "%s"}
shifts: [{name: day, days: mon-fri, start: "07:00", end: "17:00", duty: [{officer: an}]}]
"""


def _officer(quiet: str) -> Officer:
    return parse_rota(ROTA % quiet, "rota.yaml").officers[0]


@pytest.mark.parametrize(
    ("quiet", "at", "until"),
    [
        ("22:00-06:00", "2026-03-06 23:10", "2026-03-07 06:00"),
        ("22:00-06:00", "2026-03-07 05:59", "2026-03-07 06:00"),
        ("22:00-06:00", "2026-03-07 06:00", None),
        ("12:00-13:30", "2026-03-07 12:45", "2026-03-07 13:30"),
        ("12:00-13:30", "2026-03-07 14:00", None),
    ],
)
def test_quiet_hours_hold_a_notice_until_they_end(quiet: str, at: str, until: str | None) -> None:
    moment = datetime.fromisoformat(at).replace(tzinfo=HCM)
    expected = None if until is None else datetime.fromisoformat(until).replace(tzinfo=HCM)
    assert _officer(quiet).quiet_until(moment) == expected


@pytest.mark.parametrize("quiet", ["22:00", "25:00-06:00", "06:00-06:00", "đêm"])
def test_bad_quiet_hours_are_refused_with_the_officer_field(quiet: str) -> None:
    from callrouter.errors import RotaError

    with pytest.raises(RotaError, match="quiet_hours"):
        parse_rota(ROTA % quiet, "rota.yaml")

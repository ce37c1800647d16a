"""``callrouter rota check|who|roster|ics`` through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from icalendar import Calendar

import callrouter.cli.rota as rota_cli
from callrouter.cli import cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "tests" / "fixtures" / "rota" / "valid.yaml"
INVALID = ROOT / "tests" / "fixtures" / "rota" / "invalid_many.yaml"
EXAMPLE = ROOT / "config" / "rota.example.yaml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["rota", *args], catch_exceptions=False)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội, a Monday
    monkeypatch.setattr(rota_cli, "_now", lambda: now)
    return now


def test_check_valid_file_exits_zero_and_summarises() -> None:
    result = run("check", str(VALID), "--from", "2026-03-02")
    assert result.exit_code == 0, result.output
    assert f"{VALID}: hợp lệ — 4 cán bộ, 5 ca trực, 4 thay đổi" in result.output


def test_check_warns_about_uncovered_hours_and_idle_officers() -> None:
    result = run("check", str(VALID), "--from", "2026-03-02", "--weeks", "1")
    assert result.exit_code == 0
    warnings = [line for line in result.output.splitlines() if "cảnh báo:" in line]
    # Saturdays and Sundays 07:00–08:00 and 12:00–17:00 have nobody on duty
    assert any("2026-03-07 (Thứ Bảy) 07:00–08:00" in w for w in warnings), warnings
    assert any("2026-03-08 (Chủ Nhật) 12:00–17:00" in w for w in warnings), warnings
    # weekdays are fully covered
    assert not any("2026-03-03" in w for w in warnings), warnings
    assert any("cán bộ dung (Phạm Dũng) không có trong ca trực nào" in w for w in warnings)


def test_check_does_not_warn_for_deliberately_closed_days() -> None:
    result = run("check", str(VALID), "--from", "2026-06-01", "--weeks", "1")
    assert not any(
        "2026-06-01" in line or "2026-06-02 (" in line for line in result.output.splitlines()
    )


def test_check_warns_about_past_overrides_and_missing_make_up_days() -> None:
    result = run("check", str(VALID), "--from", "2027-01-05", "--weeks", "1")
    assert "thay đổi 'An ốm, Bình trực thay' đã kết thúc" in result.output
    example = run("check", str(EXAMPLE), "--from", "2026-01-01", "--weeks", "1")
    assert example.exit_code == 0
    assert "2026-08-31" not in example.output  # the example lists 22/08 as a make-up day
    no_make_up = run("check", str(VALID), "--from", "2025-01-01", "--weeks", "1")
    assert "hãy thêm ngày đó vào holidays.make_up_days" in no_make_up.output
    assert "2025-04-26" in no_make_up.output


def test_check_invalid_file_exits_one_with_every_error_and_no_traceback() -> None:
    result = run("check", str(INVALID))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) >= 20
    assert all(line.startswith(f"{INVALID}:") for line in lines)
    assert "Traceback" not in result.output


def test_check_unreadable_file_exits_one(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_bytes(b"\xff\xfe garbage")
    result = run("check", str(path))
    assert result.exit_code == 1
    assert "không phải UTF-8" in result.output


def test_check_without_a_file_uses_the_configured_rota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLROUTER_ROTA_PATH", str(VALID))
    result = run("check", "--from", "2026-03-02")
    assert result.exit_code == 0
    assert str(VALID) in result.output


def test_who_prints_the_officers_on_duty_in_vietnamese(frozen_now: datetime) -> None:
    result = run("who", "--rota", str(VALID))
    assert result.exit_code == 0
    assert "2026-03-02 09:00 (Thứ Hai, Asia/Ho_Chi_Minh)" in result.output
    assert "ĐANG TRỰC (ca day)" in result.output
    assert "Đổ chuông: lần lượt, 15 giây mỗi máy, 3 vòng, chờ tối đa 90 giây" in result.output
    assert "Thay đổi tiếp theo: 11:00 Thứ Hai 02/03 — ca day + ca lunch: " in result.output
    assert "1. Nguyễn Văn An — 02433334444 (office), đến 17:00 02/03" in result.output
    assert "2. Trần Thị Bình — 0912000001 (duty, bấm phím 1)" in result.output
    assert "chuyển tiếp tới 02439991111" in result.output


def test_who_when_closed_says_so_and_what_callers_get() -> None:
    result = run("who", "--rota", str(VALID), "--at", "2026-06-02 09:00")
    assert result.exit_code == 0
    assert "ĐÓNG MÁY (ngày nghỉ: Khử khuẩn)" in result.output
    # the unit's closed date starts no night shift: nobody until Wednesday's day shift
    assert "Thay đổi tiếp theo: 00:00 Thứ Tư 03/06 — ngoài giờ trực: đóng máy" in result.output
    assert "để lại lời nhắn" in result.output


def test_who_json_is_stable_and_complete() -> None:
    result = run("who", "--rota", str(VALID), "--at", "2026-03-03T04:30:00+00:00", "--json")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["at"] == "2026-03-03T11:30:00+07:00"
    assert payload["open"] is True
    assert payload["reason"] == "shift day + shift lunch"
    assert [d["officer_id"] for d in payload["on_duty"]] == ["an", "binh", "chi"]
    assert payload["on_duty"][2] == {
        "officer_id": "chi",
        "officer_name": "Lê Minh Chi",
        "number": "0912000103",
        "number_label": None,
        "confirm": True,
        "since": "2026-03-03T11:00:00+07:00",
        "until": "2026-03-03T13:00:00+07:00",
    }
    assert payload["action"] == {"kind": "forward", "number": "02439991111"}
    assert payload["reason_vi"] == "ca day + ca lunch"
    assert payload["next"] == {
        "at": "2026-03-03T13:00:00+07:00",
        "open": True,
        "reason": "shift day",
        "officer_ids": ["an", "binh"],
        "officer_names": ["Nguyễn Văn An", "Trần Thị Bình"],
    }
    assert (payload["strategy"], payload["rounds"], payload["ring_timeout"]) == (
        "sequential",
        3,
        15,
    )
    assert list(payload) == sorted(payload)
    assert "Lê Minh Chi" in result.output  # UTF-8, not \\u escapes
    again = run("who", "--rota", str(VALID), "--at", "2026-03-03 11:30", "--json")
    assert again.output == result.output


def test_who_at_a_clock_time_means_today_in_the_rota_zone(frozen_now: datetime) -> None:
    payload = json.loads(run("who", "--rota", str(VALID), "--at", "18:00", "--json").output)
    assert payload["at"] == "2026-03-02T18:00:00+07:00"
    assert payload["reason"] == "shift night"


def test_who_rejects_an_unreadable_time() -> None:
    result = CliRunner().invoke(cli, ["rota", "who", "--rota", str(VALID), "--at", "tomorrow"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD HH:MM" in result.output


def test_who_defaults_to_the_configured_rota(
    monkeypatch: pytest.MonkeyPatch, frozen_now: datetime
) -> None:
    monkeypatch.setenv("CALLROUTER_ROTA_PATH", str(VALID))
    assert "Trạm thử nghiệm" in run("who").output


def test_who_on_an_invalid_rota_exits_one(tmp_path: Path) -> None:
    bad = tmp_path / "rota.yaml"
    bad.write_text("numbers: []\n", encoding="utf-8")
    result = run("who", "--rota", str(bad))
    assert result.exit_code == 1
    assert "numbers" in result.output


def test_roster_lists_name_phone_email() -> None:
    result = run("roster", "--rota", str(EXAMPLE))
    assert result.exit_code == 0
    assert "Họ và tên" in result.output
    assert "Lê Thị Thu Hương" in result.output
    assert "0708553291" in result.output
    assert "huong.ltt@ttytsonha.example.vn" in result.output


def test_roster_csv_parses_back() -> None:
    result = run("roster", "--rota", str(VALID), "--csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["STT", "Họ và tên", "Số điện thoại", "E-mail"]
    assert rows[1:] == [
        ["1", "Nguyễn Văn An", "0912000101", "an@example.vn"],
        ["2", "Trần Thị Bình", "0912000102", "binh@example.vn"],
        ["3", "Lê Minh Chi", "0912000103", "chi@example.vn"],
        ["4", "Phạm Dũng", "02435556666", "dung@example.vn"],
    ]


def _calendar(*args: str) -> Calendar:
    result = run("ics", "--rota", str(VALID), *args)
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes
    assert raw.endswith(b"END:VCALENDAR\r\n")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 75  # RFC 5545 §3.1: CRLF lines folded at 75 octets
        assert b"\n" not in line
    return Calendar.from_ical(raw)


def _local(value: datetime) -> datetime:
    return value.astimezone(HCM)


def test_ics_is_a_valid_calendar_of_duty_periods(frozen_now: datetime) -> None:
    calendar = _calendar("--from", "2026-03-02", "--weeks", "2")
    assert str(calendar["VERSION"]) == "2.0"
    assert "callrouter" in str(calendar["PRODID"])
    events = list(calendar.walk("VEVENT"))
    assert events
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    spans = [(_local(e.decoded("DTSTART")), _local(e.decoded("DTEND"))) for e in events]
    for (start, end), event in zip(spans, events, strict=True):
        assert start < end
        assert event.decoded("DTSTAMP") == frozen_now
    assert spans == sorted(spans)
    # Monday day shift 07:00–11:00, then day+lunch until 13:00
    monday = {s: str(e["SUMMARY"]) for (s, _), e in zip(spans, events, strict=True)}
    day = datetime(2026, 3, 2, 7, 0, tzinfo=HCM)
    assert monday[day] == "Trực 1022 nhánh 3: Nguyễn Văn An, Trần Thị Bình"
    # the override day shows Bình at the office, with the override's reason
    override = [e for e in events if "An ốm" in str(e["DESCRIPTION"])]
    assert override
    assert "Trần Thị Bình – 02433334444 (office)" in str(override[0]["DESCRIPTION"])


def test_ics_for_one_officer_only_lists_their_periods() -> None:
    calendar = _calendar("--from", "2026-03-02", "--weeks", "1", "--officer", "chi")
    events = list(calendar.walk("VEVENT"))
    assert events
    assert all("Lê Minh Chi" in str(e["SUMMARY"]) for e in events)
    total = sum((e.decoded("DTEND") - e.decoded("DTSTART") for e in events), timedelta())
    assert total > timedelta(hours=7 * 14)  # every night of the week at least


def test_ics_unknown_officer_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["rota", "ics", "--rota", str(VALID), "--officer", "zed"])
    assert result.exit_code == 2
    assert "zed" in result.output


def test_ics_written_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "truc.ics"
    result = run(
        "ics", "--rota", str(VALID), "--from", "2027-02-05", "--weeks", "1", "-o", str(out)
    )
    assert result.exit_code == 0
    calendar = Calendar.from_ical(out.read_bytes())
    summaries = [str(e["DESCRIPTION"]) for e in calendar.walk("VEVENT")]
    assert any("ngày lễ: Tết Nguyên Đán" in s for s in summaries)


def test_vietnamese_output_is_utf8_even_in_a_c_locale_terminal() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    env.update({"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "callrouter",
            "rota",
            "who",
            "--rota",
            str(VALID),
            "--at",
            "2026-03-02 09:00",
        ],
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    text = done.stdout.decode("utf-8")  # strict: fails on anything but UTF-8
    assert "1. Nguyễn Văn An — 02433334444 (office)" in text
    assert "ĐANG TRỰC" in text


def test_roster_csv_file_carries_a_bom_for_excel(tmp_path: Path) -> None:
    out = tmp_path / "can-bo.csv"
    result = run("roster", "--rota", str(VALID), "-o", str(out))
    assert result.exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[2] == ["2", "Trần Thị Bình", "0912000102", "binh@example.vn"]


def test_broken_settings_are_a_clear_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLROUTER_BRANCH", "three")
    result = CliRunner().invoke(cli, ["rota", "who"])
    assert result.exit_code == 1
    assert "cấu hình CALLROUTER_* không hợp lệ" in result.output
    assert "Traceback" not in result.output


def test_rota_dialplan_writes_the_fallback_include_from_the_rota(tmp_path: Path) -> None:
    """`rota dialplan -o FILE` writes the include the shipped dialplan's fallback rings."""
    from callrouter.asterisk.fallback import render_fallback_include
    from callrouter.rota import load_rota

    target = tmp_path / "callrouter_fallback.conf"
    result = CliRunner().invoke(
        cli, ["rota", "dialplan", "--rota", str(EXAMPLE), "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    rota = load_rota(EXAMPLE)
    assert target.read_text(encoding="utf-8") == render_fallback_include(rota)
    assert rota.version in result.output
    for number in rota.numbers:
        assert number.number in target.read_text(encoding="utf-8")


def test_rota_dialplan_refuses_an_invalid_rota_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "callrouter_fallback.conf"
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["rota", "dialplan", "--rota", str(bad), "-o", str(target)])
    assert result.exit_code == 1
    assert not target.exists()


def _without_emails(tmp_path: Path) -> Path:
    """valid.yaml with Bình's e-mail left out and Dũng's left blank."""
    text = VALID.read_text(encoding="utf-8")
    text = text.replace(", email: binh@example.vn }", " }")
    text = text.replace("email: dung@example.vn", 'email: ""')
    path = tmp_path / "rota.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_warns_with_the_line_about_officers_without_an_email(tmp_path: Path) -> None:
    path = _without_emails(tmp_path)
    result = run("check", str(path), "--from", "2026-03-02", "--weeks", "1")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "e-mail" in line]
    assert warnings == [
        f"{path}:10: cảnh báo: cán bộ binh (Trần Thị Bình) chưa có e-mail hợp lệ: "
        "sẽ không nhận được thông báo",
        f"{path}:12: cảnh báo: cán bộ dung (Phạm Dũng) chưa có e-mail hợp lệ: "
        "sẽ không nhận được thông báo",
    ]
    total = sum("cảnh báo:" in line for line in result.output.splitlines())
    assert f"{total} cảnh báo" in result.output.splitlines()[-1]
    assert "e-mail" not in run("check", str(VALID), "--from", "2026-03-02").output


def test_check_still_refuses_a_malformed_email(tmp_path: Path) -> None:
    path = tmp_path / "rota.yaml"
    path.write_text(
        VALID.read_text(encoding="utf-8").replace("binh@example.vn", "binh@"), encoding="utf-8"
    )
    result = run("check", str(path))
    assert result.exit_code == 1
    assert f"{path}:10:" in result.output
    assert "'binh@' không phải địa chỉ e-mail hợp lệ" in result.output


def test_roster_shows_an_empty_cell_for_an_officer_without_an_email(tmp_path: Path) -> None:
    path = _without_emails(tmp_path)
    rows = list(csv.reader(io.StringIO(run("roster", "--rota", str(path), "--csv").output)))
    assert rows[2] == ["2", "Trần Thị Bình", "0912000102", ""]
    assert rows[4] == ["4", "Phạm Dũng", "02435556666", ""]
    table = run("roster", "--rota", str(path))
    assert table.exit_code == 0
    assert "None" not in table.output

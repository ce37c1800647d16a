"""``callrouter report …`` end to end on a real SQLite database migrated by the store's Alembic
scripts: every format, periods, notes, empty month, bad input, merge and send."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from callrouter.cli import cli
from callrouter.report.sample import edge_month_rows, insert_rows
from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade
from tests.conftest import require_service

pytestmark = pytest.mark.integration


LETTERHEAD = {
    "GOVERNING_BODY": "SỞ Y TẾ THÀNH PHỐ A",
    "UNIT_NAME": "TRUNG TÂM Y TẾ KHU VỰC BẮC SÔNG",
    "PLACE": "Bắc Sông",
    "ADDRESSEES": '["Sở Y tế thành phố A"]',
    "SIGNER_TITLE": "GIÁM ĐỐC",
    "SIGNER_NAME": "Nguyễn Thị Hoa",
    "REFERENCE": "Công văn số 123/SYT-VP ngày 10/8/2025 của Sở Y tế",
}


@pytest.fixture
def letterhead(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in LETTERHEAD.items():
        monkeypatch.setenv(f"CALLROUTER_REPORT_{key}", value)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, letterhead: None) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'callrouter.sqlite3'}"

    async def setup() -> None:
        engine = make_engine(url)
        try:
            await upgrade(engine)
            await insert_rows(engine, edge_month_rows())
        finally:
            await engine.dispose()

    asyncio.run(setup())
    monkeypatch.setenv("CALLROUTER_DATABASE_URL", url)
    monkeypatch.setenv("CALLROUTER_REPORT_CUTOFF_DAY", "0")  # the tests' months are calendar
    monkeypatch.chdir(tmp_path)
    return url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def test_monthly_json_has_the_month_figures(db_url: str) -> None:
    result = run("monthly", "--month", "2026-11", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "callrouter-report"
    assert data["period"] == {
        "kind": "month",
        "start": "2026-11-01",
        "end": "2026-11-30",
        "month": "2026-11",
        "cutoff_day": None,
        "as_of": None,
    }
    assert data["totals"]["received"] == 10
    assert data["totals"]["answered"] == 4


def test_monthly_table_prints_vietnamese_tables(db_url: str) -> None:
    result = run("monthly", "--month", "2026-11")
    assert result.exit_code == 0, result.output
    assert "Tổng số cuộc gọi đến" in result.stdout
    assert "Nguyễn Văn An" in result.stdout


def test_monthly_csv_to_stdout(db_url: str) -> None:
    result = run("monthly", "--month", "2026-11", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "summary,received,Tổng số cuộc gọi đến,10" in result.stdout


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_monthly_binary_formats_go_to_out_file_or_a_default_name(
    db_url: str, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"r.{fmt}"
    result = run("monthly", "--month", "2026-11", "--format", fmt, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"PK"
    result = run("monthly", "--month", "2026-11", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"bao-cao-1022-2026-11.{fmt}").read_bytes()[:2] == b"PK"
    assert "Đã ghi" in result.stderr


def test_cutoff_and_adhoc_periods(db_url: str) -> None:
    cut = json.loads(
        run("monthly", "--month", "2026-11", "--cutoff", "15", "--format", "json").stdout
    )
    assert (cut["period"]["start"], cut["period"]["end"]) == ("2026-10-15", "2026-11-14")
    assert cut["totals"]["received"] == 5
    result = run("monthly", "--from", "2026-11-30", "--to", "2026-11-30")
    assert result.exit_code == 0, result.output
    assert "Báo cáo đột xuất" in result.stdout
    assert "báo cáo đột xuất" in result.stdout


def test_notes_file_becomes_the_difficulties_section(db_url: str, tmp_path: Path) -> None:
    notes = tmp_path / "kho-khan.txt"
    notes.write_text("Thiếu một máy bàn cho ca đêm.\n", encoding="utf-8")
    result = run("monthly", "--month", "2026-11", "--format", "json", "--notes", str(notes))
    assert json.loads(result.stdout)["notes"] == "Thiếu một máy bàn cho ca đêm."


def test_given_month_without_calls_then_report_says_so_and_succeeds(db_url: str) -> None:
    result = run("monthly", "--month", "2025-02")
    assert result.exit_code == 0, result.output
    assert "không nhận được cuộc gọi nào" in result.stdout
    assert "Không có cuộc gọi nào từ 01/02/2025 đến 28/02/2025" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "--month '2026-13': month must be 01..12"),
        (["--month", "11/2026"], "--month '11/2026': expected YYYY-MM"),
        (["--month", "2026-11", "--cutoff", "31"], "--cutoff 31: must be a day 2..28"),
        (["--from", "2026-11-01"], "needs both --from and --to"),
        (["--month", "2026-11", "--notes", "khong-co.txt"], "--notes khong-co.txt: cannot read"),
    ],
)
def test_bad_input_gives_a_clear_error_not_a_traceback(
    db_url: str, args: list[str], message: str
) -> None:
    result = run("monthly", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_given_database_without_schema_then_error_says_to_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLROUTER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    result = run("monthly", "--month", "2026-11")
    assert result.exit_code == 1
    assert "callrouter db upgrade" in result.stderr


def test_merge_two_units_and_refusals(db_url: str, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    assert run("monthly", "--month", "2026-11", "--format", "json", "--out", str(a)).exit_code == 0
    data = json.loads(a.read_text(encoding="utf-8"))
    data["unit"]["name"] = data["units"][0]["name"] = "TRUNG TÂM Y TẾ HUYỆN SÓC SƠN"
    b.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert run("monthly", "--month", "2026-11", "--cutoff", "15", "--format", "json",
               "--out", str(c)).exit_code == 0  # fmt: skip

    result = run("merge", str(a), str(b), "--format", "json")
    assert result.exit_code == 0, result.output
    merged = json.loads(result.stdout)
    assert merged["merged"] is True
    assert merged["totals"]["received"] == 20
    assert merged["totals"]["answer_rate"] == pytest.approx(8 / 18)
    assert [u["name"] for u in merged["units"]] == [
        "TRUNG TÂM Y TẾ KHU VỰC BẮC SÔNG",
        "TRUNG TÂM Y TẾ HUYỆN SÓC SƠN",
    ]
    out = tmp_path / "tong-hop.docx"
    assert run("merge", str(a), str(b), "--out", str(out)).exit_code == 0
    assert out.read_bytes()[:2] == b"PK"

    result = run("merge", str(a), str(c), "--format", "json")
    assert result.exit_code == 1
    assert f"{c}: period 2026-10-15..2026-11-14 differs" in result.stderr
    assert "--force" in result.stderr
    assert run("merge", str(a), str(c), "--format", "json", "--force").exit_code == 0

    foreign = tmp_path / "khac.json"
    foreign.write_text('{"name": "not a report"}', encoding="utf-8")
    result = run("merge", str(a), str(foreign))
    assert result.exit_code == 1
    assert f"{foreign}: not a callrouter report" in result.stderr


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Inbox]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("CALLROUTER_REPORT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CALLROUTER_REPORT_SMTP_PORT", str(port))
    monkeypatch.setenv("CALLROUTER_REPORT_MAIL_TO", '["vhtt@melinh.example"]')
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    if shutil.which("soffice") is None:
        require_service("soffice", "install libreoffice-writer-nogui (scripts/apt-packages.txt)")
    monkeypatch.setenv("CALLROUTER_REPORT_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


def test_only_an_approved_draft_is_sent_and_the_sent_files_are_the_kept_ones(
    db_url: str, smtp: _Inbox, reports: Path
) -> None:
    result = run("draft", "--month", "2026-11")
    assert result.exit_code == 0, result.output
    kept = reports / "bao-cao-1022-2026-11"
    files = {p.suffix: p.read_bytes() for p in kept.iterdir() if p.is_file()}
    assert set(files) >= {".docx", ".xlsx", ".json", ".pdf"}
    assert files[".pdf"].startswith(b"%PDF")  # LibreOffice headless, ready to sign

    refused = run("send", "--month", "2026-11")
    assert refused.exit_code == 1
    assert "not approved" in refused.stderr
    assert smtp.messages == []

    assert run("approve", "--month", "2026-11", "--by", "").exit_code == 1
    approved = run("approve", "--month", "2026-11", "--by", "nguyen.hoa")
    assert approved.exit_code == 0, approved.output
    again = run("approve", "--month", "2026-11", "--by", "nguyen.hoa")
    assert again.exit_code == 1
    assert "already approved by nguyen.hoa" in again.stderr
    redraft = run("draft", "--month", "2026-11")
    assert redraft.exit_code == 1
    assert "not prepared again" in redraft.stderr

    result = run("send", "--month", "2026-11")
    assert result.exit_code == 0, result.output
    assert "Đã gửi báo cáo tháng 11 năm 2026 tới vhtt@melinh.example" in result.stderr
    (envelope,) = smtp.messages
    assert envelope.rcpt_tos == ["vhtt@melinh.example"]
    msg = message_from_bytes(envelope.content, policy=policy.default)
    attached = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert attached == {
        "bao-cao-1022-2026-11.docx": files[".docx"],
        "bao-cao-1022-2026-11.xlsx": files[".xlsx"],
        "bao-cao-1022-2026-11.json": files[".json"],
    }
    twice = run("send", "--month", "2026-11")
    assert twice.exit_code == 1
    assert "already sent" in twice.stderr


def test_auto_prepares_the_draft_then_reminds_the_clerk_until_it_is_approved(
    db_url: str, smtp: _Inbox, reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLROUTER_REPORT_CLERK_MAIL_TO", '["vanthu@bacsong.example"]')
    monkeypatch.setenv("CALLROUTER_REPORT_REMIND_DAY", "1")  # every day is reminder day
    first = run("auto")
    assert first.exit_code == 0, first.output
    assert "Đã lập dự thảo" in first.stderr
    second = run("auto")
    assert second.exit_code == 0, second.output
    assert "chưa duyệt; đã nhắc" in second.stderr
    subjects = [
        str(message_from_bytes(m.content, policy=policy.default)["Subject"]) for m in smtp.messages
    ]
    assert [m.rcpt_tos for m in smtp.messages] == [["vanthu@bacsong.example"]] * 2
    assert subjects[0].startswith("Dự thảo báo cáo")
    assert subjects[1].startswith("Nhắc: báo cáo")


def test_send_without_recipients_is_a_clear_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLROUTER_REPORT_MAIL_TO", raising=False)
    result = run("send", "--month", "2026-11")
    assert result.exit_code == 1
    assert "CALLROUTER_REPORT_MAIL_TO" in result.stderr


def test_schema_command_prints_the_json_schema_of_the_exchange_format() -> None:
    result = run("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["properties"]["format"]["const"] == "callrouter-report"
    assert "answer_rate" in schema["$defs"]["Totals"]["properties"]


def test_send_without_letterhead_is_refused_naming_each_missing_field(
    db_url: str, smtp: _Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("PLACE", "SIGNER_NAME", "REFERENCE"):
        monkeypatch.delenv(f"CALLROUTER_REPORT_{key}")
    result = run("send", "--month", "2026-11")
    assert result.exit_code == 1
    for name in ("PLACE (địa danh)", "SIGNER_NAME (họ tên người ký)", "REFERENCE"):
        assert f"CALLROUTER_REPORT_{name}" in result.stderr
    assert "UNIT_NAME" not in result.stderr
    assert smtp.messages == []  # nothing left the unit


def test_settings_check_lists_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("CALLROUTER_REPORT_UNIT_NAME", "TRẠM Y TẾ XÃ AN HÒA")
    result = run("settings", "--check")
    assert result.exit_code == 1
    assert "tên đơn vị ban hành: TRẠM Y TẾ XÃ AN HÒA" in result.stdout
    assert "CALLROUTER_REPORT_GOVERNING_BODY (cơ quan chủ quản)" in result.stderr
    assert "CALLROUTER_REPORT_UNIT_NAME" not in result.stderr


def test_settings_check_passes_with_a_complete_letterhead(letterhead: None) -> None:
    result = run("settings", "--check")
    assert result.exit_code == 0, result.output
    assert "Đủ thông tin" in result.stderr


def test_monthly_docx_without_letterhead_warns_and_prints_placeholders(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CALLROUTER_REPORT_PLACE")
    out = tmp_path / "r.docx"
    result = run("monthly", "--month", "2026-11", "--format", "docx", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "chưa cấu hình" in result.stderr
    assert "CALLROUTER_REPORT_PLACE" in result.stderr
    assert "[chưa cấu hình: địa danh], ngày".encode() in _docx_text(out)


def _docx_text(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read("word/document.xml")


@pytest.mark.parametrize("cutoff", ["1", "29", "-3"])
def test_cutoff_outside_the_accepted_range_is_refused(db_url: str, cutoff: str) -> None:
    result = run("monthly", "--month", "2026-11", "--cutoff", cutoff)
    assert result.exit_code == 1
    assert f"--cutoff {cutoff}: must be a day 2..28" in result.stderr


def test_partial_for_a_future_period_is_refused(db_url: str) -> None:
    result = run("monthly", "--month", "2099-01", "--partial")
    assert result.exit_code == 1
    assert "has not begun" in result.stderr


def test_unfinished_month_is_refused_without_partial(db_url: str) -> None:
    now = datetime.now(UTC).astimezone(ZoneInfo(Settings().timezone))
    month = f"{now.year:04d}-{now.month:02d}"
    result = run("monthly", "--month", month, "--cutoff", "0")
    assert result.exit_code == 1
    assert "has not ended" in result.stderr
    result = run("monthly", "--month", month, "--cutoff", "0", "--partial", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["period"]["as_of"] is not None


@pytest.mark.parametrize(("value", "message"), [("1", "use 0 for the calendar month"), ("31", "")])
def test_a_bad_cutoff_setting_is_a_clear_error_naming_the_variable(
    db_url: str, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("CALLROUTER_REPORT_CUTOFF_DAY", value)
    result = run("monthly", "--month", "2026-11")
    assert result.exit_code == 1
    assert "CALLROUTER_REPORT_CUTOFF_DAY: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output

"""The shipped systemd timer sends the report monthly before the 25th, with a hardened service."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_service

pytestmark = pytest.mark.unit

SYSTEMD = Path(__file__).resolve().parents[2] / "config" / "systemd"


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(SYSTEMD / name, encoding="utf-8")
    return parser


def test_timer_runs_monthly_on_a_day_before_the_25th_in_vietnam_time() -> None:
    timer = _unit("callrouter-report.timer")
    on_calendar = timer["Timer"]["OnCalendar"]
    m = re.fullmatch(r"\*-\*-(\d{2}) (\d{2}):(\d{2}):00 Asia/Ho_Chi_Minh", on_calendar)
    assert m is not None, on_calendar
    assert 1 <= int(m.group(1)) < 25
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_service_sends_the_report_with_the_password_as_a_credential_file() -> None:
    service = _unit("callrouter-report.service")["Service"]
    assert service["Type"] == "oneshot"
    assert "callrouter report send" in service["ExecStart"]
    assert service["Environment"] == "CALLROUTER_REPORT_SMTP_PASSWORD_FILE=%d/smtp-password"
    assert service["User"] == "callrouter"
    assert service["NoNewPrivileges"] == "yes"
    assert "PASSWORD=" not in (SYSTEMD / "callrouter-report.service").read_text(encoding="utf-8")


def test_systemd_analyze_accepts_the_units() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        require_service("systemd-analyze", "not installed (package systemd)")
        return
    result = subprocess.run(
        [analyze, "verify", *(str(SYSTEMD / n) for n in ("callrouter-report.timer",
                                                          "callrouter-report.service"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # verify's exit status also reflects other units on the host
    )  # fmt: skip
    ours = [line for line in result.stderr.splitlines() if "callrouter-report" in line]
    assert ours == []

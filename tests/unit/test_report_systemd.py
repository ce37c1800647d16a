"""The shipped systemd timer runs the report's daily step between the cut-off and the 25th
(draft, sending once approved, reminders), the last run on the 24th, with a hardened service."""

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


def test_timer_runs_after_the_cutoff_and_before_the_25th_in_vietnam_time() -> None:
    timer = _unit("callrouter-report.timer")
    on_calendar = timer["Timer"]["OnCalendar"]
    m = re.fullmatch(r"\*-\*-(\d{2})\.\.(\d{2}) (\d{2}):(\d{2}):00 Asia/Ho_Chi_Minh", on_calendar)
    assert m is not None, on_calendar
    # The default period ends on the 14th (Decree 09/2019): the first run is after it, and
    # the report is due by the 25th (the reminder day, 24, is the last run).
    assert (int(m.group(1)), int(m.group(2))) == (15, 24)
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_service_runs_the_daily_step_with_the_password_as_a_credential_file() -> None:
    service = _unit("callrouter-report.service")["Service"]
    assert service["Type"] == "oneshot"
    assert "callrouter report auto" in service["ExecStart"]
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

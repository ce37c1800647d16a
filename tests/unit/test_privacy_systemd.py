"""The shipped backup and purge units: nightly timers, hardened one-shot services that systemd
accepts, and a backup directory only the service can read."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_service

pytestmark = pytest.mark.unit

SYSTEMD = Path(__file__).resolve().parents[2] / "config" / "systemd"
UNITS = ("callrouter-backup", "callrouter-purge")


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(SYSTEMD / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_each_runs_nightly_as_a_hardened_one_shot(name: str) -> None:
    timer = _unit(f"{name}.timer")["Timer"]
    assert timer["OnCalendar"].startswith("*-*-* ")
    assert timer["OnCalendar"].endswith(" Asia/Ho_Chi_Minh")
    assert timer["Persistent"] == "true"
    service = _unit(f"{name}.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["User"] == "callrouter"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"


def test_backup_writes_private_archives_and_purge_may_delete_recordings() -> None:
    backup = _unit("callrouter-backup.service")["Service"]
    assert "callrouter db backup /var/backups/callrouter" in backup["ExecStart"]
    assert backup["UMask"] == "0077"
    purge = _unit("callrouter-purge.service")["Service"]
    assert purge["ExecStart"].endswith("callrouter db purge")
    assert "/var/spool/asterisk/recording" in purge["ReadWritePaths"].split()


def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        require_service("systemd-analyze", "not installed (package systemd)")
        return
    here = shutil.which("callrouter") or str(
        Path(__file__).resolve().parents[2] / ".venv/bin/callrouter"
    )
    files = []
    for name in UNITS:
        for suffix in (".service", ".timer"):
            text = (SYSTEMD / f"{name}{suffix}").read_text(encoding="utf-8")
            target = tmp_path / f"{name}{suffix}"
            # verify checks that ExecStart exists: point it at this checkout's command.
            target.write_text(text.replace("/opt/callrouter/.venv/bin/callrouter", here), "utf-8")
            files.append(str(target))
    result = subprocess.run(
        [analyze, "verify", *files], capture_output=True, text=True, timeout=60, check=False
    )
    ours = [line for line in result.stderr.splitlines() if "callrouter-" in line]
    assert ours == []

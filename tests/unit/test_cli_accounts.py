"""``callrouter accounts send-link`` refuses an officer the rota has no e-mail for."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callrouter.cli import cli

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "rota.example.yaml"


def test_send_link_refuses_an_officer_without_an_email(tmp_path: Path) -> None:
    rota = tmp_path / "rota.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "    email: lan.nt@ttytsonha.example.vn\n" in text
    rota.write_text(text.replace("    email: lan.nt@ttytsonha.example.vn\n", ""), encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["accounts", "send-link", "lan", "--rota", str(rota), "--database-url", "sqlite://"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert f"{rota}: cán bộ «lan» chưa có e-mail hợp lệ trong lịch trực" in result.output
    assert "Đã gửi" not in result.output

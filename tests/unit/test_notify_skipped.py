"""The notice planners skip an officer without an e-mail and report the skip by officer id."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callrouter.notify import plan
from callrouter.notify.settings import NotifySettings
from callrouter.notify.templates import load_templates
from callrouter.rota import parse_rota

pytestmark = pytest.mark.unit

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "rota" / "valid.yaml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_a_duty_change_for_an_officer_without_an_email_is_skipped_not_sent() -> None:
    text = VALID.read_text(encoding="utf-8")
    old = parse_rota(text.replace(", email: an@example.vn }", " }"), "old.yaml")
    new = parse_rota(
        text.replace(", email: an@example.vn }", " }").replace(
            "      - { officer: binh, at: own }", "      - { officer: an, at: own }"
        ),
        "new.yaml",
    )
    args = (
        NotifySettings(_env_file=None, enabled=True),
        load_templates(None)["duty_changed"],
        datetime(2026, 3, 6, 19, 30, tzinfo=HCM),
    )
    skipped: list[plan.Skipped] = []
    notices = plan.duty_changes(old, new, *args, skipped=skipped)
    assert [n.recipient for n in notices] == ["binh@example.vn"]
    (skip,) = skipped
    assert (skip.kind, skip.officer_id, skip.reason) == ("duty_changed", "an", "no_email")
    assert skip.key.startswith("changed:an:")
    # without a list to report into, the skip is silent and still nothing is sent to An
    assert plan.duty_changes(old, new, *args) == notices

"""The officer on duty hears of a missed call by e-mail: through the real pbx and the real
router (ARI and FastAGI mode), a caller who gives up after 17 s of ringing is put on the
call-back list, and the router's notification scheduler e-mails the officer on duty (a real
SMTP server started here) within 5 s of the hang-up, the number masked, with the link to the
entry. The caller from the missed-caller test (tests/e2e/test_missed_callers.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from callrouter.logs import mask_number
from tests.e2e.agi_support import free_port
from tests.e2e.callflow_support import engine_for, write_rota
from tests.e2e.harness import RINGS_FOREVER, Harness, officer_number
from tests.e2e.router_modes import RouterMode
from tests.e2e.test_missed_callers import entries
from tests.integration.test_notify import Inbox, Smtp, _text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150, func_only=True)]

PUBLIC_URL = "https://1022.ttyt-kiemthu.example"


async def test_a_caller_who_gave_up_is_mailed_to_the_officer_on_duty_within_5_s(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=25)
    smtp_port = free_port()
    for name, value in {
        "CALLROUTER_NOTIFY_ENABLED": "true",
        "CALLROUTER_NOTIFY_SHIFT_REMINDERS": "false",
        "CALLROUTER_NOTIFY_DIGEST": "false",
        "CALLROUTER_REPORT_SMTP_HOST": "127.0.0.1",
        "CALLROUTER_REPORT_SMTP_PORT": str(smtp_port),
        "CALLROUTER_REPORT_MAIL_FROM": "callrouter@ttyt-kiemthu.example",
        "CALLROUTER_WEB_PUBLIC_URL": PUBLIC_URL,
    }.items():
        monkeypatch.setenv(name, value)
    engine = engine_for(url)
    try:
        with Smtp(smtp_port, Inbox()) as inbox:
            async with router_mode.running(rota, url, tmp_path / "state"):
                call = await harness.place_call(digits="3", hold=17)
                caller = await harness.wait_caller_hangup(call, within=60)
                assert caller.hung_up_at is not None
                deadline = time.monotonic() + 5
                while not inbox.messages:
                    assert time.monotonic() < deadline, "no e-mail within 5 s of the hang-up"
                    await asyncio.sleep(0.05)  # poll the inbox (deadline above)
                mailed_after = time.time() - caller.hung_up_at
                [entry] = await entries(engine, call.caller_number)
    finally:
        await engine.dispose()

    [(recipients, mail)] = inbox.messages
    assert recipients == ["an@example.vn"]  # the officer on duty in the rota
    masked = mask_number(call.caller_number)
    assert masked in str(mail["Subject"])
    text = _text(mail)
    assert "Kính gửi Nguyễn Văn An," in text
    assert f"từ số {masked}" in text
    assert call.caller_number not in text
    assert call.caller_number not in str(mail["Subject"])
    assert f"{PUBLIC_URL}/callbacks#cb-{entry['id']}" in text
    assert mailed_after <= 5.0, f"mailed {mailed_after:.2f} s after the caller hung up"

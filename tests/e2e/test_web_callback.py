"""The admin web's "Gọi lại" button with the real AMI dialer that ``callrouter serve`` wires:
pressing it rings the officer on duty through the real pbx, then the caller, the pbx bridges
them and the call-back is marked done; pressing it again while that call is up places no
second call. The same button in the real ``callrouter serve --mode agi`` process."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from callrouter.asterisk.callbacks import AmiCallbackDialer, pick_officer
from callrouter.calls.live import LiveCalls
from callrouter.metrics import Metrics
from callrouter.rota import load_rota
from callrouter.rota.status import RotaTracker
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade
from callrouter.web import WebSettings, create_app
from callrouter.web.security import hash_password
from tests.e2e.faults_support import agi_serve_process, free_port
from tests.e2e.harness import ANSWERS, Harness, Sandbox, officer_number
from tests.e2e.test_callbacks import a_callback, rota_with_officer_phone, state
from tests.integration.web_harness import csrf_of, login

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

PASSWORD = "mật-khẩu-e2e"  # noqa: S105 (test-only credential)


async def wait_done(url: str, callback_id: str) -> None:
    """Until the call-back row is marked done by the dialer (10 s at most)."""
    deadline = time.monotonic() + 10
    row, _events = await state(url, callback_id)
    while row["done_at"] is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # poll the row, bounded by the deadline
        row, _events = await state(url, callback_id)
    assert row["done_at"] is not None
    assert row["outbound_linkedid"].startswith("callback-")


async def test_call_back_button_rings_officer_then_caller_once_through_the_real_pbx(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    engine = make_engine(url)
    await upgrade(engine)
    caller = officer_number(ANSWERS, 1)
    callback_id = await a_callback(tmp_path, url, caller)
    rota = load_rota(rota_with_officer_phone(tmp_path, officer_number(ANSWERS, 1)))
    # The button calls the officer on duty now (the rota's first target), then the caller.
    officer = pick_officer(rota, None, datetime.now(UTC)).number
    pbx = sandbox.info().pbx
    dialer = await AmiCallbackDialer.connect(
        "127.0.0.1", pbx.ami_port, pbx.ami_user, pbx.ami_secret, engine, lambda: rota
    )
    tracker = RotaTracker(path=tmp_path / "rota.yaml")
    app = create_app(
        WebSettings(
            users={"admin": hash_password(PASSWORD)},
            session_secret="s" * 40,
            recordings_dir=tmp_path,
            plain_http=True,  # the test's client speaks plain HTTP to 127.0.0.1
        ),
        engine=engine,
        rota=tracker,
        live=LiveCalls(),
        metrics=Metrics(),
        readiness={},
        dialer=dialer,
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            assert (await login(client, user="admin", password=PASSWORD)).status_code in {
                200,
                303,
            }
            page = await client.get("/callbacks")
            assert page.status_code == 200
            assert caller in page.text  # the call-back page shows the full number
            pressed = await client.post(
                f"/callbacks/{callback_id}/dial", data={"csrf": csrf_of(page.text)}
            )
            assert pressed.status_code in {200, 303}, pressed.text

            await harness.wait_user_event("OfficerAnswered", source="pstn", Number=officer)
            again = await client.post(
                f"/callbacks/{callback_id}/dial", data={"csrf": csrf_of(page.text)}
            )
            assert again.status_code == 409  # one call-back, not two

            await harness.wait_user_event(
                "OfficerAnswered", source="pstn", Number=caller, within=15
            )
            await harness.events.wait_for(
                lambda e: (
                    e.source == "pbx"
                    and e.name == "BridgeEnter"
                    and e.get("BridgeNumChannels") == "2"
                ),
                within=10,
                what="the pbx bridging officer and caller",
            )
        rang_officer = [
            e
            for e in harness.events.events
            if e.source == "pstn"
            and e.user_event == "OfficerRinging"
            and e.get("Number") == officer
        ]
        assert len(rang_officer) == 1  # the second press placed no second call
        await wait_done(url, callback_id)
    finally:
        dialer.close()
        await engine.dispose()


async def test_agi_mode_serve_wires_the_call_back_button_over_ami(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The real ``callrouter serve --mode agi`` process with CALLROUTER_AMI_PASSWORD set: its
    admin web's button rings the officer on duty, then the caller, as in ARI mode."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    caller = officer_number(ANSWERS, 1)
    callback_id = await a_callback(tmp_path, url, caller)
    rota_path = rota_with_officer_phone(tmp_path, officer_number(ANSWERS, 1))
    officer = pick_officer(load_rota(rota_path), None, datetime.now(UTC)).number
    pbx = sandbox.info().pbx
    env = {
        "CALLROUTER_AMI_PORT": str(pbx.ami_port),
        "CALLROUTER_AMI_USER": pbx.ami_user,
        "CALLROUTER_AMI_PASSWORD": pbx.ami_secret,
        "CALLROUTER_WEB_USERS": json.dumps({"admin": hash_password(PASSWORD)}),
        "CALLROUTER_WEB_SESSION_SECRET": "s" * 40,
        "CALLROUTER_WEB_RECORDINGS_DIR": str(tmp_path),
        "CALLROUTER_WEB_PLAIN_HTTP": "true",  # the test's client speaks plain HTTP to loopback
    }
    async with agi_serve_process(
        rota_path, url, tmp_path / "state", agi_port=free_port(), env=env
    ) as serve:
        base = f"http://127.0.0.1:{serve.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await login(client, user="admin", password=PASSWORD)).status_code in {
                200,
                303,
            }
            page = await client.get("/callbacks")
            assert page.status_code == 200
            pressed = await client.post(
                f"/callbacks/{callback_id}/dial", data={"csrf": csrf_of(page.text)}
            )
            assert pressed.status_code in {200, 303}, pressed.text
            await harness.wait_user_event("OfficerAnswered", source="pstn", Number=officer)
            await harness.wait_user_event(
                "OfficerAnswered", source="pstn", Number=caller, within=15
            )
        # the call-back row is done (as the first test checks) once the pbx bridged them
        await wait_done(url, callback_id)
        serve.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(serve.proc.wait(), 20) == 0

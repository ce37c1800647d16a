"""The AMI user callrouter logs in as on the pbx has the shipped dialplan/manager.conf's rights
(scripts/asterisk-sandbox builds it from that file): the FastAGI mode's dialplan Reload and the
call-back Originate work (test_calls' rota change in AGI mode and test_web_callback prove the
real flows), and everything else an attacker with the AMI secret would want is refused by the
real Asterisk 22: CLI commands, shell commands through Originate, channel variables, modules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from callrouter.asterisk.callbacks import AmiCallbackDialer, field_of
from callrouter.rota import load_rota
from callrouter.store.db import make_engine
from tests.e2e.harness import Harness, Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60, func_only=True)]

ROTA = Path(__file__).resolve().parents[2] / "config" / "rota.example.yaml"


async def test_callrouters_ami_user_reloads_the_dialplan_and_nothing_more(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    pbx = sandbox.info().pbx
    assert pbx.ami_user != pbx.harness_ami_user
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}")
    rota = load_rota(ROTA)
    dialer = await AmiCallbackDialer.connect(
        "127.0.0.1", pbx.ami_port, pbx.ami_user, pbx.ami_secret, engine, lambda: rota
    )
    try:
        await dialer.reload_dialplan()  # raises when refused

        async def refused(action: dict[str, Any]) -> str:
            reply = await dialer.manager.send_action(action)
            assert not getattr(reply, "success", False), (action, reply)
            return field_of(reply, "Message")

        marker = tmp_path / "shell-ran"
        denied = [
            await refused({"Action": "Command", "Command": "core show uptime"}),
            await refused(
                {
                    "Action": "Originate",
                    "Channel": "Local/s@callrouter-nowhere",
                    "Application": "System",
                    "Data": f"touch {marker}",
                }
            ),
            await refused({"Action": "Setvar", "Variable": "CALLROUTER_ROUTER", "Value": "x"}),
            await refused({"Action": "ModuleLoad", "Module": "app_system.so", "LoadType": "load"}),
        ]
        # Originate of System answers "Originate Access Forbidden: app or data blacklisted".
        assert all(re.search("Permission denied|Forbidden", m) for m in denied), denied
        assert not marker.exists()
    finally:
        dialer.close()
        await engine.dispose()
    # The harness's own user (all rights) is another login: the same Setvar works for it.
    ok = await harness.ami("pbx").action("Setvar", Variable="CALLROUTER_AMI_RIGHTS", Value="1")
    assert ok.get("Response") == "Success"

"""The FastAGI dialplan (dialplan/extensions_callrouter_agi.conf) against the code: its contexts,
the FastAGI scripts it calls, the variables callrouter sets for it, and how simultaneous ringing
dials its Local legs."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from callrouter.asterisk import callbacks, contract
from callrouter.asterisk.agi_access import AgiAccess
from callrouter.asterisk.fastagi import VAR_PREFIX, AgiCallFlow, decision_variables
from callrouter.calls.ports import NoObserver
from callrouter.routing import Action, CallInfo, Decision, Strategy, Target

pytestmark = pytest.mark.unit

DIALPLAN_DIR = Path(__file__).resolve().parents[2] / "dialplan"
TEXT = (DIALPLAN_DIR / contract.AGI_INCLUDE_FILENAME).read_text(encoding="utf-8")
CODE = "\n".join(
    line.split(";", 1)[0] if not line.lstrip().startswith(";") else "" for line in TEXT.splitlines()
)


def decision() -> Decision:
    target = Target(
        officer_id="o1",
        officer_name="Cán bộ 1",
        number="0901100001",
        number_label=None,
        confirm=True,
        ring_timeout=20,
    )
    return Decision(
        open=True,
        reason="test",
        targets=(target,),
        strategy=Strategy.SIMULTANEOUS,
        rounds=1,
        max_wait=60,
        confirm_timeout=8,
        action=Action(kind="forward", number="02433334444"),
        rota_version="abc",
    )


def never_decide(now: datetime, call: CallInfo) -> Decision:
    raise AssertionError("not called")


class NoLog:
    """Stands in for the call log: building the routes writes nothing."""


def test_every_context_of_the_agi_file_is_in_the_contract() -> None:
    defined = set(re.findall(r"^\[([a-z0-9-]+)\]", CODE, re.M))
    assert defined == set(contract.AGI_CONTEXTS)
    assert contract.CONTEXT_CALLBACK == callbacks.CONTEXT_CALLBACK
    assert f"#tryinclude {contract.AGI_INCLUDE_FILENAME}" in (
        DIALPLAN_DIR / "extensions_callrouter.conf"
    ).read_text(encoding="utf-8")


def test_the_scripts_the_dialplan_calls_are_the_servers_routes() -> None:
    called = set(re.findall(r"AGI\(\$\{CALLROUTER_AGI_URL\}/([a-z]+),", CODE))
    routes = AgiCallFlow(NoLog(), never_decide, observer=NoObserver()).routes()  # type: ignore[arg-type]
    assert called == set(routes)


def test_a_secret_in_the_agi_url_reaches_the_server_before_each_script_name() -> None:
    """The dialplan appends ``/<script>`` to ``CALLROUTER_AGI_URL``: with the URL
    ``agi://HOST:PORT/<secret>`` the server gets ``<secret>/<script>`` and takes it."""
    secret = "x" * 32
    access = AgiAccess(secret=secret)
    calls = re.findall(r"AGI\(\$\{CALLROUTER_AGI_URL\}(/[a-z]+),", CODE)
    assert calls
    for path in calls:
        assert access.script(secret + path) == path.lstrip("/")
    assert "agi://10.0.0.5:4573/<the same secret>" in TEXT


def test_every_variable_callrouter_sets_is_read_by_the_dialplan() -> None:
    names = [name for name, _value in decision_variables(decision())]
    names += [VAR_PREFIX + "OK", VAR_PREFIX + "PRESTARTED", VAR_PREFIX + "WON"]
    for name in names:
        stem = re.sub(r"_\d+$", "_", name)  # TARGET_1 is read as CALLROUTER_AGI_TARGET_${…}
        assert f"{{{name}}}" in CODE or f"{stem}${{" in CODE, name


def test_simultaneous_ringing_dials_one_optimisable_local_leg_per_target() -> None:
    assert f"Local/${{CALLROUTER_AGI_INDEX}}@{contract.CONTEXT_AGI_LEG})" in CODE
    assert f"@{contract.CONTEXT_AGI_LEG}/n" not in CODE  # the Local pair must optimise away
    # The leg reads its target from the caller's channel, inherited one level (`_`).
    assert "Set(_CALLROUTER_AGI_CALLER=${CHANNEL(name)})" in CODE
    # A leg is answered only once its officer was accepted: until then Dial drops it.
    answer = CODE[CODE.index(f"[{contract.CONTEXT_AGI_ANSWER}]") :]
    assert answer.index("Set(GOSUB_RESULT=CONTINUE)") < answer.index("Gosub(callrouter-confirm")


def test_the_forward_number_rings_as_long_in_ari_and_fastagi_mode() -> None:
    """ARI mode's flow and FastAGI mode's dialplan ring the rota's ``forward:<number>`` for
    the one FORWARD_RING_SECONDS (FastAGI once rang it 60 s, ARI mode 30 s; the fallback:
    tests/unit/test_fallback_include.py)."""
    from callrouter.asterisk.session_parts import FlowConfig

    seconds = str(contract.FORWARD_RING_SECONDS)
    assert FlowConfig().forward_ring_seconds == contract.FORWARD_RING_SECONDS
    assert (VAR_PREFIX + "FORWARD_RING", seconds) in decision_variables(decision())
    assert "@${CALLROUTER_TRUNK},${CALLROUTER_AGI_FORWARD_RING},mU(" in CODE

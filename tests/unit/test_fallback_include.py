"""The fallback include rendered from the rota: numbers in order, confirm flags, policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.fallback import render_fallback_include, write_fallback_include
from callrouter.errors import AsteriskError
from callrouter.rota import RegisteredNumber, Rota, parse_rota
from callrouter.rota_source import FallbackInclude

pytestmark = pytest.mark.unit

ROTA = """\
unit: Trung tâm Y tế huyện Sơn Hà
numbers:
  - label: co-dinh
    number: "0226 3851 234"
    confirm: false
  - label: di-dong-truc
    number: "+84 912 680 135"
    confirm: true
officers:
  - {id: lan, name: Nguyễn Thị Lan, phone: "0983 214 576", email: lan@example.vn}
shifts:
  - days: mon-fri
    start: "07:00"
    end: "17:00"
    duty:
      - {officer: lan, at: di-dong-truc}
policy:
  ring_timeout: 7
  rounds: 3
  confirm_timeout: 4
  max_wait: 50
"""


@pytest.fixture
def rota() -> Rota:
    return parse_rota(ROTA, "rota.yaml")


def assignments(text: str) -> dict[str, str]:
    return dict(re.findall(r"^ same => n,Set\(([A-Z0-9_]+)=([^)]*)\)$", text, re.M))


def test_include_defines_the_targets_context_and_returns(rota: Rota) -> None:
    text = render_fallback_include(rota)
    assert f"[{contract.CONTEXT_FALLBACK_TARGETS}]" in text.splitlines()
    assert "exten => s,1," in text
    assert text.rstrip().endswith("same => n,Return()")


def test_include_lists_numbers_in_rota_order_with_confirm_flags(rota: Rota) -> None:
    values = assignments(render_fallback_include(rota))
    assert values[contract.VAR_FALLBACK_COUNT] == "2"
    assert values[contract.VAR_FALLBACK_NUMBER_N.format(n=1)] == "02263851234"
    assert values[contract.VAR_FALLBACK_CONFIRM_N.format(n=1)] == "0"
    assert values[contract.VAR_FALLBACK_NUMBER_N.format(n=2)] == "0912680135"
    assert values[contract.VAR_FALLBACK_CONFIRM_N.format(n=2)] == "1"


def test_include_carries_policy_and_rota_version(rota: Rota) -> None:
    values = assignments(render_fallback_include(rota))
    assert values[contract.VAR_FALLBACK_RING_TIMEOUT] == "7"
    assert values[contract.VAR_FALLBACK_ROUNDS] == "3"
    assert values[contract.VAR_FALLBACK_CONFIRM_TIMEOUT] == "4"
    assert values[contract.VAR_FALLBACK_MAX_WAIT] == "50"
    assert values[contract.VAR_FALLBACK_ROTA] == rota.version
    assert re.fullmatch(r"[0-9a-f]{12}", rota.version)


def test_labels_become_harmless_comments(rota: Rota) -> None:
    odd = RegisteredNumber.model_construct(
        label="cố định; phòng\nKH", number="0226385123", kind="landline", confirm=False
    )
    text = render_fallback_include(rota.model_copy(update={"numbers": [odd, rota.numbers[1]]}))
    comments = [line for line in text.splitlines() if line.startswith(" ;")]
    assert comments == [" ; 1: cố định? phòng KH (landline)", " ; 2: di-dong-truc (mobile)"]
    for line in text.splitlines():
        if not line.lstrip().startswith(";"):
            assert ";" not in line


def test_every_variable_set_is_in_the_contract(rota: Rota) -> None:
    names = set(assignments(render_fallback_include(rota)))
    known = {
        contract.VAR_FALLBACK_ROTA,
        contract.VAR_FALLBACK_COUNT,
        contract.VAR_FALLBACK_ROUNDS,
        contract.VAR_FALLBACK_RING_TIMEOUT,
        contract.VAR_FALLBACK_CONFIRM_TIMEOUT,
        contract.VAR_FALLBACK_MAX_WAIT,
        contract.VAR_FALLBACK_FORWARD,
        contract.VAR_FALLBACK_FORWARD_RING,
    }
    indexed = {n for n in names if re.fullmatch(r"CALLROUTER_FALLBACK_(NUMBER|CONFIRM)_\d+", n)}
    assert names - indexed == known


def test_a_number_that_is_not_digits_is_refused(rota: Rota) -> None:
    bad = RegisteredNumber.model_construct(
        label="x", number="0912,Hangup()", kind="mobile", confirm=False
    )
    broken = rota.model_copy(update={"numbers": [bad]})
    with pytest.raises(ValueError, match="not a dialable number"):
        render_fallback_include(broken)


def test_write_replaces_the_file_atomically(rota: Rota, tmp_path: Path) -> None:
    target = tmp_path / contract.FALLBACK_INCLUDE_FILENAME
    target.write_text("old", encoding="utf-8")
    write_fallback_include(rota, target)
    assert target.read_text(encoding="utf-8") == render_fallback_include(rota)
    assert [p.name for p in tmp_path.iterdir()] == [contract.FALLBACK_INCLUDE_FILENAME]
    assert target.stat().st_mode & 0o777 == 0o644


def test_message_action_leaves_the_forward_number_empty(rota: Rota) -> None:
    assert assignments(render_fallback_include(rota))[contract.VAR_FALLBACK_FORWARD] == ""


def test_forward_action_gives_the_forward_number() -> None:
    text = ROTA.replace(
        "  max_wait: 50\n", "  max_wait: 50\n  nobody_answered_action: forward:0226 3852 115\n"
    )
    rota = parse_rota(text, "rota.yaml")
    assert (
        assignments(render_fallback_include(rota))[contract.VAR_FALLBACK_FORWARD] == "02263852115"
    )


def test_the_forward_number_rings_as_long_as_in_ari_and_fastagi_mode() -> None:
    """The fallback rings the forward number FORWARD_RING_SECONDS (it once rang it for the
    rota's per-officer ring time); an include written before the variable existed: 30 s."""
    text = ROTA.replace(
        "  max_wait: 50\n", "  max_wait: 50\n  nobody_answered_action: forward:0226 3852 115\n"
    )
    include = render_fallback_include(parse_rota(text, "rota.yaml"))
    ring = assignments(include)[contract.VAR_FALLBACK_FORWARD_RING]
    assert ring == str(contract.FORWARD_RING_SECONDS) != str(7)
    dialplan = Path(__file__).resolve().parents[2] / "dialplan" / "extensions_callrouter.conf"
    ring_var = "${CALLROUTER_FALLBACK_FORWARD_RING}"
    forward_dial = f'${{IF($["{ring_var}" != ""]?{ring_var}:30)}}'
    assert f"@${{CALLROUTER_TRUNK}},{forward_dial},U(callrouter-fallback-answered)" in (
        dialplan.read_text(encoding="utf-8")
    )


async def test_serve_rewrites_the_include_and_reloads_through_the_modes_reloader(
    rota: Rota, tmp_path: Path
) -> None:
    """``FallbackInclude`` (both modes of serve): written, then the reloader runs (ARI mode:
    over ARI; FastAGI mode: over AMI); a failing reload is logged, not raised."""
    reloads: list[str] = []

    async def reload() -> None:
        reloads.append("reloaded")
        if len(reloads) > 1:
            raise AsteriskError("AMI dialplan reload refused: Permission denied")

    include = FallbackInclude(tmp_path / contract.FALLBACK_INCLUDE_FILENAME, reload)
    with structlog.testing.capture_logs() as logs:
        await include.update(rota)
        await include.update(rota)
    assert include.path.read_text(encoding="utf-8") == render_fallback_include(rota)
    assert reloads == ["reloaded", "reloaded"]
    assert [e["event"] for e in logs if "dialplan" in e["event"]] == [
        "fallback_include.dialplan_reloaded",
        "fallback_include.dialplan_reload_failed",
    ]


async def test_without_a_reloader_the_operator_is_told_to_reload_the_dialplan(
    rota: Rota, tmp_path: Path
) -> None:
    """FastAGI mode without AMI credentials: the include is still rewritten."""
    include = FallbackInclude(tmp_path / contract.FALLBACK_INCLUDE_FILENAME)
    with structlog.testing.capture_logs() as logs:
        await include.update(rota)
    assert include.path.exists()
    [warning] = [e for e in logs if e["event"] == "fallback_include.dialplan_not_reloaded"]
    assert warning["log_level"] == "warning"
    assert "dialplan reload" in warning["todo"]

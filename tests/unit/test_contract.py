"""The shipped dialplan and callrouter/asterisk/contract.py use the same names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callrouter.asterisk import contract

pytestmark = pytest.mark.unit

DIALPLAN_DIR = Path(__file__).resolve().parents[2] / "dialplan"
DIALPLAN = (DIALPLAN_DIR / "extensions_callrouter.conf").read_text(encoding="utf-8")
CODE = "\n".join(
    line.split(";", 1)[0] if not line.lstrip().startswith(";") else ""
    for line in DIALPLAN.replace("\\;", "").splitlines()
)
README = (DIALPLAN_DIR / "README.md").read_text(encoding="utf-8")
PROMPT_FILE = (DIALPLAN_DIR / "prompts" / "vi.txt").read_text(encoding="utf-8")


def test_stasis_is_called_with_the_contract_app_and_arguments() -> None:
    calls = re.findall(r"\bStasis\((.*)\)\s*$", CODE, re.M)
    assert calls == [",".join([contract.APP_NAME, *contract.stasis_args()])]


def test_every_context_of_the_contract_is_defined() -> None:
    defined = set(re.findall(r"^\[([a-z0-9-]+)\]", CODE, re.M))
    assert set(contract.CONTEXTS) <= defined
    assert defined - {"globals"} == set(contract.CONTEXTS)


def test_every_channel_variable_in_the_dialplan_is_in_the_contract() -> None:
    used = set(re.findall(r"\b(CALLROUTER_[A-Z_]*[A-Z])(?![A-Z_]*\$)", CODE))
    indexed = set(re.findall(r"\b(CALLROUTER_[A-Z_]+_)\$\{", CODE))
    known = set(contract.CHANNEL_VARIABLES) | set(contract.GLOBAL_VARIABLES)
    assert used - {k for k in known if "{n}" not in k} == set()
    assert {k.replace("{n}", "") for k in known if "{n}" in k} == indexed


def test_every_contract_variable_is_used_by_the_dialplan() -> None:
    for name in (*contract.CHANNEL_VARIABLES, *contract.GLOBAL_VARIABLES):
        assert name.replace("{n}", "") in CODE, name


def test_trunk_default_and_dial_string_match_the_dialplan() -> None:
    assert f"{contract.GLOBAL_TRUNK} = {contract.DEFAULT_TRUNK}" in CODE
    template = contract.DIAL_TEMPLATE.format(
        number="${" + contract.VAR_FALLBACK_TARGET + "}", trunk="${" + contract.GLOBAL_TRUNK + "}"
    )
    assert CODE.count(f"Dial({template},") == 3  # plain, confirm, nobody-answered forward


def test_confirm_numbers_dial_with_the_press_1_subroutine() -> None:
    assert (
        f"U({contract.CONTEXT_FALLBACK_CONFIRM}^${{{contract.VAR_FALLBACK_CONFIRM_TIMEOUT}}})"
        in CODE
    )


def _context(name: str) -> str:
    body = CODE.split(f"[{name}]", 1)[1]
    return body.split("\n[", 1)[0]


def test_the_press_1_subroutine_drops_the_leg_unless_1_was_pressed() -> None:
    # An officer hanging up during the prompt cuts the subroutine short: GOSUB_RESULT must
    # already say CONTINUE then, or Dial bridges the caller with the dead leg.
    confirm = _context(contract.CONTEXT_CONFIRM)
    assert confirm.index("Set(GOSUB_RESULT=CONTINUE)") < confirm.index("Read(")
    assert confirm.count("GOSUB_RESULT=") == 2
    assert "(accepted),Set(GOSUB_RESULT=)" in confirm
    # ... and the fallback logs that leg declined: the key is "-" until the prompt is over.
    fallback = _context(contract.CONTEXT_FALLBACK_CONFIRM)
    marked = f"Set(MASTER_CHANNEL({contract.VAR_FALLBACK_DIGIT})=-)"
    assert fallback.index(marked) < fallback.index(f"Gosub({contract.CONTEXT_CONFIRM},")


def test_the_include_file_name_matches() -> None:
    assert f"#tryinclude {contract.FALLBACK_INCLUDE_FILENAME}" in CODE
    assert f"Gosub({contract.CONTEXT_FALLBACK_TARGETS},s,1)" in CODE


def test_values_the_code_compares_appear_in_the_dialplan() -> None:
    for value in (
        contract.STASIS_FAILED,
        contract.ACTION_FALLBACK,
        contract.MODE_FALLBACK,
        contract.REASON_STASIS_FAILED,
        contract.REASON_HANDED_BACK,
        contract.CDR_USERFIELD_MARK,
        contract.HOTLINE_EXTEN,
        *contract.FALLBACK_RESULTS,
    ):
        assert value in CODE, value
    for event in (
        contract.EVENT_FALLBACK,
        contract.EVENT_FALLBACK_DIAL,
        contract.EVENT_FALLBACK_DIAL_END,
        contract.EVENT_FALLBACK_END,
    ):
        assert f"UserEvent({event}," in CODE


def test_prompts_played_exist_in_the_contract_and_the_prompt_texts() -> None:
    played = set(re.findall(r"\b(callrouter/[a-z-]+)", CODE))
    assert played <= set(contract.PROMPTS.values())
    names = {
        line.split("|", 1)[0]
        for line in PROMPT_FILE.splitlines()
        if "|" in line and not line.startswith("#")
    }
    assert {p.removeprefix("callrouter/") for p in contract.PROMPTS.values()} == names


def test_readme_documents_every_name() -> None:
    for name in (
        contract.APP_NAME,
        contract.ARG_BRANCH,
        contract.FALLBACK_INCLUDE_FILENAME,
        *contract.CONTEXTS,
        contract.CONTEXT_FALLBACK_TARGETS,
        *(v.replace("{n}", "<n>") for v in contract.CHANNEL_VARIABLES),
        *contract.GLOBAL_VARIABLES,
    ):
        assert name in README, name


@pytest.mark.parametrize(
    ("number", "trunk", "expected"),
    [
        ("0912345678", "pstn-trunk", "PJSIP/0912345678@pstn-trunk"),
        ("02433334444", "carrier_1", "PJSIP/02433334444@carrier_1"),
    ],
)
def test_dial_string_formats_numbers(number: str, trunk: str, expected: str) -> None:
    assert contract.dial_string(number, trunk) == expected


@pytest.mark.parametrize("number", ["", "0912,345", "0912&PJSIP/x", "09)12", "abc", "1"])
def test_dial_string_refuses_what_would_change_the_dial_string(number: str) -> None:
    with pytest.raises(ValueError, match="not a dialable number"):
        contract.dial_string(number)


def test_dial_string_refuses_a_bad_trunk_name() -> None:
    with pytest.raises(ValueError, match="PJSIP endpoint"):
        contract.dial_string("0912345678", "trunk/../x")


def test_stasis_args_round_trip_and_branch() -> None:
    assert contract.parse_stasis_args(contract.stasis_args(3)) == {
        "branch": "3",
        "linkedid": "${CHANNEL(linkedid)}",  # Asterisk expands it before StasisStart
    }
    assert contract.branch_of(["branch=3", "extra=x"]) == 3
    assert contract.branch_of([]) == contract.BRANCH


@pytest.mark.parametrize("args", [["branch"], ["=3"], ["branch=x"]])
def test_malformed_stasis_args_are_refused(args: list[str]) -> None:
    with pytest.raises(ValueError, match="Stasis argument"):
        contract.branch_of(args)


def test_cdr_userfield_of_a_fallback_call_is_parsed() -> None:
    userfield = (
        "callrouter=fallback;linkedid=pbx-1.0;reason=stasis-failed;rota=abc;"
        "result=answered;answered_by=0912345678"
    )
    assert contract.parse_cdr_userfield(userfield) == {
        "callrouter": "fallback",
        "linkedid": "pbx-1.0",
        "reason": "stasis-failed",
        "rota": "abc",
        "result": "answered",
        "answered_by": "0912345678",
    }
    assert contract.parse_cdr_userfield("") is None
    assert contract.parse_cdr_userfield("something else") is None


def test_peer_guard_names_the_peer_for_the_handler_every_leg_starts_with() -> None:
    assert contract.peer_guard("PJSIP/pstn-trunk-0000002a") == (
        "CALLROUTER_PEER",
        "PJSIP/pstn-trunk-0000002a",
    )
    assert contract.GUARD_HANDLER == {"CHANNEL(hangup_handler_push)": "callrouter-peer-hangup,s,1"}
    assert f"SoftHangup(${{{contract.VAR_PEER}}})" in CODE
    # the caller has the handler before it enters Stasis (callrouter pushes it on each leg)
    [(name, value)] = contract.GUARD_HANDLER.items()
    pushed = CODE.index(f"Set({name}={value})")
    assert pushed < CODE.index(f"Stasis({contract.APP_NAME},")


@pytest.mark.parametrize("name", ["", "pstn-trunk-1", "PJSIP/x,y", "PJSIP/a)b", "PJSIP/a b"])
def test_peer_guard_refuses_what_is_not_a_channel_name(name: str) -> None:
    with pytest.raises(ValueError, match="not a channel name"):
        contract.peer_guard(name)

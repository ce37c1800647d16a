"""Reading the fallback's CDR lines: quotes Asterisk 22 leaves unescaped are repaired from the
known field names, the dialplan's per-Dial attempts map to call_attempts results as in
FastAGI/ARI mode, and a call's longest attempts list wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType

import pytest

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import attempt_from_cdr, fold
from callrouter.asterisk.cdr_lines import CdrLineError, parse_line, repair_line
from callrouter.asterisk.fastagi import attempt_result

pytestmark = pytest.mark.unit

# Written by the sandbox's Asterisk 22.10 (cdr_custom, format=json, clid in the mapping) for a
# caller named  Nguyen "Ba" Van : the quotes inside clid are not escaped.
BROKEN = (
    '{"linkedid":"pbx-1795890505.0","uniqueid":"pbx-1795890505.0","src":"0987000001",'
    '"dst":"9","dcontext":"callrouter-hotline","clid":"\\"Nguyen \\\\\\\\"Ba\\\\\\\\" Van\\" '
    '<0987000001>","channel":"PJSIP/pstn-trunk-00000000","dstchannel":"","lastapp":"Playback",'
    '"start":"2026-11-28T18:28:25+0000","answer":"2026-11-28T18:28:25+0000",'
    '"end":"2026-11-28T18:28:28+0000","duration":2,"billsec":2,"disposition":"ANSWERED",'
    '"userfield":"callrouter=fallback;linkedid=pbx-1795890505.0;reason=stasis-failed",'
    '"sequence":0}'
)


def test_the_line_asterisk_writes_for_a_quoted_caller_name_is_not_json_but_is_repaired() -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(BROKEN)
    data = repair_line(BROKEN)
    assert data is not None
    assert data["src"] == "0987000001"
    assert data["duration"] == 2
    assert "Nguyen" in data["clid"]
    assert "Ba" in data["clid"]
    assert data["clid"].endswith('Van" <0987000001>')
    cdr = parse_line(BROKEN, Path("cdr.json"), 3)
    assert cdr.repaired
    assert (cdr.linkedid, cdr.src) == ("pbx-1795890505.0", "0987000001")
    assert cdr.mark == {
        "callrouter": "fallback",
        "linkedid": "pbx-1795890505.0",
        "reason": "stasis-failed",
    }


def test_a_plain_unescaped_quote_in_a_value_is_repaired() -> None:
    line = (
        '{"linkedid":"a.1","src":"0987","clid":"Nguyen "Ba" Van <0987>","start":'
        '"2026-11-28T18:28:25+0000","end":"2026-11-28T18:28:28+0000","userfield":""}'
    )
    data = repair_line(line)
    assert data is not None
    assert data["clid"] == 'Nguyen "Ba" Van <0987>'
    assert data["end"] == "2026-11-28T18:28:28+0000"


@pytest.mark.parametrize(
    "line",
    [
        '{"linkedid":"a.1","start":"2026-11-28T18:28:25+0000"',  # cut short
        '{"linkedid":"a.1","whatever":"x"y"}',  # an unknown field: layout not known
        '{"linkedid":"a.1","linkedid":"a.2"}',  # a field twice
        '{"linkedid":"a.1","duration":2x}',  # a broken number
        "not json at all",
        "",
    ],
)
def test_a_line_whose_fault_is_not_only_quotes_is_not_repaired(line: str) -> None:
    assert repair_line(line) is None


def test_an_unrepairable_line_names_file_line_and_reason() -> None:
    with pytest.raises(CdrLineError, match=r"cdr\.json:9: field '-': not JSON"):
        parse_line('{"linkedid":"a.1","start":', Path("cdr.json"), 9)


def test_a_repaired_line_missing_a_field_is_still_refused_by_name() -> None:
    line = '{"linkedid":"a.1","clid":"x"y","start":"2026-11-28T18:28:25+0000","userfield":""}'
    with pytest.raises(CdrLineError, match="field 'end': missing"):
        parse_line(line, Path("cdr.json"), 1)


def test_the_attempts_variable_is_parsed_in_order_and_bad_entries_are_named() -> None:
    raw = (
        "|1:0902067068:BUSY:17:100:100::|junk"
        "|2:0906147137:ANSWER:16:100:103:101:9|f:0911:BRIDGED:16:110:130:112:"
    )
    good, bad = contract.parse_cdr_attempts(raw)
    assert bad == ["junk"]
    assert [(a.index, a.number, a.dialstatus) for a in good] == [
        ("1", "0902067068", "BUSY"),
        ("2", "0906147137", "ANSWER"),
        ("f", "0911", "BRIDGED"),
    ]
    assert good[1] == contract.CdrAttempt("2", "0906147137", "ANSWER", 16, 100, 103, 101, "9")
    assert contract.parse_cdr_attempts("") == ([], [])


def test_attempt_times_with_milliseconds_are_read_to_the_millisecond() -> None:
    # The dialplan writes STRFTIME(,,%s.%3q) since routed_at; an older one wrote whole seconds.
    [entry], bad = contract.parse_cdr_attempts("|1:0901:BRIDGED:16:100.250:160.5:101.875:")
    assert bad == []
    assert (entry.dial_at, entry.end_at, entry.answered_at) == (100.25, 160.5, 101.875)
    attempt = attempt_from_cdr(1, entry)
    assert attempt.answered_at == datetime.fromtimestamp(101.875, UTC)
    assert (attempt.answered_at - attempt.started_at).total_seconds() == pytest.approx(1.625)
    for dial in ("100.", "1.2.3", ".5", "100.1234567"):
        broken = f"1:0901:BUSY:17:{dial}:101::"
        assert contract.parse_cdr_attempts(broken)[1] == [broken]


def _at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


@pytest.mark.parametrize(
    ("entry", "result", "cause", "answered"),
    [
        ("1:0902:BUSY:17:100:101::", "busy", 17, None),
        ("1:0903:NOANSWER:0:100:120::", "no_answer", 19, None),
        # Picked up, no key (a voicemail box) / another key: as FastAGI and ARI mode.
        ("1:0904:ANSWER:16:100:110:102:", "no_answer", ..., 102),
        ("1:0906:ANSWER:16:100:104:101:9", "declined", ..., 101),
        # Hung up while asked to press 1 (key "-"): declined with its cause, as in ARI mode.
        ("1:0908:ANSWER:16:100:102:100:-", "declined", 16, 100),
        ("1:0907:CHANUNAVAIL:1:100:100::", "failed", 1, None),
        ("1:0907:CONGESTION:34:100:100::", "failed", 34, None),
        ("1:0901:BRIDGED:16:100:160:103:", "answered", 16, 103),
        ("1:0901:BRIDGED:16:100:160::", "answered", 16, 100),  # older dialplan: ring start
        # The caller hung up while it rang (the call is abandoned): the leg is cancelled.
        ("1:0903:CANCEL:16:100:108::", "cancelled", 16, None),
        ("1:0903::16:100:108::", "failed", 16, None),
    ],
)
def test_dial_statuses_map_to_attempt_results_as_in_ari_mode(
    entry: str, result: str, cause: int | EllipsisType | None, answered: int | None
) -> None:
    (raw,), _ = contract.parse_cdr_attempts(entry)
    attempt = attempt_from_cdr(1, raw)
    if cause is ...:  # the same cause as FastAGI mode gives a leg that did not press 1
        cause = attempt_result(raw.dialstatus, raw.cause, raw.digit)[1]
    assert (attempt.result, attempt.cause) == (result, cause)
    assert attempt.answered_at == (_at(answered) if answered is not None else None)
    assert attempt.started_at == _at(100)
    assert attempt.channel_id("pbx-1.5") == "cdr:pbx-1.5:1"


def _line(n: int, attempts: str, userfield: str = "callrouter=fallback;linkedid=L") -> str:
    return json.dumps(
        {
            "linkedid": "L",
            "uniqueid": "L",
            "src": "0987",
            "start": f"2026-11-28T18:00:{n:02d}+0000",
            "end": f"2026-11-28T18:00:{n + 1:02d}+0000",
            "userfield": userfield,
            "callrouter_attempts": attempts,
        }
    )


def test_a_call_keeps_the_longest_attempts_list_of_its_lines() -> None:
    full = "|1:0902:BUSY:17:100:100::|2:0901:BRIDGED:16:100:150:101:"
    lines = [
        parse_line(_line(1, ""), Path("c"), 1),
        parse_line(_line(2, full), Path("c"), 2),
        parse_line(_line(3, "|1:0902:BUSY:17:100:100::"), Path("c"), 3),
    ]
    (call,) = fold(lines).values()
    assert [a.result for a in call.attempts()] == ["busy", "answered"]
    assert call.bridged_at() == _at(101)


@pytest.mark.parametrize(("cause", "kept"), [("16", 16), ("17", 17), ("", None), ("x9", None)])
def test_the_caller_cause_the_hang_up_handler_read_is_the_call_s_hangup_cause(
    cause: str, kept: int | None
) -> None:
    """The CDR door records what Asterisk set (HANGUPCAUSE in the userfield); none: NULL."""
    mark = f"callrouter=fallback;linkedid=L;result=abandoned;answered_by=;dial_at=;cause={cause}"
    (call,) = fold([parse_line(_line(1, "", mark), Path("c"), 1)]).values()
    assert call.hangup_cause == kept

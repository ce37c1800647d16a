"""Malformed call-log records fail at the call site; a batch folds into one patch per row."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callrouter.errors import ConfigError, RecordError, SpoolError
from callrouter.store.apply import plan_batch
from callrouter.store.models import call_id_for
from callrouter.store.writer import CallLog

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


@pytest.fixture
def log(tmp_path: Path) -> CallLog:
    # Validation happens before anything is written: an unopened log is enough.
    return CallLog("sqlite+aiosqlite:///" + str(tmp_path / "x.sqlite3"), tmp_path / "spool")


def _start(log: CallLog, **overrides: Any) -> str:
    kwargs: dict[str, Any] = {
        "linkedid": "L1",
        "uniqueid": "U1",
        "branch": 3,
        "caller": "0912345678",
        "started_at": T0,
        "mode": "ari",
        "rota_version": "abc123",
    }
    kwargs.update(overrides)
    return log.call_started(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"started_at": datetime(2026, 3, 1, 8, 0)}, "'started_at' must be timezone-aware"),
        ({"started_at": "2026-03-01"}, "'started_at' must be a datetime"),
        ({"linkedid": ""}, "'linkedid' must not be empty"),
        ({"linkedid": None}, "'linkedid' is required"),
        ({"linkedid": "x" * 65}, "'linkedid' is longer than 64"),
        ({"mode": "sip"}, "'mode' must be one of ari, agi, fallback"),
        ({"branch": True}, "'branch' must be an integer"),
        ({"branch": -1}, "'branch' must be between"),
        ({"caller": 912345678}, "'caller' must be a string"),
    ],
)
def test_malformed_call_start_is_a_record_error_naming_the_field(
    log: CallLog, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(RecordError, match=message) as info:
        _start(log, **overrides)
    assert str(info.value).startswith("call_started: ")


def test_record_error_never_shows_the_caller_number(log: CallLog) -> None:
    with pytest.raises(RecordError) as info:
        _start(log, caller="0912345678" * 7)
    assert "0912345678" not in str(info.value)
    assert "70 characters" in str(info.value)


def test_bad_outcome_result_and_reason_are_refused(log: CallLog) -> None:
    with pytest.raises(RecordError, match="'outcome' must be one of"):
        log.call_ended(linkedid="L1", ended_at=T0, outcome="lost", hangup_cause=16)
    with pytest.raises(RecordError, match="'result' must be one of"):
        log.attempt_ended(linkedid="L1", seq=1, result="ok", cause=16, ended_at=T0)
    with pytest.raises(RecordError, match="'reason' must be one of"):
        log.callback_requested(
            linkedid=None, number="0912345678", reason="bored", created_at=T0, recording=None
        )


def test_attempt_answered_after_it_ended_is_refused(log: CallLog) -> None:
    with pytest.raises(RecordError, match=r"'ended_at'.*before answered_at"):
        log.attempt_ended(
            linkedid="L1",
            seq=1,
            result="answered",
            cause=16,
            ended_at=T0,
            answered_at=T0 + timedelta(seconds=1),
        )


def test_event_data_must_be_a_json_object(log: CallLog) -> None:
    with pytest.raises(RecordError, match="'data' must be a dict"):
        log.event(linkedid="L1", at=T0, type="x", data=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="'data' must be JSON-serialisable"):
        log.event(linkedid="L1", at=T0, type="x", data={"x": object()})
    with pytest.raises(RecordError, match="more than"):
        log.event(linkedid="L1", at=T0, type="x", data={"x": "y" * 70_000})


def test_valid_record_on_an_unopened_log_is_a_spool_error(log: CallLog) -> None:
    with pytest.raises(SpoolError, match="not open"):
        _start(log)


def test_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        CallLog("sqlite+aiosqlite:///x", tmp_path, tz="Mars/Olympus")


def test_call_id_is_stable_for_a_linkedid() -> None:
    assert call_id_for("1700000000.42") == call_id_for("1700000000.42")
    assert call_id_for("1700000000.42") != call_id_for("1700000000.43")
    assert len(call_id_for("x")) == 36


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def test_a_whole_call_in_one_batch_folds_into_one_row_with_wait_and_talk() -> None:
    linkedid = "L9"
    records: list[dict[str, Any]] = [
        {
            "id": "s-1",
            "kind": "call_started",
            "linkedid": linkedid,
            "uniqueid": "U9",
            "branch": 3,
            "caller": "0912345678",
            "started_at": _iso(T0),
            "local_day": "2026-03-02",
            "local_hour": 6,
            "mode": "ari",
            "rota_version": None,
        },
        {
            "id": "s-2",
            "kind": "call_answered",
            "linkedid": linkedid,
            "answered_at": _iso(T0 + timedelta(seconds=12)),
            "officer_id": "o1",
            "officer_name": "Nguyễn Văn A",
            "number": "0911111111",
        },
        {
            "id": "s-3",
            "kind": "call_ended",
            "linkedid": linkedid,
            "ended_at": _iso(T0 + timedelta(seconds=72)),
            "outcome": "answered",
            "hangup_cause": 16,
        },
        {
            "id": "s-4",
            "kind": "call_started",
            "linkedid": linkedid,
            "uniqueid": "U9-again",
            "branch": 3,
            "caller": None,
            "started_at": _iso(T0 + timedelta(seconds=80)),
            "local_day": "2026-03-02",
            "local_hour": 6,
            "mode": "fallback",
            "rota_version": None,
        },
    ]
    plan = plan_batch(records)
    row = plan.calls[linkedid]
    assert row["id"] == call_id_for(linkedid)
    assert row["uniqueid"] == "U9"  # the first start wins
    assert row["mode"] == "ari"
    assert row["local_day"] == date(2026, 3, 2)
    assert row["wait_seconds"] == 12.0
    assert row["talk_seconds"] == 60.0
    assert plan.referenced_calls() == set()


def test_unknown_record_kind_is_refused_by_the_planner() -> None:
    with pytest.raises(ValueError, match="unknown record kind"):
        plan_batch([{"id": "x", "kind": "teleport"}])


@pytest.mark.parametrize("linkedid", ["1700000000.42", "x" * 64, "Nguyễn", "a"])
def test_call_id_is_the_uuid5_of_the_linkedid(linkedid: str) -> None:
    import uuid

    from callrouter.store.models import _CALL_ID_NAMESPACE

    assert call_id_for(linkedid) == str(uuid.uuid5(_CALL_ID_NAMESPACE, linkedid))


def test_a_call_ended_abandoned_after_an_answer_was_recorded_has_no_answerer_nor_talk() -> None:
    """The caller hung up as the officer answered, before the bridge (the answer is recorded
    before bridging): the row says abandoned with its wait, never talk time."""
    lid = "pbx-race.1"
    answered = T0 + timedelta(seconds=6)
    plan = plan_batch(
        [
            {"kind": "call_started", "linkedid": lid, "uniqueid": lid, "branch": 3,
             "caller": None, "started_at": T0.isoformat(), "local_day": "2026-03-02",
             "local_hour": 6, "mode": "ari", "rota_version": None},
            {"kind": "call_answered", "linkedid": lid, "answered_at": answered.isoformat(),
             "officer_id": "o1", "officer_name": "A", "number": "0901100001"},
            {"kind": "call_ended", "linkedid": lid, "outcome": "abandoned", "hangup_cause": 16,
             "ended_at": (answered + timedelta(seconds=0.2)).isoformat()},
        ]
    )  # fmt: skip
    patch = plan.calls[lid]
    assert patch["outcome"] == "abandoned"
    assert patch["answered_at"] is None
    assert patch["answered_officer_id"] is None
    assert patch["answered_number"] is None
    assert patch.get("talk_seconds") is None
    assert patch["wait_seconds"] == pytest.approx(6.2)

"""The call flow's records, as :class:`~callrouter.store.writer.CallLog` takes them.

Each method validates its fields where they enter (``records.py``: :class:`RecordError` at
once, naming the record and the field), builds the record and hands it to the writer's
spool (``_hand``: one ``os.write``, no waiting on the database).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callrouter.store import records as r
from callrouter.store.models import (
    ATTEMPT_RESULTS,
    CALLBACK_REASONS,
    MODES,
    OUTCOMES,
    call_id_for,
)


class CallLogRecords:
    """The record methods of :class:`~callrouter.store.writer.CallLog`, which provides
    ``tz``, ``_unknown_causes`` and ``_hand``."""

    tz: ZoneInfo
    #: call_ended / attempt_ended records handed without a known hang-up cause
    _unknown_causes: dict[str, int]

    def _hand(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def _cause(self, kind: str, name: str, value: object, record: str) -> int | None:
        """The hang-up cause field of a record; an unknown one is counted (``/metrics``)."""
        checked = r.cause(kind, name, value)
        if checked is None:
            self._unknown_causes[record] += 1
        return checked

    def call_started(
        self,
        *,
        linkedid: str,
        uniqueid: str,
        branch: int,
        caller: str | None,
        started_at: datetime,
        mode: str,
        rota_version: str | None,
    ) -> str:
        """Record a new call; returns its ``calls.id`` (derived from ``linkedid``)."""
        k = r.CALL_STARTED
        linkedid = r.text(k, "linkedid", linkedid, 64)
        started = r.when(k, "started_at", started_at)
        local = started.astimezone(self.tz)
        self._hand(
            {
                "kind": k,
                "linkedid": linkedid,
                "uniqueid": r.text(k, "uniqueid", uniqueid, 64),
                "branch": r.integer(k, "branch", branch, 0, 32767),
                "caller": r.text(k, "caller", caller, 64, optional=True),
                "started_at": r.utc(started),
                "local_day": local.date().isoformat(),
                "local_hour": local.hour,
                "mode": r.choice(k, "mode", mode, MODES),
                "rota_version": r.text(k, "rota_version", rota_version, 64, optional=True),
            }
        )
        return call_id_for(linkedid)

    def attempt_started(
        self,
        *,
        linkedid: str,
        seq: int,
        officer_id: str,
        officer_name: str,
        number: str,
        number_label: str | None,
        channel_id: str,
        started_at: datetime,
    ) -> None:
        """Record an officer leg being originated (``seq`` orders the legs of a call)."""
        k = r.ATTEMPT_STARTED
        self._hand(
            {
                "kind": k,
                "linkedid": r.text(k, "linkedid", linkedid, 64),
                "seq": r.integer(k, "seq", seq, 0, 32767),
                "officer_id": r.text(k, "officer_id", officer_id, 64),
                "officer_name": r.text(k, "officer_name", officer_name, 200),
                "number": r.text(k, "number", number, 32),
                "number_label": r.text(k, "number_label", number_label, 100, optional=True),
                "channel_id": r.text(k, "channel_id", channel_id, 128),
                "started_at": r.utc(r.when(k, "started_at", started_at)),
            }
        )

    def attempt_ended(
        self,
        *,
        linkedid: str,
        seq: int,
        result: str,
        cause: int | None,
        ended_at: datetime,
        answered_at: datetime | None = None,
    ) -> None:
        """Record how an officer leg ended (``answered``, ``busy``, ``no_answer``, …)."""
        k = r.ATTEMPT_ENDED
        ended = r.when(k, "ended_at", ended_at)
        answered = r.when_optional(k, "answered_at", answered_at)
        if answered is not None:
            r.not_before(k, "ended_at", ended, "answered_at", answered)
        self._hand(
            {
                "kind": k,
                "linkedid": r.text(k, "linkedid", linkedid, 64),
                "seq": r.integer(k, "seq", seq, 0, 32767),
                "result": r.choice(k, "result", result, ATTEMPT_RESULTS),
                "cause": self._cause(k, "cause", cause, "attempt"),
                "ended_at": r.utc(ended),
                "answered_at": r.utc(answered),
            }
        )

    def call_answered(
        self,
        *,
        linkedid: str,
        answered_at: datetime,
        officer_id: str,
        officer_name: str,
        number: str,
    ) -> None:
        """Record that an officer took the call (caller and officer bridged)."""
        k = r.CALL_ANSWERED
        self._hand(
            {
                "kind": k,
                "linkedid": r.text(k, "linkedid", linkedid, 64),
                "answered_at": r.utc(r.when(k, "answered_at", answered_at)),
                "officer_id": r.text(k, "officer_id", officer_id, 64),
                "officer_name": r.text(k, "officer_name", officer_name, 200),
                "number": r.text(k, "number", number, 32),
            }
        )

    def call_ended(
        self,
        *,
        linkedid: str,
        ended_at: datetime,
        outcome: str,
        hangup_cause: int | None,
        late: bool = False,
    ) -> None:
        """Record the end of a call; wait and talk seconds are computed by the store.

        ``late``: the writer did not see the call through (the CDR import, FastAGI's end of a
        call it did not route): the end lands only on an open or ``failed`` outcome
        (records.py: the table of final outcomes)."""
        k = r.CALL_ENDED
        record: dict[str, Any] = {
            "kind": k,
            "linkedid": r.text(k, "linkedid", linkedid, 64),
            "ended_at": r.utc(r.when(k, "ended_at", ended_at)),
            "outcome": r.choice(k, "outcome", outcome, OUTCOMES),
            "hangup_cause": self._cause(k, "hangup_cause", hangup_cause, "call"),
        }
        if late:
            record["late"] = True
        self._hand(record)

    def event(self, *, linkedid: str, at: datetime, type: str, data: dict[str, Any]) -> None:
        """Append a state transition to the call's audit trail (``call_events``)."""
        k = r.EVENT
        self._hand(
            {
                "kind": k,
                "linkedid": r.text(k, "linkedid", linkedid, 64),
                "at": r.utc(r.when(k, "at", at)),
                "type": r.text(k, "type", type, 64),
                "data": r.json_object(k, "data", data),
            }
        )

    def callback_requested(
        self,
        *,
        linkedid: str | None,
        number: str,
        reason: str,
        created_at: datetime,
        recording: str | None,
    ) -> str:
        """Record a caller to call back; returns the call-back's id."""
        k = r.CALLBACK
        callback_id = str(uuid.uuid4())
        self._hand(
            {
                "kind": k,
                "callback_id": callback_id,
                "linkedid": r.text(k, "linkedid", linkedid, 64, optional=True),
                "number": r.text(k, "number", number, 64),
                "reason": r.choice(k, "reason", reason, CALLBACK_REASONS),
                "created_at": r.utc(r.when(k, "created_at", created_at)),
                "recording": r.text(k, "recording", recording, 4096, optional=True),
            }
        )
        return callback_id

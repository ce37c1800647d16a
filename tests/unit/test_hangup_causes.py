"""Hang-up causes: Asterisk's "not defined" is unknown (NULL), and unknown causes are counted
on ``/metrics``."""

from __future__ import annotations

import pytest

from callrouter.errors import RecordError
from callrouter.metrics import Metrics
from callrouter.store import records as r

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("given", "kept"), [(16, 16), (17, 17), (127, 127), (None, None)])
def test_a_reported_cause_is_kept_as_asterisk_gave_it(given: int | None, kept: int | None) -> None:
    assert r.cause("call_ended", "hangup_cause", given) == kept


def test_asterisk_not_defined_cause_zero_is_unknown_never_a_cause() -> None:
    assert r.cause("attempt_ended", "cause", 0) is None


def test_a_cause_that_is_not_an_integer_is_a_record_error_naming_the_field() -> None:
    with pytest.raises(RecordError, match="attempt_ended: field 'cause' must be an integer"):
        r.cause("attempt_ended", "cause", "16")


def test_unknown_causes_are_zero_from_the_start_then_read_from_the_call_log() -> None:
    metrics = Metrics()
    name = "callrouter_hangup_cause_unknown_total"
    assert metrics.value(name, {"record": "call"}) == 0
    assert metrics.value(name, {"record": "attempt"}) == 0
    counts = {"call": 2, "attempt": 5}
    metrics.track_unknown_causes(lambda: counts)
    assert metrics.value(name, {"record": "call"}) == 2
    counts["attempt"] = 6
    assert metrics.value(name, {"record": "attempt"}) == 6
    assert b'callrouter_hangup_cause_unknown_total{record="call"} 2.0' in metrics.render()

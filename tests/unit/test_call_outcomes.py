"""Every stored outcome name has its words (callrouter.calls.outcomes), and the store's CHECK
constraints allow exactly those names."""

from __future__ import annotations

import pytest

from callrouter.calls.outcomes import (
    CALLBACK_REASON_LABELS,
    CALLBACK_REASON_SHORT,
    CALLBACK_TRY_LABELS,
    OUTCOME_LABELS,
    OUTCOME_SHORT,
    RESULT_LABELS,
    CallbackReason,
    CallbackTry,
    LegResult,
    Outcome,
    in_sentence,
)
from callrouter.report.charts import OUTCOME_LABELS as CHART_LABELS
from callrouter.store.models import ATTEMPT_RESULTS, CALLBACK_OUTCOMES, CALLBACK_REASONS, OUTCOMES

pytestmark = pytest.mark.unit


def test_every_name_has_a_label_and_the_terminal_a_short_form() -> None:
    assert set(OUTCOME_LABELS) == {*Outcome, None}
    assert set(OUTCOME_SHORT) == set(Outcome)
    assert set(RESULT_LABELS) == {*LegResult, None}
    assert set(CALLBACK_REASON_LABELS) == set(CallbackReason) == set(CALLBACK_REASON_SHORT)
    assert set(CALLBACK_TRY_LABELS) == set(CallbackTry)


def test_the_store_checks_the_same_names() -> None:
    assert tuple(Outcome) == OUTCOMES
    assert tuple(LegResult) == ATTEMPT_RESULTS
    assert tuple(CallbackReason) == CALLBACK_REASONS
    assert tuple(CallbackTry) == CALLBACK_OUTCOMES


def test_the_report_charts_and_the_web_say_the_same_words() -> None:
    assert CHART_LABELS["abandoned"] == OUTCOME_LABELS["abandoned"]
    assert CHART_LABELS["in_progress"] == OUTCOME_LABELS[None]
    assert in_sentence(CALLBACK_REASON_LABELS["abandoned"]) == "người gọi gác máy khi đang chờ"

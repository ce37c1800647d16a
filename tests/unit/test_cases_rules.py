"""Cases: working-day deadlines on the rota's calendar, the status lifecycle, the config file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from callrouter.cases.config import CasesConfig, CasesConfigHolder, load_cases_config
from callrouter.cases.edit import CaseInput, CaseRules, is_overdue, plan_open, plan_update
from callrouter.cases.lifecycle import TRANSITIONS, Kind, Status, check_initial, check_transition
from callrouter.cases.workdays import WorkCalendar
from callrouter.errors import CaseConfigError, CaseInputError, CaseTransitionError
from callrouter.rota.model import DatedNote, HolidayPolicy, MakeUpDay

pytestmark = pytest.mark.unit

CALENDAR = WorkCalendar.from_policy(
    HolidayPolicy(
        closed_dates=(DatedNote(date=date(2026, 3, 9), name="Ngày nghỉ riêng"),),
        make_up_days=(MakeUpDay(date=date(2026, 3, 14), like="mon"),),
    )
)


@pytest.mark.parametrize(
    ("received", "days", "deadline", "why"),
    [
        (date(2026, 3, 2), 0, date(2026, 3, 2), "0 days: the day itself"),
        (date(2026, 3, 2), 1, date(2026, 3, 3), "Monday + 1: Tuesday"),
        (date(2026, 3, 6), 1, date(2026, 3, 10), "Friday + 1 skips the weekend and a closed day"),
        (date(2026, 2, 13), 1, date(2026, 2, 23), "Tết 2026 (16–20 Feb) is not counted"),
        (date(2026, 2, 13), 10, date(2026, 3, 6), "10 working days across Tết"),
        (date(2026, 2, 12), 2, date(2026, 2, 23), "Thursday before Tết + 2"),
        (date(2026, 3, 13), 1, date(2026, 3, 14), "a make-up Saturday listed in the rota counts"),
        (date(2025, 4, 25), 1, date(2025, 4, 26), "the substituted make-up Saturday 26/04/2025"),
        (date(2025, 4, 29), 1, date(2025, 5, 5), "30/4, 1/5 and the swapped 2/5 are off"),
        (date(2025, 12, 31), 1, date(2026, 1, 2), "New Year's day across the year end"),
    ],
)
def test_deadline_in_working_days(received: date, days: int, deadline: date, why: str) -> None:
    assert CALENDAR.add_working_days(received, days) == deadline, why


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 17), False),  # Mùng một Tết
        (date(2026, 3, 9), False),  # the unit's closed date (a Monday)
        (date(2026, 3, 14), True),  # rota make-up Saturday
        (date(2026, 3, 15), False),  # Sunday
        (date(2025, 4, 26), True),  # substituted make-up Saturday
        (date(2025, 5, 2), False),  # its day off
        (date(2026, 3, 11), True),
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        CALENDAR.add_working_days(date(2026, 3, 2), -1)


@pytest.mark.parametrize(
    ("deadline", "closed_on", "as_of", "overdue"),
    [
        (date(2026, 3, 6), None, date(2026, 3, 6), False),  # due today: not yet
        (date(2026, 3, 6), None, date(2026, 3, 7), True),
        (date(2026, 3, 6), date(2026, 3, 6), date(2026, 4, 1), False),  # closed in time
        (date(2026, 3, 6), date(2026, 3, 9), date(2026, 4, 1), True),  # closed late
    ],
)
def test_overdue_flag(deadline: date, closed_on: date | None, as_of: date, overdue: bool) -> None:
    assert is_overdue(deadline, closed_on, as_of) is overdue


ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("new", list(Status))
def test_every_transition_is_allowed_or_refused_by_the_table(current: Status, new: Status) -> None:
    if new == current or (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(CaseTransitionError, match="không thể chuyển"):
            check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (Status.IN_PROGRESS, Status.TOLD),  # the citizen is told a result, not a promise
        (Status.TOLD, Status.IN_PROGRESS),
        (Status.ANSWERED, Status.FORWARDED),
        (Status.RESOLVED, Status.FORWARDED),
    ],
)
def test_illegal_transitions_name_both_states_and_the_allowed_ones(
    current: Status, new: Status
) -> None:
    with pytest.raises(CaseTransitionError) as caught:
        check_transition(current, new)
    message = str(caught.value)
    assert current.label in message
    assert new.label in message
    assert "chỉ có thể sang" in message


def test_a_new_case_cannot_start_resolved_or_told() -> None:
    for status in (Status.RESOLVED, Status.TOLD):
        with pytest.raises(CaseTransitionError, match="hồ sơ mới"):
            check_initial(status)


RULES = CaseRules(
    config=CasesConfig(
        topics={"bhyt": "Bảo hiểm y tế"},
        agencies={"so_y_te": "Sở Y tế"},
        deadlines={Kind.FEEDBACK: 10, Kind.PETITION: 10},
        summary_max=100,
    ),
    calendar=CALENDAR,
)
AT = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)  # 09:00 Friday 13 Feb 2026, Hà Nội time


def test_opening_a_petition_sets_its_deadline_and_history() -> None:
    plan = plan_open(RULES, CaseInput(kind="kien_nghi", topic="bhyt", summary="x"), by="an", at=AT)
    assert plan.values["deadline"] == date(2026, 3, 6)
    assert plan.values["status"] == "in_progress"
    assert plan.to_status == "in_progress"
    assert plan.from_status is None
    assert plan.changes["summary"] == [None, "x"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (CaseInput(kind="kien_nghi", topic="nope"), "lĩnh vực 'nope' không có"),
        (CaseInput(kind="kien_nghi", agency="ubnd", status="forwarded"), "cơ quan 'ubnd'"),
        (CaseInput(kind="kien_nghi", summary="a" * 101), "tối đa 100 ký tự"),
        (CaseInput(kind="to_cao"), "loại 'to_cao' không có"),
        (CaseInput(kind="phan_anh", status="forwarded"), "cần ghi cơ quan nhận"),
        (CaseInput(topic="bhyt"), "cần chọn loại"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(given: CaseInput, message: str) -> None:
    with pytest.raises((CaseInputError, CaseTransitionError), match=message):
        plan_open(RULES, given, by="an", at=AT)


def test_an_update_records_from_and_to_and_the_dates_of_the_move() -> None:
    opened = plan_open(RULES, CaseInput(kind="phan_anh"), by="an", at=AT)
    current = {**opened.values, "id": "c1"}
    plan = plan_update(
        RULES, current, CaseInput(status="forwarded", agency="so_y_te"), by="binh", at=AT
    )
    assert plan.from_status == "in_progress"
    assert plan.to_status == "forwarded"
    assert plan.values["forwarded_on"] == date(2026, 2, 13)
    assert plan.changes["agency"] == [None, "so_y_te"]
    assert plan.values["version"] == 2
    with pytest.raises(CaseTransitionError, match="không thể chuyển"):
        plan_update(RULES, current, CaseInput(status="told"), by="binh", at=AT)


CASES_YAML = """\
topics:
  bhyt: Bảo hiểm y tế
agencies:
  so_y_te: Sở Y tế
deadlines:
  phan_anh: 10
"""


def test_a_malformed_topics_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(
        "topics:\n  bhyt: Bảo hiểm y tế\n  Bad Code: x\ndeadlines:\n  phan_anh: muoi\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseConfigError) as caught:
        load_cases_config(path)
    problems = caught.value.problems
    assert any(p.startswith(f"{path}:3:") and "Bad Code" in p for p in problems), problems
    assert any(p.startswith(f"{path}:5:") and "deadlines" in p for p in problems), problems


def test_a_bad_file_on_reload_keeps_the_running_list(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(CASES_YAML, encoding="utf-8")
    holder = CasesConfigHolder(path, load_cases_config(path))
    path.write_text("topics: [\n", encoding="utf-8")
    problems = holder.reload()
    assert problems
    assert problems[0].startswith(f"{path}:")
    assert holder.current.topics == {"bhyt": "Bảo hiểm y tế"}
    assert holder.current.deadline_days(Kind.FEEDBACK) == 10

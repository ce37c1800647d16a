"""decide(): open/closed, targets, strategies, confirm, actions, rotation fairness."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callrouter.rota import Rota, load_rota, parse_rota
from callrouter.routing import Action, CallInfo, Strategy, Target, decide

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rota"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CALL = CallInfo(linkedid="1700000000.1", caller="0987654321")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HCM)


@pytest.fixture(scope="module")
def rota() -> Rota:
    return load_rota(FIXTURES / "valid.yaml")


def team_rota(strategy: str, *, confirm_own_phone: bool = True) -> Rota:
    """Four officers on one day shift, each at their own phone, plus the office landline."""
    return parse_rota(
        f"""
numbers:
  - {{label: office, number: "0243 333 4444"}}
  - {{label: duty, number: "0912 000 001", confirm: false}}
officers:
  - {{id: an, name: Nguyễn Văn An, phone: "0912000101", email: an@example.vn}}
  - {{id: binh, name: Trần Thị Bình, phone: "0912000102", email: binh@example.vn}}
  - {{id: chi, name: Lê Minh Chi, phone: "0912000103", email: chi@example.vn}}
  - {{id: dung, name: Phạm Dũng, phone: "02435556666", email: dung@example.vn}}
shifts:
  - days: mon-sun
    start: "00:00"
    end: "24:00"
    duty:
      - {{officer: an}}
      - {{officer: binh}}
      - {{officer: chi}}
      - {{officer: an, at: office}}
      - {{officer: dung}}
policy:
  strategy: {strategy}
  confirm_own_phone: {str(confirm_own_phone).lower()}
""",
        f"team-{strategy}",
    )


def test_open_decision_carries_policy_and_nobody_answered_action(rota: Rota) -> None:
    decision = decide(rota, at("2026-03-02 09:00"), CALL)
    assert decision.open
    assert decision.reason == "shift day"
    assert decision.targets == (
        Target("an", "Nguyễn Văn An", "02433334444", "office", False, 15),
        Target("binh", "Trần Thị Bình", "0912000001", "duty", True, 15),
    )
    assert (decision.strategy, decision.rounds, decision.max_wait, decision.confirm_timeout) == (
        Strategy.SEQUENTIAL,
        3,
        90,
        6,
    )
    assert decision.action == Action("forward", "02439991111")
    assert decision.rota_version == rota.version


@pytest.mark.parametrize(
    ("local", "reason"),
    [
        ("2026-03-07 13:00", "outside shifts"),
        ("2026-04-27 09:00", "holiday: Ngày Giỗ Tổ Hùng Vương (nghỉ bù)"),
        ("2026-06-02 09:00", "closed: Khử khuẩn"),
        ("2026-12-31 23:00", "override: Giao thừa dương lịch"),
    ],
)
def test_closed_decision_has_no_targets_and_the_after_hours_action(
    rota: Rota, local: str, reason: str
) -> None:
    decision = decide(rota, at(local), CALL)
    assert not decision.open
    assert decision.reason == reason
    assert decision.targets == ()
    assert decision.action == Action("message", None)
    assert str(decision.action) == "message"


def test_call_for_another_branch_is_closed_with_a_reason(rota: Rota) -> None:
    decision = decide(rota, at("2026-03-02 09:00"), CallInfo("x", None, branch=5))
    assert not decision.open
    assert "branch 5" in decision.reason
    assert decision.targets == ()


def test_a_number_is_rung_once_per_round_even_if_listed_for_two_officers() -> None:
    rota = parse_rota(
        """
numbers: [{label: office, number: "0243 333 4444"}]
officers:
  - {id: an, name: An, phone: "0912000101", email: an@example.vn}
  - {id: binh, name: Bình, phone: "0912000102", email: binh@example.vn}
shifts:
  - {days: mon-sun, start: "00:00", end: "24:00",
     duty: [{officer: an, at: office}, {officer: binh, at: office}, {officer: binh}]}
""",
        "shared",
    )
    decision = decide(rota, at("2026-03-02 09:00"), CALL)
    assert [(t.officer_id, t.number) for t in decision.targets] == [
        ("an", "02433334444"),
        ("binh", "0912000102"),
    ]


def test_own_phone_confirmation_follows_the_policy() -> None:
    with_confirm = decide(team_rota("sequential"), at("2026-03-02 09:00"), CALL)
    without = decide(team_rota("sequential", confirm_own_phone=False), at("2026-03-02 09:00"), CALL)
    assert [t.confirm for t in with_confirm.targets] == [True, True, True, False, True]
    assert [t.confirm for t in without.targets] == [False, False, False, False, False]


def test_simultaneous_strategy_keeps_file_order() -> None:
    decision = decide(team_rota("simultaneous"), at("2026-03-02 09:00"), CALL)
    assert decision.strategy is Strategy.SIMULTANEOUS
    assert [t.officer_id for t in decision.targets] == ["an", "binh", "chi", "an", "dung"]


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (None, ["an", "an", "binh", "chi", "dung"]),
        ("an", ["binh", "chi", "dung", "an", "an"]),
        ("binh", ["chi", "dung", "an", "an", "binh"]),
        ("dung", ["an", "an", "binh", "chi", "dung"]),
        ("someone-who-left", ["an", "an", "binh", "chi", "dung"]),
    ],
)
def test_rotate_starts_after_the_officer_who_answered_last(
    last: str | None, expected: list[str]
) -> None:
    decision = decide(
        team_rota("rotate"), at("2026-03-02 09:00"), CallInfo("x", None, last_officer_id=last)
    )
    assert decision.strategy is Strategy.ROTATE
    assert [t.officer_id for t in decision.targets] == expected


def test_rotate_keeps_an_officers_numbers_in_their_ring_order() -> None:
    decision = decide(
        team_rota("rotate"), at("2026-03-02 09:00"), CallInfo("x", None, last_officer_id="dung")
    )
    assert [t.number_label for t in decision.targets if t.officer_id == "an"] == [None, "office"]


def test_rotate_is_fair_over_a_day_of_calls() -> None:
    rota = team_rota("rotate")
    answered: Counter[str] = Counter()
    last: str | None = None
    moment = at("2026-03-02 00:05")
    for i in range(96):  # a call every 15 minutes for a day; the first target answers
        decision = decide(rota, moment + timedelta(minutes=15 * i), CallInfo(str(i), None, 3, last))
        last = decision.targets[0].officer_id
        answered[last] += 1
    assert answered == {"an": 24, "binh": 24, "chi": 24, "dung": 24}


def test_rotate_stays_fair_when_the_first_officer_often_misses() -> None:
    rota = team_rota("rotate")
    answered: Counter[str] = Counter()
    last: str | None = None
    for i in range(400):
        decision = decide(rota, at("2026-03-02 10:00"), CallInfo(str(i), None, 3, last))
        officers = list(dict.fromkeys(t.officer_id for t in decision.targets))
        # every third call the first officer does not answer and the second one does
        last = officers[1] if i % 3 == 0 else officers[0]
        answered[last] += 1
    assert max(answered.values()) - min(answered.values()) <= 2


def test_sequential_ignores_rotation_state(rota: Rota) -> None:
    plain = decide(rota, at("2026-03-02 09:00"), CALL)
    with_state = decide(rota, at("2026-03-02 09:00"), CallInfo("y", None, 3, "an"))
    assert plain.targets == with_state.targets


def test_naive_now_is_refused(rota: Rota) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(rota, datetime(2026, 3, 2, 9, 0), CALL)


def test_rotas_loaded_twice_are_equal_whatever_their_caches(rota: Rota) -> None:
    again = load_rota(FIXTURES / "valid.yaml")
    decide(rota, at("2031-05-05 09:00"), CALL)  # fills this rota's caches only
    assert again == rota


def test_a_copy_with_a_new_policy_routes_by_the_new_policy(rota: Rota) -> None:
    policy = rota.policy.model_copy(
        update={"confirm_own_phone": False, "after_hours_action": "forward:0912345678"}
    )
    changed = rota.model_copy(update={"policy": policy})
    assert decide(changed, at("2026-03-07 13:00"), CALL).action == Action("forward", "0912345678")
    night = decide(changed, at("2026-03-02 20:00"), CALL)
    assert [t.confirm for t in night.targets] == [True, False]
    assert rota.after_hours == Action("message", None)

"""Invariants of who_is_on_duty and decide(), checked with hypothesis on generated rotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callrouter.rota import Rota, duty_status, who_is_on_duty
from callrouter.rota import duty as duty_module
from callrouter.routing import CallInfo, Strategy, decide

pytestmark = pytest.mark.unit

OFFICERS = ["an", "binh", "chi", "dung", "em"]
LABELS = ["office", "duty"]
NUMBERS = {"office": "02433334444", "duty": "0912000001"}
PHONES = {oid: f"09120001{i:02d}" for i, oid in enumerate(OFFICERS)}


def _duty_entry() -> st.SearchStrategy[dict[str, str]]:
    return st.builds(
        lambda officer, at: {"officer": officer, "at": at},
        st.sampled_from(OFFICERS),
        st.sampled_from([*LABELS, "own"]),
    )


def _shift() -> st.SearchStrategy[dict[str, Any]]:
    minutes = st.integers(0, 24 * 60 - 1).map(lambda m: m - m % 15)
    return st.builds(
        lambda days, start, length, duty: {
            "days": days,
            "start": f"{start // 60:02d}:{start % 60:02d}",
            "end": f"{((start + length) % 1440) // 60:02d}:{((start + length) % 1440) % 60:02d}",
            "duty": duty,
        },
        st.lists(
            st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]),
            min_size=1,
            max_size=8,
            unique=True,
        ),
        minutes,
        st.integers(1, 95).map(lambda q: q * 15),
        st.lists(_duty_entry(), min_size=1, max_size=5),
    )


def _override() -> st.SearchStrategy[dict[str, Any]]:
    kinds = st.one_of(
        st.just({"closed": "true"}),
        st.lists(_duty_entry(), min_size=1, max_size=3).map(lambda duty: {"duty": duty}),
        st.lists(
            st.tuples(st.sampled_from(OFFICERS), st.sampled_from(OFFICERS)),
            min_size=1,
            max_size=2,
            unique_by=lambda pair: pair[0],
        ).map(lambda pairs: {"swap": [{"officer": a, "by": b} for a, b in pairs]}),
    )
    return st.builds(
        lambda day, hours, kind: {
            "from": f"2026-03-{day:02d} 06:00",
            "to": f"2026-03-{day:02d} {6 + hours:02d}:00",
            "reason": "thử",
            **kind,
        },
        st.integers(1, 28),
        st.integers(1, 17),
        kinds,
    )


@st.composite
def rotas(draw: st.DrawFn) -> Rota:
    data: dict[str, Any] = {
        "version": "test",
        "numbers": [{"label": label, "number": NUMBERS[label]} for label in LABELS],
        "officers": [
            {"id": oid, "name": f"Cán bộ {oid}", "phone": PHONES[oid], "email": f"{oid}@x.vn"}
            for oid in OFFICERS
        ],
        "shifts": draw(st.lists(_shift(), max_size=6)),
        "overrides": draw(st.lists(_override(), max_size=3)),
        "holidays": {"default": draw(st.sampled_from(["closed", "normal", "like:sun", "shifts"]))},
        "policy": {"strategy": draw(st.sampled_from(["sequential", "simultaneous", "rotate"]))},
    }
    if data["holidays"]["default"] == "shifts" and not any(
        "holiday" in s["days"] for s in data["shifts"]
    ):
        data["holidays"]["default"] = "closed"
    return Rota.model_validate(data)


_zones = st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5))])
moments = st.one_of(
    # March 2026, where the generated overrides are
    st.datetimes(min_value=datetime(2026, 2, 28), max_value=datetime(2026, 4, 1), timezones=_zones),
    # and anywhere around two new years, Tết included
    st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 3, 1), timezones=_zones),
)
last_officers = st.one_of(st.none(), st.sampled_from([*OFFICERS, "ghost"]))


@settings(max_examples=200, deadline=None)
@given(rota=rotas(), now=moments, last=last_officers)
def test_decision_invariants(rota: Rota, now: datetime, last: str | None) -> None:
    decision = decide(rota, now, CallInfo("x", "0987654321", 3, last))
    on_duty = who_is_on_duty(rota, now)
    pairs = {(a.officer_id, a.number) for a in on_duty}

    # open exactly when someone is on duty; closed decisions have no targets
    assert decision.open == bool(on_duty) == bool(decision.targets)
    assert decision.action == (rota.nobody_answered if decision.open else rota.after_hours)
    # targets are on-duty officers at the number they are on duty at, never repeated
    assert {(t.officer_id, t.number) for t in decision.targets} <= pairs
    numbers = [t.number for t in decision.targets]
    assert len(numbers) == len(set(numbers))
    # every on-duty number is rung
    assert set(numbers) == {a.number for a in on_duty}
    # only registered numbers or the officer's own phone are ever dialled
    for target in decision.targets:
        assert target.number in (NUMBERS.get(target.number_label or ""), PHONES[target.officer_id])
        assert target.ring_timeout == rota.policy.ring_timeout
    # every assignment's window contains the moment
    for assignment in on_duty:
        assert assignment.start <= now < assignment.end
    # rotation starts with someone other than the last answerer when there is a choice
    officers = {t.officer_id for t in decision.targets}
    if rota.policy.strategy is Strategy.ROTATE and last in officers and len(officers) > 1:
        assert decision.targets[0].officer_id != last


@settings(max_examples=100, deadline=None)
@given(rota=rotas(), now=moments)
def test_the_decision_depends_on_the_instant_not_on_its_zone(rota: Rota, now: datetime) -> None:
    call = CallInfo("x", None)
    assert decide(rota, now, call) == decide(rota, now.astimezone(UTC), call)
    assert duty_status(rota, now) == duty_status(rota, now.astimezone(rota.timezone))


@settings(max_examples=100, deadline=None)
@given(rota=rotas(), now=moments, last=last_officers)
def test_rotate_is_a_permutation_of_the_sequential_order(
    rota: Rota, now: datetime, last: str | None
) -> None:
    sequential = rota.model_copy(
        update={"policy": rota.policy.model_copy(update={"strategy": Strategy.SEQUENTIAL})}
    )
    rotated = rota.model_copy(
        update={"policy": rota.policy.model_copy(update={"strategy": Strategy.ROTATE})}
    )
    a = decide(sequential, now, CallInfo("x", None, 3, last))
    b = decide(rotated, now, CallInfo("x", None, 3, last))
    assert sorted(a.targets, key=lambda t: t.number) == sorted(b.targets, key=lambda t: t.number)


@settings(max_examples=100, deadline=None)
@given(rota=rotas(), now=moments)
def test_the_precomputed_day_table_agrees_with_the_direct_lookup(rota: Rota, now: datetime) -> None:
    """The fast path (a bisection in the date's table) equals computing the minute afresh."""
    ix = rota.index
    local = now.astimezone(ix.tz)
    direct = duty_module._compute(ix, local.date(), local.hour * 60 + local.minute)
    assert duty_module.lookup(ix, now) == direct

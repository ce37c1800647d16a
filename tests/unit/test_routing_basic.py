"""decide() on the shipped example rota: the contract other rooms code against."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callrouter.rota import Rota, load_rota
from callrouter.routing import Action, CallInfo, Decision, Strategy, decide

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "rota.example.yaml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def example() -> Rota:
    return load_rota(EXAMPLE)


def test_example_rota_loads_with_a_short_sha256_version(example: Rota) -> None:
    assert len(example.version) == 12
    assert int(example.version, 16) >= 0
    assert example.timezone == HCM
    assert example.branch == 3


def test_weekday_morning_rings_the_landline_then_the_duty_mobile(example: Rota) -> None:
    decision = decide(example, datetime(2026, 11, 30, 8, 0, tzinfo=HCM), CallInfo("l1", "0900"))
    assert isinstance(decision, Decision)
    assert decision.open
    assert decision.strategy is Strategy.SEQUENTIAL
    assert [(t.officer_id, t.number, t.number_label, t.confirm) for t in decision.targets] == [
        ("lan", "02263851234", "co-dinh", False),
        ("dung", "0912680135", "di-dong-truc", True),
    ]
    assert decision.action == Action("forward", "02263852115")
    assert decision.rota_version == example.version


def test_naive_now_is_refused(example: Rota) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(example, datetime(2026, 11, 30, 8, 0), CallInfo("l1", None))

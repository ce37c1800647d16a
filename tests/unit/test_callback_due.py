"""Call-back due times count working hours on working days only."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callrouter.cases.due import due_at
from callrouter.cases.workdays import WorkCalendar

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("created", "due"),
    [
        # Tuesday 09:00 → 13:00 the same day
        (datetime(2026, 11, 10, 9, 0, tzinfo=TZ), datetime(2026, 11, 10, 13, 0, tzinfo=TZ)),
        # Tuesday 15:00: 2 h that day, 2 h from 07:30 on Wednesday
        (datetime(2026, 11, 10, 15, 0, tzinfo=TZ), datetime(2026, 11, 11, 9, 30, tzinfo=TZ)),
        # Friday 20:00 → Monday 11:30 (the weekend does not count)
        (datetime(2026, 11, 13, 20, 0, tzinfo=TZ), datetime(2026, 11, 16, 11, 30, tzinfo=TZ)),
        # 1 September (National Day, a holiday) 10:00 → 2 Sept is a holiday too; 3rd 11:30
        (datetime(2026, 9, 1, 10, 0, tzinfo=TZ), datetime(2026, 9, 3, 11, 30, tzinfo=TZ)),
    ],
)
def test_due_counts_working_hours(created: datetime, due: datetime) -> None:
    assert due_at(created, WorkCalendar(), TZ) == due

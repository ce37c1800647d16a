"""Standing by after another connection took the ARI application over
(callrouter/asterisk/ari_standby.py): only "no such application" at three checks in a row
ends it; any other answer, or none, counts as "taken" and never stops the router."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import structlog.testing

from callrouter.asterisk.ari_standby import replaced_here, stand_by
from callrouter.errors import AriNotFound, AriRequestError, AsteriskUnavailable

pytestmark = pytest.mark.unit

FREE = AriNotFound("GET", "/applications/callrouter", 404, "Application not found")


class Answers:
    """What each check of the application meets in turn (None: it is there)."""

    def __init__(self, *answers: BaseException | None) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def __call__(self) -> object:
        self.asked += 1
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return {"name": "callrouter"}


@pytest.mark.parametrize(
    ("answers", "checks"),
    [
        ((FREE, FREE, FREE), 3),
        ((None, FREE, FREE, None, FREE, FREE, FREE), 7),  # taken back in between: count again
        ((FREE, AsteriskUnavailable("down"), FREE, FREE, FREE), 5),
        ((FREE, AriRequestError("GET", "/x", 401, "auth"), FREE, FREE, FREE), 5),
        ((FREE, ValueError("a proxy's page"), FREE, FREE, FREE), 5),
        ((FREE, aiohttp.ClientPayloadError("cut"), FREE, FREE, FREE), 5),
        ((FREE, OSError("reset"), FREE, FREE, FREE), 5),
    ],
)
async def test_only_three_free_answers_in_a_row_end_the_stand_by(
    answers: tuple[BaseException | None, ...], checks: int
) -> None:
    ask = Answers(*answers)
    async with asyncio.timeout(5):
        await stand_by("callrouter", ask, poll=0.001)
    assert ask.asked == checks


async def test_a_reminder_each_minute_names_the_last_error() -> None:
    ask = Answers(*[AsteriskUnavailable("ARI GET: ClientConnectorError")] * 4, FREE, FREE, FREE)
    with structlog.testing.capture_logs() as logs:
        await stand_by("callrouter", ask, poll=30.0 / 1000, remind_seconds=0.06)
    reminders = [e for e in logs if e["event"] == "ari.standing_by"]
    assert [r["error"] for r in reminders][:2] == ["AsteriskUnavailable"] * 2
    assert logs[-1]["event"] == "ari.standby_over"


def test_an_application_replaced_names_whose_application() -> None:
    with structlog.testing.capture_logs() as logs:
        assert replaced_here(
            {"type": "ApplicationReplaced", "application": "callrouter"}, "callrouter"
        )
        assert not replaced_here(
            {"type": "ApplicationReplaced", "application": "other"}, "callrouter"
        )
    assert [(e["event"], e["log_level"]) for e in logs] == [("ari.application_replaced", "error")]

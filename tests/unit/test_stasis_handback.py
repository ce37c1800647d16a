"""A caller a killed router left in Stasis goes back to the dialplan fallback when the next
router connects, even when Asterisk holds the requests behind the prompts the dead router
queued (ci12: setting the variable timed out, the continue was never sent, and the caller
stayed in Stasis in silence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from callrouter.asterisk import contract
from callrouter.asterisk.ari import Bridge, Channel
from callrouter.asterisk.ari_models import CallerId
from callrouter.asterisk.session_parts import FlowConfig
from callrouter.asterisk.stasis_app import StasisApp
from callrouter.calls.caller_times import CallerTimes
from callrouter.errors import AriNotFound, AsteriskUnavailable
from callrouter.routing import CallInfo, Decision

pytestmark = pytest.mark.unit


@dataclass
class SlowAri:
    """The ARI requests the reconciliation makes; setting a variable fails as a request
    timing out behind a playback does (or the channel is gone, with ``gone``)."""

    channels: list[Channel]
    gone: bool = False
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def list_channels(self) -> list[Channel]:
        return self.channels

    async def list_bridges(self) -> list[Bridge]:
        return []

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        self.sent.append(("set_variable", channel_id))
        if self.gone:
            raise AriNotFound("POST", f"/channels/{channel_id}/variable", 404, "gone")
        raise AsteriskUnavailable("ARI POST /channels/x/variable: TimeoutError")

    async def continue_in_dialplan(self, channel_id: str, **_where: Any) -> None:
        self.sent.append(("continue", channel_id))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.sent.append(("hangup", channel_id))


def caller_in_stasis() -> Channel:
    return Channel(
        id="pbx-1.0",
        name="PJSIP/pstn-trunk-00000000",
        state="Up",
        caller=CallerId("", "0987654321"),
        connected=CallerId("", ""),
        context=contract.CONTEXT_BRANCH3,
        exten="s",
    )


def never_decides(_now: datetime, _call: CallInfo) -> Decision:
    raise AssertionError("no new call here")


async def reconcile(ari: SlowAri) -> None:
    app = StasisApp(
        ari,  # type: ignore[arg-type]  # only what the reconciliation calls
        call_log=None,  # type: ignore[arg-type]  # nothing is written for an orphan
        decide=never_decides,
        config=FlowConfig(caller=CallerTimes()),
    )
    await app.on_connected()
    assert await app.drain(5)


async def test_the_continue_is_sent_even_when_setting_the_variable_timed_out() -> None:
    ari = SlowAri([caller_in_stasis()])
    await reconcile(ari)
    assert ari.sent == [("set_variable", "pbx-1.0"), ("continue", "pbx-1.0")]


async def test_a_caller_gone_meanwhile_is_not_continued() -> None:
    ari = SlowAri([caller_in_stasis()], gone=True)
    await reconcile(ari)
    assert ari.sent == [("set_variable", "pbx-1.0")]

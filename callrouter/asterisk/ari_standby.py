"""When another connection takes this router's ARI application over.

Asterisk gives an application's events to one WebSocket: the last one to connect. The one it
replaced gets one ``ApplicationReplaced`` and then silence, on a socket that stays open
(measured on the sandbox pbx, Asterisk 22). Without care, a router so replaced (a second
``serve`` started by mistake, a container beside a host service, a stale process reconnecting)
would stay "ready" while its calls in progress never see their end.

So the replaced client (:meth:`callrouter.asterisk.ari.AriClient.run_events`) logs an error,
closes its socket, goes unready (``/healthz`` 503, which the guard and the operator see) and
stands by here. It asks over HTTP whether Asterisk still has the application, and connects
again only once the application has been gone (``GET /applications/{app}`` 404) at three
checks in a row, ``poll`` seconds apart: the router that took over never checks, it reconnects as
usual, so the newest live router keeps the calls and the replaced one does not take them back.
The gap of the other's own reconnect (the back-off's 5 s at most) is not taken for its end.
The sessions of the calls it had stop without a request and without writing an end
(:meth:`callrouter.asterisk.stasis_app.StasisApp.let_go`).

Asterisk drops the application when its last connection closes with nothing of it left (the
other router stopped with no call in progress, or Asterisk restarted). It keeps a deactivated
application listed, and answers it as if active (``GET``, user events: measured), while
channels or bridges of it remain, e.g. when the other router stopped with calls in progress.
No request tells the two apart, so then the replaced router stands by until someone restarts
it; it reminds the log every minute. Meanwhile Asterisk sends new calls to the dialplan
fallback (``Stasis`` fails on an application without a connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp
import structlog

from callrouter.asterisk.ari_wire import describe
from callrouter.errors import AriNotFound, AsteriskError

log = structlog.get_logger(__name__)

#: Seconds between two checks whether the application is free, and how many "free" answers
#: in a row it takes: 10 s and more without it, twice the back-off's maximum, so that the
#: other router's own reconnect is not taken for its end.
STANDBY_POLL: Final = 5.0
FREE_CHECKS: Final = 3
#: Seconds between two reminders in the log that this router stands by.
REMIND_SECONDS: Final = 60.0


def replaced_here(data: Mapping[str, Any], app: str) -> bool:
    """Whether an ``ApplicationReplaced`` message is about ``app`` (one socket may carry
    several applications; this client registers one). Logs the takeover."""
    if data.get("application", app) != app:
        return False
    log.error(
        "ari.application_replaced",
        app=app,
        hint="another connection took this ARI application over (a second router?); "
        "this one stops taking calls and stands by until the application is free",
    )
    return True


async def stand_by(
    app: str,
    get_application: Callable[[], Awaitable[object]],
    poll: float = STANDBY_POLL,
    *,
    remind_seconds: float = REMIND_SECONDS,
) -> None:
    """Return once Asterisk has answered "no such application" for ``app`` at
    :data:`FREE_CHECKS` checks in a row, ``poll`` s apart. Any other answer, or none (Asterisk
    down, a proxy's page, a refused login), counts as "not free"; the minute's reminder names
    the last such error."""
    free_in_a_row = 0
    checks = 0
    error = ""
    remind_every = max(1, round(remind_seconds / poll))
    while free_in_a_row < FREE_CHECKS:
        await asyncio.sleep(poll)
        checks += 1
        try:
            await get_application()
            free_in_a_row, error = 0, ""
        except AriNotFound:
            free_in_a_row, error = free_in_a_row + 1, ""
        except (AsteriskError, aiohttp.ClientError, OSError, ValueError) as exc:
            free_in_a_row, error = 0, describe(exc)
        if checks % remind_every == 0:
            minutes = round(checks * poll / 60)
            log.warning("ari.standing_by", app=app, minutes=minutes, error=error or None)
    log.warning("ari.standby_over", app=app, hint="the application is free: connecting")

"""What a waiting caller is given, in seconds — defined once for every door.

``callrouter serve`` reads them from the environment (:class:`callrouter.settings.Settings`:
``CALLROUTER_HOLD_REMINDER_SECONDS``, ``CALLROUTER_MESSAGE_MAX_SECONDS``,
``CALLROUTER_MESSAGE_MAX_SILENCE``, with these defaults and bounds there) and hands one
:class:`CallerTimes` to the ARI flow (``FlowConfig.caller``) and the FastAGI flow
(``AgiCallFlow(caller=...)``, which passes the message limits to the dialplan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class CallerTimes:
    #: while officers are rung, "please stay on the line" every this many seconds (0: never;
    #: ARI mode — the dialplan's music plays on in FastAGI mode)
    hold_reminder_seconds: float = 30.0
    #: a caller's message (``message`` action): the longest, and the silence that ends it
    message_max_seconds: int = 120
    message_max_silence: int = 5


DEFAULT_CALLER_TIMES: Final = CallerTimes()

"""The Asterisk sandbox harness, shared by ``callrouter demo`` and the end-to-end tests.

``scripts/asterisk-sandbox`` runs a fresh pair of real Asterisk 22 instances on a slot: **pbx**
runs the shipped dialplan, **pstn** plays the telephone network and the officers' phones.

- :mod:`~callrouter.sandbox.control`: :class:`Sandbox` starts, stops and describes a slot;
- :mod:`~callrouter.sandbox.ami`: :class:`EventLog` (every event, waiting by predicate) and
  the :class:`AmiClient` that feeds it;
- :mod:`~callrouter.sandbox.phones`: :class:`Harness` places calls and reads what the
  caller's and the officers' phones experienced;
- :mod:`~callrouter.sandbox.router`: ``callrouter serve`` in this event loop
  (:class:`Router`), its log lines tapped onto the event log (:func:`router_logs`).

Importing this package starts nothing; :mod:`~callrouter.sandbox.router` (which imports the
whole application) is not imported here.
"""

from callrouter.sandbox.ami import AmiClient, Event, EventLog, NotSeenError, parse_message
from callrouter.sandbox.control import (
    INSTANCES,
    SANDBOX_SCRIPT,
    Instance,
    InstanceInfo,
    Sandbox,
    SandboxError,
    SandboxInfo,
)
from callrouter.sandbox.phones import (
    ANSWERS,
    BUSY,
    FAILS,
    HANGS_UP,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    VOICEMAIL,
    CallerExperience,
    Harness,
    OfficerExperience,
    PlacedCall,
    officer_number,
)

__all__ = [
    "ANSWERS",
    "BUSY",
    "FAILS",
    "HANGS_UP",
    "INSTANCES",
    "PRESSES_1",
    "PRESSES_9",
    "RINGS_FOREVER",
    "SANDBOX_SCRIPT",
    "VOICEMAIL",
    "AmiClient",
    "CallerExperience",
    "Event",
    "EventLog",
    "Harness",
    "Instance",
    "InstanceInfo",
    "NotSeenError",
    "OfficerExperience",
    "PlacedCall",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "officer_number",
    "parse_message",
]

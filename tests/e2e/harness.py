"""Test harness over the two sandbox Asterisks: the product's own (:mod:`callrouter.sandbox`,
which ``callrouter demo`` uses too), under the names the e2e modules import.

``Sandbox`` starts and stops a fresh pbx + pstn pair (synchronous: the session fixture uses it).
``Harness`` is the async side a test talks to (see :mod:`callrouter.sandbox.phones`).
"""

from __future__ import annotations

from callrouter.sandbox import (
    ANSWERS,
    BUSY,
    FAILS,
    HANGS_UP,
    INSTANCES,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    SANDBOX_SCRIPT,
    VOICEMAIL,
    AmiClient,
    CallerExperience,
    EventLog,
    Harness,
    Instance,
    InstanceInfo,
    OfficerExperience,
    PlacedCall,
    Sandbox,
    SandboxError,
    SandboxInfo,
    officer_number,
)
from callrouter.sandbox import Event as AmiEvent

SCRIPT = SANDBOX_SCRIPT

__all__ = [
    "ANSWERS",
    "BUSY",
    "FAILS",
    "HANGS_UP",
    "INSTANCES",
    "PRESSES_1",
    "PRESSES_9",
    "RINGS_FOREVER",
    "SCRIPT",
    "VOICEMAIL",
    "AmiClient",
    "AmiEvent",
    "CallerExperience",
    "EventLog",
    "Harness",
    "Instance",
    "InstanceInfo",
    "OfficerExperience",
    "PlacedCall",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "officer_number",
]

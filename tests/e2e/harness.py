"""Test harness over the two sandbox Asterisks: the product's own (:mod:`callrouter.sandbox`,
which ``callrouter demo`` uses too), under the names the e2e modules import.

``Sandbox`` starts and stops a fresh pbx + pstn pair (synchronous: the session fixture uses it).
``Harness`` is the async side a test talks to (see :mod:`callrouter.sandbox.phones`).
"""

from __future__ import annotations

from callrouter.sandbox import *  # noqa: F403 - every name of the package's harness
from callrouter.sandbox import Event

#: one event of either Asterisk (the name the e2e modules know it by)
AmiEvent = Event

"""What the sandbox's Asterisks (and, in the demo, the router's own log) say, in one ordered
log with waiting by predicate; and a minimal asyncio AMI client that feeds it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callrouter.sandbox.control import InstanceInfo, SandboxError


class NotSeenError(SandboxError, TimeoutError):
    """Nothing matching was seen in time (a :class:`TimeoutError` too)."""


@dataclass(frozen=True)
class Event:
    """One event: an AMI event of ``"pbx"``/``"pstn"`` (``fields`` as Asterisk sent them, the
    last value winning for repeats) or a router log line (``"callrouter"``)."""

    source: str
    fields: dict[str, Any]
    seq: int = 0

    @property
    def name(self) -> str:
        return self.get("Event")

    @property
    def user_event(self) -> str | None:
        return self.get("UserEvent") if self.name == "UserEvent" else None

    @property
    def timestamp(self) -> float:
        """Asterisk's own time of the event (manager.conf timestampevents=yes), epoch seconds."""
        return float(self.fields["Timestamp"])

    def get(self, key: str, default: str = "") -> str:
        value = self.fields.get(key, default)
        return default if value is None else str(value)

    def __getitem__(self, key: str) -> str:
        return str(self.fields[key])


class EventLog:
    """Every event seen, in arrival order, with waiting by predicate."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._seq = itertools.count()
        self._arrived = asyncio.Event()
        #: called with each event as it arrives (the demo prints progress lines from it)
        self.listener: Callable[[Event], None] | None = None

    def add(self, source: str, fields: dict[str, Any]) -> None:
        event = Event(source, fields, next(self._seq))
        self.events.append(event)
        self._arrived.set()
        if self.listener is not None:
            self.listener(event)

    def mark(self) -> int:
        """Where the log is now: ``wait_for(..., since=mark)`` looks only at what came after."""
        return len(self.events)

    def find(self, predicate: Callable[[Event], bool]) -> list[Event]:
        return [e for e in self.events if predicate(e)]

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        within: float,
        what: str = "event",
        *,
        since: int = 0,
    ) -> Event:
        """The first event from ``since`` on (already seen or future) matching ``predicate``,
        waiting at most ``within`` seconds (:class:`NotSeenError` naming ``what`` after that)."""
        deadline = time.monotonic() + within
        checked = since
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = max(checked, len(self.events))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotSeenError(f"{what}: not seen within {within:.0f} s")
            self._arrived.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the event is set, and the waiter would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()


class AmiClient:
    """Minimal asyncio AMI client: login, actions matched by ActionID, events to the log."""

    def __init__(self, source: str, info: InstanceInfo, log: EventLog) -> None:
        self.source = source
        self.info = info
        self.log = log
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[list[dict[str, str]]]] = {}
        self._lists: dict[str, list[dict[str, str]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        async with asyncio.timeout(5):
            reader, self._writer = await asyncio.open_connection("127.0.0.1", self.info.ami_port)
            await reader.readline()  # banner "Asterisk Call Manager/…"
        self._task = asyncio.create_task(self._read_loop(reader))
        res = await self.action(
            "Login", Username=self.info.harness_ami_user, Secret=self.info.harness_ami_secret
        )
        if res.get("Response") != "Success":
            raise SandboxError(f"{self.source} AMI login failed: {res.get('Message')}")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._dispatch(parse_message(await reader.readuntil(b"\r\n\r\n")))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SandboxError(f"{self.source} AMI connection closed"))

    def _dispatch(self, msg: dict[str, str]) -> None:
        action_id = msg.get("ActionID", "")
        if "Response" in msg and action_id in self._pending:
            if msg.get("EventList") == "start":
                self._lists[action_id] = [msg]
                return
            self._resolve(action_id, [msg])
        elif action_id in self._lists:
            items = self._lists[action_id]
            items.append(msg)
            if msg.get("EventList") == "Complete":
                del self._lists[action_id]
                self._resolve(action_id, items)
        elif "Event" in msg:
            self.log.add(self.source, msg)

    def _resolve(self, action_id: str, result: list[dict[str, str]]) -> None:
        fut = self._pending.pop(action_id)
        if not fut.done():
            fut.set_result(result)

    async def action_list(
        self, name: str, variables: dict[str, str] | None = None, wait: float = 10, **fields: str
    ) -> list[dict[str, str]]:
        """Send an action; the response, followed by the events of an event-list action."""
        if self._writer is None:
            raise SandboxError(f"{self.source} AMI: not connected")
        action_id = f"h{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        lines += [f"Variable: {k}={v}" for k, v in (variables or {}).items()]
        fut: asyncio.Future[list[dict[str, str]]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = fut
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        async with asyncio.timeout(wait):
            return await fut

    async def action(
        self, name: str, variables: dict[str, str] | None = None, wait: float = 10, **fields: str
    ) -> dict[str, str]:
        return (await self.action_list(name, variables, wait, **fields))[0]


def parse_message(raw: bytes) -> dict[str, str]:
    """One AMI message (``Key: value`` lines) as a dict; a ``Key:`` with nothing after is ``""``."""
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
        elif line.endswith(":"):
            out[line[:-1]] = ""
    return out

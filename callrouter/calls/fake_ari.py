"""ARI traces recorded from real end-to-end runs, and :class:`FakeAri` that replays them.

In the spirit of httpx's ``MockTransport``: :class:`FakeAri` is the real
:class:`~callrouter.asterisk.ari.AriClient` with its transport replaced — every typed command
(``originate``, ``play``…) goes through the client's own ``request`` (errors by status, JSON)
down to ``_exchange``, which here answers from the trace instead of the network, and
:meth:`FakeAri.run_events` feeds the trace's events to the application. So the ARI call flow
(:class:`~callrouter.asterisk.stasis_app.StasisApp`) runs unchanged, in milliseconds, against
what Asterisk really sent.

A trace is JSON lines, in the order the router saw them: ``{"rest": METHOD, "path", "params",
"body", "status", "text"}`` for each REST exchange and ``{"event": {…}}`` for each event of
the router's Stasis application. Record them again (after an Asterisk upgrade or a change of
the flow) with::

    CALLROUTER_ARI_TRACES=tests/unit/ari_traces CALLROUTER_SANDBOX_SLOT=4 .venv/bin/pytest -n 0 \\
      tests/e2e/test_calls.py tests/e2e/test_calls_confirm.py -k "ari and not postgresql and \\
      (busy or never_answers or simultaneous or message or forward or \\
      caller_hangs_up_while_ringing or max_wait or confirm_number or \\
      sequential_ringing_and_an_officer)"

(the one command, also in the README's "Tests" section.)

(tests/e2e/conftest.py installs :class:`TraceWriter` for each test; one file per test.)

Replaying. The ids the router makes up (officer legs, playbacks, bridges, recordings) differ
from run to run: a command is matched to the first unused recorded command of the same
method and path shape (ids as ``*``), and the ids in the two paths (and a recording's
``name``) are paired; from then on the recorded id is replaced by the router's own in
every response and event. An event is released once the recorded command just before it
has been matched — or once the router has issued nothing for :attr:`FakeAri.stall` seconds
(a timer of the flow: the ring timeout, a reminder). A command the trace does not hold is
answered ``None`` and kept in :attr:`FakeAri.unexpected`.

Time. By default events follow each other as fast as the router takes them, which is right
for a flow that only reacts. A flow whose own timers matter (max wait, the press-1 deadline,
the hold reminder) is replayed ``paced=True``: each event is released no earlier than its
recorded time after the first event (its ``timestamp``), on the loop's clock. Run that on
:class:`VirtualClockLoop` (:func:`run_in_virtual_time`), whose clock jumps to the next timer
whenever nothing is ready: a 30-second call replays in milliseconds with the flow's timers
firing where they fired in the real run.
"""

from __future__ import annotations

import asyncio
import json
import selectors
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from callrouter.asterisk import contract
from callrouter.asterisk.ari import (
    AriClient,
    ConnectedHandler,
    EventHandler,
)

Step = dict[str, Any]
T = TypeVar("T")

#: the environment variable naming the folder the e2e tests record traces into
TRACES_ENV: Final = "CALLROUTER_ARI_TRACES"
#: path segments after these are ids (made up by the router or by Asterisk)
_ID_PARENTS: Final = frozenset({"channels", "bridges", "playbacks", "live", "play"})


def load_trace(path: Path) -> list[Step]:
    """The steps of a recorded trace, naming the file and line of a bad one."""
    steps: list[Step] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            step = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(step, dict) or not ("event" in step or "rest" in step):
            raise ValueError(f"{path}:{number}: neither a REST exchange nor an event")
        steps.append(step)
    return steps


class TraceWriter:
    """An :data:`~callrouter.asterisk.ari.AriClient.tracer` writing the steps of the
    clients of one Stasis application (not the test harness's own) to a JSON-lines file."""

    def __init__(self, path: Path, *, app: str = contract.APP_NAME) -> None:
        self.path = path
        self.app = app
        self._lines: list[str] = []

    def __call__(self, client: AriClient, step: Step) -> None:
        if client.app == self.app:
            self._lines.append(json.dumps(step, ensure_ascii=False, sort_keys=True))

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("\n".join(self._lines) + "\n", encoding="utf-8")


def recorded_at(event: Mapping[str, Any]) -> float | None:
    """An ARI event's ``timestamp`` (``2026-12-03T20:21:57.943+0000``) as epoch seconds."""
    text = event.get("timestamp")
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without waiting; where the loop would sleep until its next timer, moves the
    loop's clock there instead — unless a worker thread of the loop is still running, whose
    end is real I/O the loop must wait for (a jump would fire every timeout meanwhile)."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer at all: only I/O can wake the loop
            return super().select(None)
        if self._loop.working:
            return super().select(min(timeout, 0.01))  # real time for the thread's answer
        self._loop.now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: whenever no callback is ready, its clock jumps to the
    next timer (``asyncio.sleep``, ``wait_for`` timeouts), so timers fire in order at their
    own times without the wall clock waiting for them."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        #: executor jobs (``asyncio.to_thread``…) still running: the clock waits for them
        self.working = 0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def run_in_executor(  # type: ignore[override]  # typeshed's TypeVarTuple form
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.working += 1

        def done(_f: object) -> None:
            self.working -= 1

        future.add_done_callback(done)
        return future


def run_in_virtual_time(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on a fresh :class:`VirtualClockLoop` (cleaned up as
    ``asyncio.run`` does: leftover tasks cancelled, the default executor shut down)."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(coro)


def path_shape(path: str) -> tuple[str, ...]:
    """``/channels/<id>/play/<id>`` → ``("channels", "*", "play", "*")``."""
    parts = path.strip("/").split("/")
    return tuple(
        "*" if i > 0 and parts[i - 1] in _ID_PARENTS else part for i, part in enumerate(parts)
    )


class FakeAri(AriClient):
    """An :class:`AriClient` whose REST and events come from a recorded trace."""

    #: seconds without a command from the router before the next event is released anyway
    stall: float = 0.05

    def __init__(
        self,
        steps: Iterable[Step],
        *,
        app: str = contract.APP_NAME,
        rewrite: Callable[[list[Step]], list[Step]] | None = None,
        paced: bool = False,
    ) -> None:
        super().__init__("http://ari.invalid", "replay", "replay", app)
        #: release each event no earlier than its recorded time (see the module's "Time")
        self.paced = paced
        self.steps = list(steps) if rewrite is None else rewrite(list(steps))
        self._used: set[int] = set()
        self._ids: dict[str, str] = {}
        self._progress = asyncio.Event()
        #: (method, path) of the commands the trace does not hold
        self.unexpected: list[tuple[str, str]] = []
        #: every command the router issued, in order (method, path, params)
        self.issued: list[tuple[str, str, dict[str, str]]] = []
        self.replayed = asyncio.Event()  # set once every event has been delivered

    async def __aenter__(self) -> FakeAri:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # ------------------------------------------------------------------ REST

    async def _exchange(
        self, method: str, path: str, params: dict[str, str], body: Mapping[str, Any] | None
    ) -> tuple[int, str, str]:
        self.issued.append((method, path, params))
        await asyncio.sleep(0)  # a real request always yields to the loop
        index = self._match(method, path)
        if index is None:
            self.unexpected.append((method, path))
            return 200, "", ""
        step = self.steps[index]
        self._used.add(index)
        self._pair_ids(step, path, params)
        self._progress.set()
        return int(step.get("status", 200)), self._mapped(str(step.get("text") or "")), "replayed"

    def _match(self, method: str, path: str) -> int | None:
        shape = path_shape(path)
        candidates = [
            i
            for i, step in enumerate(self.steps)
            if i not in self._used
            and step.get("rest") == method
            and path_shape(str(step.get("path", ""))) == shape
        ]
        wanted = path.strip("/").split("/")
        paired = set(self._ids.values())
        for i in candidates:  # ids already paired must agree; new ones pair up
            recorded = str(self.steps[i]["path"]).strip("/").split("/")
            if all(
                self._ids.get(old, old) == new
                or (old not in self._ids and new not in paired and old != new)
                for old, new in zip(recorded, wanted, strict=True)
            ):
                return i
        return None

    def _pair_ids(self, step: Step, path: str, params: Mapping[str, str]) -> None:
        recorded = str(step["path"]).strip("/").split("/")
        for old, new in zip(recorded, path.strip("/").split("/"), strict=True):
            if old != new and old not in self._ids:
                self._ids[old] = new
        old_name = (step.get("params") or {}).get("name")
        new_name = params.get("name")
        if old_name and new_name and old_name != new_name:
            self._ids.setdefault(old_name, new_name)

    def _mapped(self, text: str) -> str:
        for old, new in self._ids.items():
            text = text.replace(old, new)
        return text

    # ------------------------------------------------------------------ events

    async def run_events(
        self, on_event: EventHandler, on_connected: ConnectedHandler | None = None
    ) -> None:
        """Deliver the trace's events in order, each once the router has issued the
        command recorded just before it (or has been quiet for :attr:`stall`), then wait
        until cancelled, like a socket that stays open."""
        self._ready.set()
        if on_connected is not None:
            await on_connected()
        loop = asyncio.get_running_loop()
        origin: tuple[float, float] | None = None  # (loop time, recorded time) of the first
        last_rest: int | None = None
        for index, step in enumerate(self.steps):
            if "rest" in step:
                last_rest = index
                continue
            while last_rest is not None and last_rest not in self._used:
                self._progress.clear()
                try:
                    await asyncio.wait_for(self._progress.wait(), self.stall)
                except TimeoutError:
                    break
            at = recorded_at(step["event"]) if self.paced else None
            if at is not None:
                # The clock starts when the first event is released (not before a stall).
                if origin is None:
                    origin = (loop.time(), at)
                delay = origin[0] + (at - origin[1]) - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._dispatch(self._mapped(json.dumps(step["event"])), on_event)
            await asyncio.sleep(0)
        self.replayed.set()
        await asyncio.Event().wait()

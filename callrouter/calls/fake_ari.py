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
      tests/e2e/test_calls.py tests/e2e/test_calls_confirm.py tests/e2e/test_caller_experience.py \\
      tests/e2e/test_faults.py tests/e2e/test_hangup_at_answer.py \\
      -k "not agi and not postgresql and not restarts and (busy_then_second or never_answers or \\
      simultaneous or message_action or nobody_answers_and_a_forward or caller_hangs_up or \\
      max_wait or confirm_number or officer_hangs_up or first_number_answers or every_moment or \\
      as_the_officer_answers or hangs_up_while_speaking or closed_and_forward_then_forward or \\
      rotate)"

(the one command, also in the README's "Tests" section.)

(tests/e2e/conftest.py installs :class:`TraceWriter` for each test; one file per test.)

Replaying. The ids the router makes up (officer legs, playbacks, bridges, recordings) differ
from run to run: a command is matched to an unused recorded command of the same method and
path shape (ids as ``*``) — of several, the one needing fewest new id pairs, then whose
parameters agree best (with several calls at once, a leg's ``originator`` names its caller),
then the first — and the ids in the two paths (and a recording's ``name``) are paired; from
then on the recorded id is replaced by the router's own in every response and event. An id
the trace itself holds (a caller's channel) is never paired with another. An event is
released once the recorded command just before it has been matched — or once the router
has issued nothing for :attr:`FakeAri.stall` seconds (a timer of the flow: the ring timeout,
a reminder); a command's answer comes back once every event recorded before it is out, as
the recorded router saw them (a caller's hang-up before the 400 of its ``addChannel``). A
command the trace does not hold is answered ``None`` and kept in :attr:`FakeAri.unexpected`.

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
    ReplacedHandler,
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


def recorded_ids(steps: Iterable[Step]) -> frozenset[str]:
    """The ids in the trace's REST paths and the channels of its events."""
    ids: set[str] = set()
    for step in steps:
        if "rest" in step:
            parts = str(step.get("path", "")).strip("/").split("/")
            ids.update(
                p for p, s in zip(parts, path_shape("/".join(parts)), strict=True) if s == "*"
            )
        elif channel := (step["event"].get("channel") or {}).get("id"):
            ids.add(str(channel))
    return frozenset(ids)


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
        #: ids the trace itself holds (Asterisk's channels, the recorded router's own): an id
        #: the router sends that is one of these is that id, never a stand-in for another
        self._recorded_ids = recorded_ids(self.steps)
        #: the index of the next step run_events delivers (every event before it is out);
        #: None until it delivers (the commands of its on_connected come back at once)
        self._cursor: int | None = None
        self._advanced = asyncio.Event()
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
        index = self._match(method, path, params)
        if index is None:
            self.unexpected.append((method, path))
            return 200, "", ""
        step = self.steps[index]
        self._used.add(index)
        self._pair_ids(step, path, params)
        self._progress.set()
        # The recorded router had every event before this response when it came back
        # (ci: a caller's hang-up reached the router before its addChannel's 400): answer
        # once those are out, or the replay would reorder cause and effect.
        while self._cursor is not None and any(
            "event" in s for s in self.steps[self._cursor : index]
        ):
            self._advanced.clear()
            await self._advanced.wait()
        return int(step.get("status", 200)), self._mapped(str(step.get("text") or "")), "replayed"

    def _match(self, method: str, path: str, params: Mapping[str, str]) -> int | None:
        """The unused recorded command this one stands for: same method and path shape, ids
        already paired agreeing, a new id pairing only with a recorded id not yet paired;
        of those, the one needing fewest new pairs, then whose parameters agree best (with
        several calls at once, an officer leg's ``originator`` and ``appArgs`` name its
        caller), then the first."""
        shape = path_shape(path)
        wanted = path.strip("/").split("/")
        paired = set(self._ids.values())
        best: tuple[int, int, int] | None = None  # (-new pairs, agreeing parameters, -index)
        for i, step in enumerate(self.steps):
            if (
                i in self._used
                or step.get("rest") != method
                or path_shape(str(step.get("path", ""))) != shape
            ):
                continue
            new_pairs = self._new_pairs(str(step["path"]).strip("/").split("/"), wanted, paired)
            if new_pairs is None:
                continue
            agree = sum(
                self._mapped(str(value)) == params.get(key)
                for key, value in (step.get("params") or {}).items()
            )
            rank = (-new_pairs, agree, -i)
            if best is None or rank > best:
                best = rank
        return None if best is None else -best[2]

    def _new_pairs(self, recorded: list[str], wanted: list[str], paired: set[str]) -> int | None:
        """How many new id pairs the recorded path needs to stand for ``wanted``; None if an
        id already paired disagrees or a new one may not pair (see :meth:`_match`)."""
        count = 0
        for old, new in zip(recorded, wanted, strict=True):
            if self._ids.get(old, old) == new:
                continue
            if old in self._ids or new in paired or new in self._recorded_ids:
                return None
            count += 1
        return count

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
        self,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None = None,
        on_replaced: ReplacedHandler | None = None,
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
            self._cursor = index
            self._advanced.set()
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
            self._cursor = index + 1
            self._advanced.set()
            await asyncio.sleep(0)
        self._cursor = len(self.steps)
        self._advanced.set()
        self.replayed.set()
        await asyncio.Event().wait()

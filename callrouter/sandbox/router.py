"""``callrouter serve`` in this event loop, started and stopped on demand, its log lines on an
:class:`~callrouter.sandbox.ami.EventLog` beside what the Asterisks said."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import structlog

from callrouter.app import ServeOptions, serve
from callrouter.asterisk.cdr_import import serve_importer
from callrouter.sandbox.ami import EventLog
from callrouter.sandbox.control import SandboxError
from callrouter.settings import Settings


class LogTap:
    """A structlog processor: every router log event also goes on the log (source
    ``"callrouter"``)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        self.log.add("callrouter", dict(event_dict))
        return event_dict


@contextlib.contextmanager
def router_logs(path: Path, log: EventLog) -> Iterator[None]:
    """The router logs JSON lines to ``path`` (as in production), tapped onto ``log``."""
    previous = structlog.get_config()
    with path.open("a", encoding="utf-8") as sink:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                LogTap(log),
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            logger_factory=structlog.PrintLoggerFactory(file=sink),
            cache_logger_on_first_use=False,
        )
        try:
            yield
        finally:
            structlog.configure(**previous)


class Router:
    """What ``callrouter serve`` runs: :func:`callrouter.app.serve` and, with ``cdr_file``,
    beside it the importer of the calls the dialplan fallback handled (every
    ``import_interval`` seconds; 30 in ``serve``). ``make_options`` gives each start its own
    :class:`ServeOptions` (they hold the run's metrics, live calls and reload event)."""

    def __init__(
        self,
        settings: Settings,
        make_options: Callable[[], ServeOptions],
        *,
        cdr_file: Path | None = None,
        import_interval: float = 2.0,
        ready_within: float = 30.0,
    ) -> None:
        self.settings = settings
        self.make_options = make_options
        self.options = make_options()
        self.cdr_file = cdr_file
        self.import_interval = import_interval
        self.ready_within = ready_within
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._importer: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def task(self) -> asyncio.Task[None]:
        """The running serve task."""
        if self._task is None:
            raise SandboxError("callrouter serve is not running")
        return self._task

    async def start(self) -> None:
        """Returns once serve's ARI events flow (:class:`SandboxError` if they do not)."""
        self._stop = asyncio.Event()
        self.options = self.make_options()
        started = asyncio.Event()
        task = asyncio.create_task(
            serve(self.settings, self._stop, options=self.options, started=started)
        )
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=self.ready_within, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            waiter.cancel()
            task.result()  # raises what stopped it
            raise SandboxError("callrouter serve stopped before it was ready")
        if waiter not in done:
            waiter.cancel()
            task.cancel()
            await asyncio.wait({task}, timeout=10)
            raise SandboxError(
                f"callrouter serve did not connect to ARI within {self.ready_within:.0f} s"
            )
        self._task = task
        if self.cdr_file is not None:
            self._importer = asyncio.create_task(
                serve_importer(
                    self.settings,
                    cdr_path=self.cdr_file,
                    interval=self.import_interval,
                    first_delay=0.5,
                )
            )

    async def stop(self) -> None:
        """Stops the importer, then serve (which drains the calls in progress)."""
        importer, self._importer = self._importer, None
        if importer is not None:
            importer.cancel()
            await asyncio.wait({importer}, timeout=10)
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        done, _ = await asyncio.wait({task}, timeout=30)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=10)
        elif not task.cancelled() and task.exception() is not None:
            raise SandboxError(f"callrouter serve failed: {task.exception()}")

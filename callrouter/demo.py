"""``callrouter demo``: the main job, end to end, on this machine.

It starts a fresh pair of real Asterisk 22 instances (``scripts/asterisk-sandbox``: **pbx**
runs the shipped dialplan, **pstn** plays the telephone network), runs the real router
(:func:`callrouter.app.serve`) on an embedded SQLite database with ``config/rota.demo.yaml``,
and places calls from the pstn to 1022 → branch 3, one scene at a time:

1. answered at once; 2. busy → the next officer; 3. no answer → the next officer after the
ring timeout; 4. a mobile marked "press 1" accepts; 5. a voicemail box picks up and is
refused (no key), the next officer answers; 6. the caller hangs up while it rings
(abandoned); 7. after hours, the caller leaves a message for a call-back (the demo closes
the line with a rota override, as an admin would for a closed day: the demo's wall-clock
time is whatever it is); 8. callrouter is stopped and the dialplan fallback rings the
registered numbers by itself; once callrouter is back it imports that call from
Asterisk's CDR file, as ``callrouter serve`` does.

Each scene's duty list is an override for today written into the demo's working copy of
the rota, which the running router reloads live. Every step is printed as it happens:
the router's own log events (``callrouter``) and what the simulated phones did (``pstn``).
Each call's ``calls``/``call_attempts`` rows are then read back from the database and
compared with what the scene expects. At the end the month's report is printed with
``callrouter report monthly`` and written as XLSX and DOCX, and the call-backs waiting are
listed with ``callrouter callbacks list``.

Nothing is mocked: real SIP between two Asterisks, real ARI, a real database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import sys
import time
import wave
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

import aiohttp
import structlog
from pydantic import SecretStr
from sqlalchemy import select

from callrouter.app import ServeOptions, serve
from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import CDR_FILENAME, STATE_FILENAME, serve_importer
from callrouter.errors import CallrouterError, ConfigError
from callrouter.rota import Rota, load_rota, parse_rota
from callrouter.settings import DEFAULT_STATE_DIR, Settings
from callrouter.store.db import make_engine
from callrouter.store.models import Call, CallAttempt, Callback
from callrouter.web.settings import WebSettings

REPO = Path(__file__).resolve().parents[1]
SANDBOX_SCRIPT = REPO / "scripts" / "asterisk-sandbox"
DEMO_ROTA = REPO / "config" / "rota.demo.yaml"
DEFAULT_DEMO_DIR = DEFAULT_STATE_DIR / "demo"

CALLS = Call.__table__
ATTEMPTS = CallAttempt.__table__
CALLBACKS = Callback.__table__


class DemoError(CallrouterError):
    """The demo could not run (sandbox, router or an unexpected call result)."""


# ---------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Scene:
    """One call of the demo: who is on duty, what the caller does, what the log must say."""

    title: str
    duty: tuple[tuple[str, str], ...] = ()  # (officer id, at) in ring order
    closed: bool = False  # an override closing the line (after-hours)
    router_up: bool = True  # False: callrouter is stopped, the dialplan fallback works
    talk: float | None = 3.0  # seconds the caller talks once put through
    abandon_after: float | None = None  # caller hangs up this long after the first ring
    leaves_message: bool = False  # after the beep the caller speaks, then presses #
    outcome: str | None = None  # expected calls.outcome (None: no row expected)
    mode: str = "ari"  # expected calls.mode (fallback: imported from Asterisk's CDR)
    results: tuple[str, ...] = ()  # expected call_attempts.result, in order
    answered_by: str | None = None  # expected answered_officer_id
    callback: str | None = None  # expected callbacks.reason of a call-back entry


SCENES: tuple[Scene, ...] = (
    Scene(
        "Cán bộ trực nhấc máy ngay / answered at once",
        duty=(("lan", "may-co-quan"), ("thao", "di-dong-truc")),
        outcome="answered",
        results=("answered",),
        answered_by="lan",
    ),
    Scene(
        "Máy bận → chuyển người tiếp theo / busy → next officer",
        duty=(("dung", "own"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("busy", "answered"),
        answered_by="lan",
    ),
    Scene(
        "Không nghe máy → hết 5 giây chuyển tiếp / no answer → next after the ring timeout",
        duty=(("huong", "own"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("no_answer", "answered"),
        answered_by="lan",
    ),
    Scene(
        "Di động trực: bấm phím 1 để nhận / a mobile accepts by pressing 1",
        duty=(("thao", "di-dong-truc"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("answered",),
        answered_by="thao",
    ),
    Scene(
        "Hộp thư thoại nhấc máy: bị từ chối / voicemail picks up: refused, next officer",
        duty=(("minh", "own"), ("lan", "may-co-quan")),
        outcome="answered",
        results=("no_answer", "answered"),
        answered_by="lan",
    ),
    Scene(
        "Người gọi gác máy khi đang chờ / caller hangs up while it rings (abandoned)",
        duty=(("huong", "own"), ("lan", "may-co-quan")),
        talk=None,
        abandon_after=2.0,
        outcome="abandoned",
        results=("cancelled",),
    ),
    Scene(
        "Ngoài giờ trực: để lại lời nhắn / after hours: the caller leaves a message",
        closed=True,
        talk=None,
        leaves_message=True,
        outcome="after_hours",
        callback="after_hours_message",
    ),
    Scene(
        "callrouter đang dừng → dialplan dự phòng / router stopped → dialplan fallback",
        router_up=False,
        outcome="answered",
        mode="fallback",
    ),
)


def scene_rota_text(base: str, scene: Scene, today: date) -> str:
    """The base rota plus one override for today and tomorrow: the scene's duty, or closed."""
    if "\noverrides:" in "\n" + base:
        raise ConfigError("the demo rota must not have an 'overrides' section (the demo adds one)")
    lines = [
        "",
        "# --- added by callrouter demo for this scene ---",
        "overrides:",
        f"  - from: {today.isoformat()}",
        f"    to: {(today + timedelta(days=1)).isoformat()}",
        f'    reason: "Demo: {scene.title}"',
    ]
    if scene.closed:
        lines.append("    closed: true")
    else:
        lines.append("    duty:")
        lines += [f"      - {{ officer: {who}, at: {at} }}" for who, at in scene.duty]
    return base.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- printing


class Console:
    """One readable line per event, timed from the start of the current call."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.t0: float | None = None
        self.closed = False

    def line(self, text: str) -> None:
        if self.closed:
            return
        try:
            print(text, file=self.out, flush=True)
        except OSError:  # the terminal or pipe went away (e.g. `| head`): keep going quietly
            self.closed = True

    def heading(self, text: str) -> None:
        self.line("")
        self.line(text)

    def event(self, who: str, text: str) -> None:
        stamp = f"+{time.monotonic() - self.t0:5.1f}s" if self.t0 is not None else " " * 7
        self.line(f"  {stamp}  {who:<10} {text}")


# ----------------------------------------------------------------------------- event board


@dataclass(frozen=True)
class Seen:
    source: str  # "callrouter" (its log) or "pstn" (AMI)
    fields: dict[str, Any]

    def get(self, key: str, default: str = "") -> str:
        value = self.fields.get(key, default)
        return default if value is None else str(value)


class Board:
    """Everything seen during the demo, in order, with waiting by predicate."""

    def __init__(self) -> None:
        self.items: list[Seen] = []
        self._arrived: asyncio.Event = asyncio.Event()
        #: called with each item as it arrives (the demo prints progress lines from it)
        self.listener: Callable[[Seen], None] | None = None

    def add(self, item: Seen) -> None:
        self.items.append(item)
        self._arrived.set()
        if self.listener is not None:
            self.listener(item)

    def mark(self) -> int:
        return len(self.items)

    async def wait_for(
        self, pred: Callable[[Seen], bool], *, since: int, within: float, what: str
    ) -> Seen:
        deadline = time.monotonic() + within
        checked = since
        while True:
            for item in self.items[checked:]:
                if pred(item):
                    return item
            checked = len(self.items)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DemoError(f"{what}: not seen within {within:.0f} s")
            self._arrived.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the event is set, and the waiter would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()


# --------------------------------------------------------------------------------- sandbox


@dataclass(frozen=True)
class Endpoint:
    ami_port: int
    ami_user: str
    ami_secret: str
    ari_url: str
    ari_user: str
    ari_password: str
    etc_dir: Path
    log_dir: Path

    @property
    def rootfs(self) -> Path:
        """The sandbox's root filesystem (``etc_dir`` is ``<root>/srv/sandbox/slotN/pbx/etc``)."""
        return self.etc_dir.parents[4]


class Sandbox:
    """``scripts/asterisk-sandbox`` on one slot, driven without blocking the loop."""

    def __init__(self, script: Path, slot: int, console: Console) -> None:
        self.script = script
        self.slot = slot
        self.console = console
        self.env = {**os.environ, "CALLROUTER_SANDBOX_SLOT": str(slot)}
        self.started = False

    async def run(self, *args: str, echo: bool = False, limit: float = 900) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(self.script),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None  # noqa: S101 - PIPE requested above
        lines: list[str] = []
        try:
            async with asyncio.timeout(limit):
                while raw := await proc.stdout.readline():
                    text = raw.decode("utf-8", "replace").rstrip()
                    lines.append(text)
                    if echo and text:
                        self.console.line(f"    {text}")
                rc = await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        output = "\n".join(lines)
        if rc != 0:
            raise DemoError(f"{self.script.name} {' '.join(args)} failed ({rc}):\n{output}")
        return output

    async def start(self) -> tuple[Endpoint, Endpoint]:
        if os.geteuid() != 0:
            raise DemoError("the Asterisk sandbox needs root (chroot, mounts): run as root")
        if not self.script.exists():
            raise DemoError(f"{self.script} is missing (run the demo from a source checkout)")
        self.started = True
        await self.run("start", echo=True)
        raw = json.loads(await self.run("env", limit=60))

        def endpoint(d: dict[str, Any]) -> Endpoint:
            return Endpoint(
                ami_port=int(d["ami_port"]),
                ami_user=d["ami_user"],
                ami_secret=d["ami_secret"],
                ari_url=d["ari_url"],
                ari_user=d["ari_user"],
                ari_password=d["ari_password"],
                etc_dir=Path(d["etc_dir"]),
                log_dir=Path(d["log_dir"]),
            )

        return endpoint(raw["pbx"]), endpoint(raw["pstn"])

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self.run("stop", limit=120)


# ------------------------------------------------------------------------- the phone network


class Pstn:
    """The simulated telephone network: AMI (place calls, see what phones do) and ARI (end
    a caller's call when the scene says the caller hangs up)."""

    def __init__(self, ep: Endpoint, board: Board) -> None:
        self.ep = ep
        self.board = board
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.ep.ami_port), 10
        )
        self._reader = reader
        await asyncio.wait_for(reader.readline(), 10)  # "Asterisk Call Manager/…"
        self._task = asyncio.create_task(self._read_loop())
        res = await self.action("Login", Username=self.ep.ami_user, Secret=self.ep.ami_secret)
        if res.get("Response") != "Success":
            raise DemoError(f"pstn AMI login refused: {res.get('Message')}")
        token = base64.b64encode(f"{self.ep.ari_user}:{self.ep.ari_password}".encode()).decode()
        self._http = aiohttp.ClientSession(
            headers={"Authorization": f"Basic {token}"},
            timeout=aiohttp.ClientTimeout(total=10),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_loop(self) -> None:
        assert self._reader is not None  # noqa: S101 - set before the task starts
        try:
            while True:
                raw = await self._reader.readuntil(b"\r\n\r\n")
                msg: dict[str, str] = {}
                for line in raw.decode("utf-8", "replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        msg[key] = value
                action_id = msg.get("ActionID", "")
                if "Response" in msg and action_id in self._pending:
                    fut = self._pending.pop(action_id)
                    if not fut.done():
                        fut.set_result(msg)
                elif msg.get("Event") in ("UserEvent", "OriginateResponse"):
                    self.board.add(Seen("pstn", dict(msg)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(DemoError("pstn AMI connection closed"))

    async def action(
        self, name: str, variables: dict[str, str] | None = None, **fields: str
    ) -> dict[str, str]:
        assert self._writer is not None  # noqa: S101 - connected in __aenter__
        action_id = f"demo{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        lines += [f"Variable: {k}={v}" for k, v in (variables or {}).items()]
        fut: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = fut
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        async with asyncio.timeout(10):
            return await fut

    async def call_1022(
        self, tag: str, caller: str, *, hold: float, message_after: float | None = None
    ) -> None:
        """A citizen dials 1022 and presses 3 (health) once the menu answers; with
        ``message_after``, that many seconds later they speak (the pstn plays a recorded
        voice into the call) and press #."""
        res = await self.action(
            "Originate",
            variables={
                "CALLER_TAG": tag,
                "CALLER_DIGITS": "3",
                "CALLER_DIGIT_DELAY": "0.5",
                "CALLER_HOLD": str(hold),
                "CALLER_SAY": "vm-intro" if message_after is not None else "",
                "CALLER_SAY_AFTER": f"{message_after or 0:.1f}",
                "CALLER_THEN_DIGITS": "#" if message_after is not None else "",
            },
            Channel="PJSIP/1022@pbx",
            Context="caller",
            Exten="s",
            Priority="1",
            CallerID=f'"{caller}" <{caller}>',
            Timeout="15000",
            Async="true",
            ChannelId=tag,
        )
        if res.get("Response") != "Success":
            raise DemoError(f"pstn refused to place the call: {res.get('Message')}")

    async def caller_hangs_up(self, tag: str) -> None:
        """The caller puts the phone down (their channel on the pstn ends)."""
        assert self._http is not None  # noqa: S101 - connected in __aenter__
        with contextlib.suppress(aiohttp.ClientError):
            async with self._http.delete(f"{self.ep.ari_url}/channels/{tag}"):
                pass


# ---------------------------------------------------------------------------------- router


class LogTap:
    """A structlog processor: every router log event also goes on the board."""

    def __init__(self, board: Board) -> None:
        self.board = board

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        self.board.add(Seen("callrouter", dict(event_dict)))
        return event_dict


@contextlib.contextmanager
def router_logs(path: Path, board: Board) -> Iterator[None]:
    """The router logs JSON lines to ``path`` (as in production); the demo taps them."""
    previous = structlog.get_config()
    with path.open("a", encoding="utf-8") as sink:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                LogTap(board),
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
    """What ``callrouter serve`` runs, in this event loop, started and stopped on demand:
    :func:`callrouter.app.serve` and, beside it, the importer of the calls the dialplan
    fallback handled (from Asterisk's CDR file)."""

    def __init__(self, settings: Settings, cdr_file: Path) -> None:
        self.settings = settings
        self.cdr_file = cdr_file
        self.options = self._options()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._importer: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self.options = self._options()
        started = asyncio.Event()
        task = asyncio.create_task(
            serve(self.settings, self._stop, options=self.options, started=started)
        )
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            waiter.cancel()
            task.result()
            raise DemoError("callrouter serve stopped before it was ready")
        if waiter not in done:
            waiter.cancel()
            task.cancel()
            await asyncio.wait({task}, timeout=10)
            raise DemoError("callrouter serve did not connect to the pbx's ARI within 30 s")
        self._task = task
        # As `callrouter serve` does (every 30 s there; every 2 s here, for a short demo).
        self._importer = asyncio.create_task(
            serve_importer(self.settings, cdr_path=self.cdr_file, interval=2, first_delay=0.5)
        )

    @staticmethod
    def _options() -> ServeOptions:
        # The rota file is watched as in production, only more often, so a scene's rota is
        # in force half a second after the demo saves it; the admin web is not started.
        return ServeOptions(drain_seconds=10, rota_poll_seconds=0.5, web=WebSettings(enabled=False))

    async def stop(self) -> None:
        importer, self._importer = self._importer, None
        if importer is not None:
            importer.cancel()
            await asyncio.wait({importer}, timeout=10)
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        done, _ = await asyncio.wait({task}, timeout=30)  # it drains calls in progress
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=10)
        elif not task.cancelled() and task.exception() is not None:
            raise DemoError(f"callrouter serve failed: {task.exception()}")


# ------------------------------------------------------------------------------ narration


def _phone_names(rota: Rota) -> dict[str, str]:
    names: dict[str, str] = {}
    for number in rota.numbers:
        names[number.number] = f"máy {number.label}"
    for officer in rota.officers:
        names.setdefault(officer.phone, officer.name)
    return names


def narrate(
    item: Seen, phones: dict[str, str], caller: str, tag: str | None = None
) -> tuple[str, str] | None:
    """The progress line for one event of the current call (the caller's number, and the
    caller's channel ``tag`` on the pstn), or None to stay quiet."""
    f = item.fields
    if item.source == "pstn":
        ue = f.get("UserEvent") or ""
        number = f.get("Number", "")
        who = f"{phones.get(number, number)} ({number})"
        if ue.startswith("Officer") and f.get("Caller") != caller:
            return None
        if ue.startswith("Caller") and tag is not None and f.get("Tag") != tag:
            return None
        match ue:
            case "CallerAnswered":
                return "người gọi", "tổng đài 1022 nhấc máy, nghe lời chào / menu answers"
            case "CallerSentDigits":
                return "người gọi", f"đã bấm phím {f.get('Digits')} (y tế / health)"
            case "CallerSaid":
                return "người gọi", "(đã nói lời nhắn, bấm # để kết thúc) / said it, pressed #"
            case "CallerHangup":
                return (
                    "người gọi",
                    f"máy người gọi đã ngắt / caller's line closed (cause {f.get('Cause')})",
                )
            case "OfficerRinging":
                return "điện thoại", f"{who} đổ chuông / ringing"
            case "OfficerAnswered":
                return "điện thoại", f"{who} nhấc máy / picked up"
            case "OfficerPressed":
                return "điện thoại", f"{who} bấm phím {f.get('Digit')} / pressed"
            case "OfficerHangup":
                return "điện thoại", f"{who} kết thúc / hung up (cause {f.get('Cause')})"
        return None
    event = f.get("event")
    match event:
        case "call.received":
            state = "mở / open" if f.get("open") else "đóng / closed"
            reason = str(f.get("reason"))
            if reason.startswith("override: Demo:"):
                reason = "theo lịch trực hôm nay / today's override"
            return "callrouter", f"nhận cuộc gọi: {state} — {reason}"
        case "leg.confirming":
            return "callrouter", f"hỏi {f.get('officer')}: bấm 1 để nhận / asks to press 1"
        case "leg.not_confirmed":
            return "callrouter", "không bấm phím 1 (hộp thư?) → coi như không nghe / not confirmed"
        case "leg.declined":
            return "callrouter", f"cán bộ từ chối (phím {f.get('digit')}) / declined"
        case "leg.ended":
            return "callrouter", f"lượt gọi {f.get('seq')} kết thúc: {f.get('result')}"
        case "call.bridged":
            return "callrouter", f"nối máy người gọi với {f.get('officer')} / bridged"
        case "call.ended":
            return "callrouter", f"cuộc gọi kết thúc: {f.get('outcome')}"
        case "call.message_left":
            return "callrouter", "đã ghi lời nhắn, tạo yêu cầu gọi lại / message saved"
        case "cdr.fallback_call":
            return "callrouter", f"nhập cuộc gọi dự phòng từ CDR: {f.get('outcome')} / imported"
        case "call.handed_to_dialplan":
            return "callrouter", f"trả cuộc gọi về dialplan ({f.get('action')})"
    return None


# ------------------------------------------------------------------------------------ demo


@dataclass
class SceneResult:
    scene: Scene
    caller: str
    call: dict[str, Any] | None
    attempts: list[dict[str, Any]]
    rung: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DemoResult:
    state_dir: Path
    database_url: str
    scenes: list[SceneResult]
    reports: dict[str, Path]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scenes)


@dataclass
class DemoOptions:
    slot: int = 0
    state_dir: Path = DEFAULT_DEMO_DIR
    rota: Path = DEMO_ROTA
    sandbox_script: Path = SANDBOX_SCRIPT
    scenes: tuple[Scene, ...] = SCENES


class Demo:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.o = options
        self.c = console
        self.board = Board()
        self.state = options.state_dir
        self.database_url = f"sqlite+aiosqlite:///{self.state / 'callrouter.sqlite3'}"
        self.rota_path = self.state / "rota.yaml"
        self.base_rota = options.rota.read_text(encoding="utf-8")
        self.rota = load_rota(options.rota)
        self.phones = _phone_names(self.rota)
        self.run_id = int(time.time()) % 100000
        self.pbx: Endpoint | None = None

    def _fresh_state(self) -> None:
        """A fresh folder: the previous run's database, spool and reports go."""
        if self.state.exists():
            for name in ("callrouter.sqlite3", "callrouter.sqlite3-wal", "callrouter.sqlite3-shm"):
                (self.state / name).unlink(missing_ok=True)
            for name in ("spool", "spool-cdr-import", "spool-cdr-import-manual", "reports"):
                shutil.rmtree(self.state / name, ignore_errors=True)
            # the sandbox starts with an empty CDR file, so the importer starts at its top
            for path in (
                self.rota_path,
                self.state / "callrouter.log",
                self.state / STATE_FILENAME,
            ):
                path.unlink(missing_ok=True)
        (self.state / "reports").mkdir(parents=True, exist_ok=True)

    def _cli_env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        if self.rota.unit:  # the report's letterhead names the demo's unit unless set
            env.setdefault("CALLROUTER_REPORT_UNIT_NAME", self.rota.unit.upper())
        # The demo's calls are today's: report the calendar month so far, not a cut-off period.
        env.setdefault("CALLROUTER_REPORT_CUTOFF_DAY", "0")
        return env

    async def cli(self, *args: str, echo: bool = True) -> str:
        """Run ``callrouter …`` as an admin would, in a child process."""
        self.c.line(f"  $ callrouter {' '.join(args)}")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "callrouter",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._cli_env(),
        )
        out, err = await proc.communicate()
        text = out.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise DemoError(
                f"callrouter {' '.join(args)} failed:\n{text}{err.decode('utf-8', 'replace')}"
            )
        if echo:
            for line in text.rstrip().splitlines():
                self.c.line(f"    {line}")
        return text

    async def run(self) -> DemoResult:
        started = time.monotonic()
        self._fresh_state()
        sandbox = Sandbox(self.o.sandbox_script, self.o.slot, self.c)
        self.c.heading(
            f"1. Khởi động Asterisk mới (pbx + pstn, slot {self.o.slot}) / fresh sandbox"
        )
        try:
            pbx, pstn_ep = await sandbox.start()
            self.pbx = pbx
            self.c.heading("2. Cơ sở dữ liệu SQLite / embedded database")
            await self.cli("db", "upgrade", "--database-url", self.database_url)
            self.rota_path.write_text(self.base_rota, encoding="utf-8")
            settings = Settings(
                ari_url=pbx.ari_url.removesuffix("/ari"),
                ari_user=pbx.ari_user,
                ari_password=SecretStr(pbx.ari_password),
                rota_path=self.rota_path,
                database_url=SecretStr(self.database_url),
                state_dir=self.state,
                spool_dir=self.state / "spool",
                dialplan_include=pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME,
            )
            results: list[SceneResult] = []
            with router_logs(self.state / "callrouter.log", self.board):
                router = Router(settings, pbx.log_dir / "cdr-custom" / CDR_FILENAME)
                self.c.heading("3. Chạy callrouter (ARI) / start the router")
                await router.start()
                self.c.line(
                    f"  callrouter đã nối ARI {settings.ari_url}; nhật ký JSON: "
                    f"{self.state / 'callrouter.log'}"
                )
                try:
                    async with Pstn(pstn_ep, self.board) as pstn:
                        for number, scene in enumerate(self.o.scenes, start=1):
                            results.append(await self.scene(number, scene, router, pstn))
                finally:
                    await router.stop()
            reports = await self.report()
            self.c.heading("Người cần gọi lại / call-backs waiting")
            await self.cli("callbacks", "list", "--database-url", self.database_url)
        finally:
            self.c.heading("Dừng Asterisk sandbox / stopping the sandbox")
            await sandbox.stop()
        return DemoResult(
            state_dir=self.state,
            database_url=self.database_url,
            scenes=results,
            reports=reports,
            seconds=time.monotonic() - started,
        )

    def _name(self, officer_id: str) -> str:
        officer = self.rota.officer(officer_id)
        return officer.name if officer is not None else officer_id

    async def apply_rota(self, scene: Scene) -> None:
        """Write the scene's override into the working rota and let the running router reload it."""
        today = datetime.now(self.rota.timezone).date()
        text = scene_rota_text(self.base_rota, scene, today)
        version = (await asyncio.to_thread(parse_rota, text, str(self.rota_path))).version
        mark = self.board.mark()
        self.rota_path.write_text(text, encoding="utf-8")  # the router notices it by itself
        await self.board.wait_for(
            lambda s: (
                s.source == "callrouter"
                and s.get("event") == "rota.reloaded"
                and s.get("version") == version
            ),
            since=mark,
            within=15,
            what=f"rota {version} reloaded",
        )
        if scene.closed:
            self.c.line(
                "  lịch trực: thêm 'closed: true' cho hôm nay → đóng máy "
                "(callrouter tự nạp lại / reloaded live)"
            )
        else:
            ring = " → ".join(f"{self._name(who)} @ {at}" for who, at in scene.duty)
            self.c.line(
                f"  lịch trực hôm nay: {ring}  "
                f"(rota {version}, callrouter tự nạp lại / reloaded live)"
            )

    async def scene(self, number: int, scene: Scene, router: Router, pstn: Pstn) -> SceneResult:
        self.c.heading(f"Cảnh {number}: {scene.title}")
        if scene.router_up:
            await self.apply_rota(scene)
        else:
            await router.stop()
            self.c.line("  callrouter đã dừng / the router is stopped (Stasis() will fail)")
        caller = f"0988{self.run_id % 100:02d}{number:04d}"
        tag = f"demo-{self.run_id}-{number}"
        self.c.t0 = time.monotonic()
        mark = self.board.mark()
        self.board.listener = self._narrator(caller, tag)
        try:
            message_after = self._message_after() if scene.leaves_message else None
            await pstn.call_1022(tag, caller, hold=90, message_after=message_after)
            self.c.event("người gọi", f"{caller} gọi 1022 / dials 1022")
            await self._act(scene, caller, tag, mark, pstn)
            end = await self.board.wait_for(
                lambda s: (
                    (s.get("UserEvent") == "CallerHangup" and s.get("Tag") == tag)
                    or (
                        s.get("Event") == "OriginateResponse"
                        and s.get("Uniqueid") == tag
                        and s.get("Response") == "Failure"
                    )
                ),
                since=mark,
                within=90,
                what="the caller's call to end",
            )
            if end.get("Response") == "Failure":
                raise DemoError(f"the pbx did not answer 1022 ({end.get('Reason')})")
            if scene.router_up:
                await self.board.wait_for(
                    lambda s: s.get("event") == "call.ended",
                    since=mark,
                    within=30,
                    what="callrouter ending the call",
                )
            await self._officers_done(mark, caller)
            if not router.running:
                await router.start()
                self.c.event(
                    "callrouter", "chạy lại, nhập cuộc gọi dự phòng từ CDR / back, imports the CDR"
                )
            rung = [
                s.get("Number")
                for s in self.board.items[mark:]
                if s.get("UserEvent") == "OfficerRinging" and s.get("Caller") == caller
            ]
            return await self.check(scene, caller, rung)
        finally:
            self.board.listener = None
            self.c.t0 = None

    def _message_after(self) -> float:
        """Seconds from the caller's key 3 to the beep: the closed and leave-a-message
        prompts (their real length in the sandbox), plus a little."""
        assert self.pbx is not None  # noqa: S101 - set once the sandbox started
        folder = self.pbx.rootfs / "usr/share/asterisk/sounds/vi/callrouter"
        total = 0.0
        for name in ("closed", "leave-message"):
            try:
                with wave.open(str(folder / f"{name}.wav")) as wav:
                    total += wav.getnframes() / wav.getframerate()
            except (OSError, wave.Error, EOFError):
                return 12.0  # no such prompt file: a generous guess
        return total + 2.0

    async def _act(self, scene: Scene, caller: str, tag: str, mark: int, pstn: Pstn) -> None:
        """What the caller does: talk a little once put through, or give up while waiting."""
        if scene.abandon_after is not None:
            await self.board.wait_for(
                lambda s: s.get("UserEvent") == "OfficerRinging" and s.get("Caller") == caller,
                since=mark,
                within=30,
                what="an officer's phone ringing",
            )
            await asyncio.sleep(scene.abandon_after)  # the caller's patience, not a test wait
            self.c.event("người gọi", "chán chờ, gác máy / gives up")
            await pstn.caller_hangs_up(tag)
            return
        if scene.talk is None:
            return
        if scene.router_up:
            await self.board.wait_for(
                lambda s: s.get("event") == "call.bridged",
                since=mark,
                within=60,
                what="callrouter putting the caller through",
            )
        else:
            await self.board.wait_for(
                lambda s: s.get("UserEvent") == "OfficerAnswered" and s.get("Caller") == caller,
                since=mark,
                within=60,
                what="the fallback reaching an officer",
            )
        await asyncio.sleep(scene.talk)  # the conversation
        self.c.event("người gọi", f"nói chuyện {scene.talk:.0f} giây rồi gác máy / hangs up")
        await pstn.caller_hangs_up(tag)

    async def _officers_done(self, mark: int, caller: str) -> None:
        """Every officer phone that rang for this call has hung up (the next call starts clean)."""
        rang = {
            s.get("Number")
            for s in self.board.items[mark:]
            if s.get("UserEvent") == "OfficerRinging" and s.get("Caller") == caller
        }
        for number in rang:
            await self.board.wait_for(
                lambda s, n=number: (
                    s.get("UserEvent") == "OfficerHangup"  # type: ignore[misc]
                    and s.get("Number") == n
                    and s.get("Caller") == caller
                ),
                since=mark,
                within=20,
                what=f"phone {number} hanging up",
            )

    def _narrator(self, caller: str, tag: str) -> Callable[[Seen], None]:
        def show(item: Seen) -> None:
            line = narrate(item, self.phones, caller, tag)
            if line is not None:
                self.c.event(*line)

        return show

    async def _rows(self, caller: str, *, within: float) -> tuple[dict[str, Any] | None, list[Any]]:
        """The call's row (once its outcome and every attempt's end are written)."""
        engine = make_engine(self.database_url)
        deadline = time.monotonic() + within
        try:
            while True:
                async with engine.connect() as conn:
                    row = (
                        await conn.execute(select(CALLS).where(CALLS.c.caller == caller))
                    ).first()
                    attempts: list[Any] = []
                    if row is not None:
                        attempts = [
                            dict(a._mapping)
                            for a in (
                                await conn.execute(
                                    select(ATTEMPTS)
                                    .where(ATTEMPTS.c.call_id == row.id)
                                    .order_by(ATTEMPTS.c.seq)
                                )
                            ).all()
                        ]
                call = dict(row._mapping) if row is not None else None
                done = call is not None and call["outcome"] is not None
                if done and all(a["ended_at"] is not None for a in attempts):
                    return call, attempts
                if time.monotonic() > deadline:
                    return call, attempts
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()

    async def check(self, scene: Scene, caller: str, rung: list[str]) -> SceneResult:
        """Read the call's rows back and compare them with what the scene stands for."""
        call, attempts = await self._rows(caller, within=20)
        result = SceneResult(scene, caller, call, attempts, rung)
        problems = result.problems
        if not scene.router_up and not rung:
            problems.append("the fallback rang no officer")
        if call is None:
            problems.append("no calls row")
            self.c.line(f"  nhật ký / log row: — ✗ {'; '.join(problems)}")
            return result
        results = tuple(a["result"] for a in attempts)
        if call["outcome"] != scene.outcome:
            problems.append(f"outcome {call['outcome']}, expected {scene.outcome}")
        if call["mode"] != scene.mode:
            problems.append(f"mode {call['mode']}, expected {scene.mode}")
        if scene.router_up and results != scene.results:
            problems.append(f"attempts {results}, expected {scene.results}")
        if scene.answered_by and call["answered_officer_id"] != scene.answered_by:
            problems.append(
                f"answered by {call['answered_officer_id']}, expected {scene.answered_by}"
            )
        reasons = await self._callbacks(str(call["id"]))
        if scene.callback is not None and scene.callback not in reasons:
            problems.append(f"no {scene.callback} call-back (found {reasons})")
        parts = [f"outcome={call['outcome']}", f"mode={call['mode']}"]
        if call["wait_seconds"] is not None:
            parts.append(f"chờ/wait {call['wait_seconds']:.1f}s")
        if call["talk_seconds"] is not None:
            parts.append(f"đàm thoại/talk {call['talk_seconds']:.1f}s")
        parts.append("lượt gọi/attempts: " + (" → ".join(results) or "—"))
        if reasons:
            parts.append("gọi lại/call-back: " + ", ".join(reasons))
        mark = "✓ khớp / as expected" if result.ok else "✗ " + "; ".join(problems)
        self.c.line(f"  nhật ký / log row: {', '.join(parts)}  {mark}")
        return result

    async def _callbacks(self, call_id: str) -> list[str]:
        engine = make_engine(self.database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(CALLBACKS.c.reason).where(CALLBACKS.c.call_id == call_id)
                )
                return [str(r) for r in rows.scalars()]
        finally:
            await engine.dispose()

    async def report(self) -> dict[str, Path]:
        month = datetime.now(self.rota.timezone).strftime("%Y-%m")
        self.c.heading(f"Báo cáo tháng {month} / the month's report")
        # The month is still running: its figures so far ("số liệu tính đến ngày …").
        await self.cli(
            "report", "monthly", "--month", month, "--partial", "--database-url", self.database_url
        )
        paths: dict[str, Path] = {}
        for fmt in ("xlsx", "docx"):
            out = self.state / "reports" / f"bao-cao-1022-{month}.{fmt}"
            await self.cli(
                "report",
                "monthly",
                "--month",
                month,
                "--partial",
                "--format",
                fmt,
                "--out",
                str(out),
                "--database-url",
                self.database_url,
                echo=False,
            )
            if not out.is_file() or out.stat().st_size == 0:
                raise DemoError(f"report {out} was not written")
            paths[fmt] = out
        return paths


def summary_lines(result: DemoResult) -> list[str]:
    good = sum(s.ok for s in result.scenes)
    lines = [
        "",
        f"Xong sau {result.seconds:.0f} giây: {good}/{len(result.scenes)} cảnh đúng như mong đợi.",
        f"Done in {result.seconds:.0f} s: {good}/{len(result.scenes)} scenes as expected.",
    ]
    for fmt, path in result.reports.items():
        lines.append(f"  {fmt.upper():<5} {path}")
    lines += [
        f"  CSDL  {result.database_url}",
        f"  Log   {result.state_dir / 'callrouter.log'}",
        f"Xem lại / look again: callrouter calls list --database-url {result.database_url}",
    ]
    return lines


async def run_demo(options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the whole demo; the sandbox is stopped at the end, also on errors and Ctrl-C."""
    console = console or Console()
    demo = Demo(options, console)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await demo.run()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)


def now_utc() -> datetime:
    return datetime.now(UTC)

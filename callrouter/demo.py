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
import contextlib
import os
import shutil
import signal
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from callrouter.app import ServeOptions
from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import CDR_FILENAME, STATE_FILENAME
from callrouter.demo_scenes import SCENES, Scene, narrate, phone_names, scene_rota_text
from callrouter.errors import CallrouterError
from callrouter.rota import load_rota, parse_rota
from callrouter.sandbox import (
    SANDBOX_SCRIPT,
    Event,
    EventLog,
    Harness,
    InstanceInfo,
    PlacedCall,
    Sandbox,
)
from callrouter.sandbox.router import Router, router_logs
from callrouter.settings import DEFAULT_STATE_DIR, Settings
from callrouter.store.db import make_engine
from callrouter.store.readback import CallReadback, call_of_caller
from callrouter.web.settings import WebSettings

REPO = Path(__file__).resolve().parents[1]
DEMO_ROTA = REPO / "config" / "rota.demo.yaml"
DEFAULT_DEMO_DIR = DEFAULT_STATE_DIR / "demo"

__all__ = [
    "DEFAULT_DEMO_DIR",
    "DEMO_ROTA",
    "SANDBOX_SCRIPT",
    "SCENES",
    "Console",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "Scene",
    "SceneResult",
    "run_demo",
    "summary_lines",
]


class DemoError(CallrouterError):
    """The demo could not run (sandbox, router or an unexpected call result)."""


def serve_options() -> ServeOptions:
    """The router's options for one start: the rota file is watched as in production, only
    more often, so a scene's rota is in force half a second after the demo saves it; the
    admin web is not started."""
    return ServeOptions(drain_seconds=10, rota_poll_seconds=0.5, web=WebSettings(enabled=False))


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
        self.events = EventLog()
        self.state = options.state_dir
        self.database_url = f"sqlite+aiosqlite:///{self.state / 'callrouter.sqlite3'}"
        self.rota_path = self.state / "rota.yaml"
        self.base_rota = options.rota.read_text(encoding="utf-8")
        self.rota = load_rota(options.rota)
        self.phones = phone_names(self.rota)
        self.run_id = int(time.time()) % 100000
        self.pbx: InstanceInfo | None = None

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
        sandbox = Sandbox(self.o.slot, self.o.sandbox_script)
        sandbox.check()
        self.c.heading(
            f"1. Khởi động Asterisk mới (pbx + pstn, slot {self.o.slot}) / fresh sandbox"
        )
        try:
            info = await sandbox.start_async(echo=lambda text: self.c.line(f"    {text}"))
            self.pbx = pbx = info.pbx
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
            with router_logs(self.state / "callrouter.log", self.events):
                router = Router(
                    settings, serve_options, cdr_file=pbx.log_dir / "cdr-custom" / CDR_FILENAME
                )
                self.c.heading("3. Chạy callrouter (ARI) / start the router")
                await router.start()
                self.c.line(
                    f"  callrouter đã nối ARI {settings.ari_url}; nhật ký JSON: "
                    f"{self.state / 'callrouter.log'}"
                )
                try:
                    async with Harness(info, self.events) as phones:
                        for number, scene in enumerate(self.o.scenes, start=1):
                            results.append(await self.scene(number, scene, router, phones))
                finally:
                    await router.stop()
            reports = await self.report()
            self.c.heading("Người cần gọi lại / call-backs waiting")
            await self.cli("callbacks", "list", "--database-url", self.database_url)
        finally:
            self.c.heading("Dừng Asterisk sandbox / stopping the sandbox")
            await sandbox.stop_async()
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
        mark = self.events.mark()
        self.rota_path.write_text(text, encoding="utf-8")  # the router notices it by itself
        await self._router_said("rota.reloaded", mark, 15, version=version)
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

    async def scene(
        self, number: int, scene: Scene, router: Router, phones: Harness
    ) -> SceneResult:
        self.c.heading(f"Cảnh {number}: {scene.title}")
        if scene.router_up:
            await self.apply_rota(scene)
        else:
            await router.stop()
            self.c.line("  callrouter đã dừng / the router is stopped (Stasis() will fail)")
        caller = f"0988{self.run_id % 100:02d}{number:04d}"
        tag = f"demo-{self.run_id}-{number}"
        self.c.t0 = time.monotonic()
        mark = self.events.mark()
        self.events.listener = self._narrator(caller, tag)
        try:
            # The caller presses 3 (health) once the menu answers; leaving a message, they
            # speak after the beep (the pstn plays a recorded voice) and press #.
            message = scene.leaves_message
            call = await phones.place_call(
                digits="3",
                hold=90,
                caller_number=caller,
                tag=tag,
                say="vm-intro" if message else None,
                say_after=self._message_after() if message else 0.0,
                then_digits="#" if message else "",
            )
            self.c.event("người gọi", f"{caller} gọi 1022 / dials 1022")
            await self._act(scene, call, mark, phones)
            ended = await phones.wait_caller_hangup(call, within=90)
            if ended.failed is not None:
                raise DemoError(f"the pbx did not answer 1022 ({ended.failed})")
            if scene.router_up:
                await self._router_said("call.ended", mark, 30)
            rung = phones.officers_rung(call)
            for phone in set(rung):  # every phone that rang has hung up: the next call starts clean
                await phones.wait_user_event(
                    "OfficerHangup", within=20, Number=phone, Caller=caller
                )
            if not router.running:
                await router.start()
                self.c.event(
                    "callrouter", "chạy lại, nhập cuộc gọi dự phòng từ CDR / back, imports the CDR"
                )
            return await self.check(scene, caller, rung)
        finally:
            self.events.listener = None
            self.c.t0 = None

    def _message_after(self) -> float:
        """Seconds from the caller's key 3 to the beep: the closed and leave-a-message
        prompts (their real length in the sandbox), plus a little."""
        if self.pbx is None:
            raise DemoError("the sandbox is not started")
        folder = self.pbx.rootfs / "usr/share/asterisk/sounds/vi/callrouter"
        total = 0.0
        for name in ("closed", "leave-message"):
            try:
                with wave.open(str(folder / f"{name}.wav")) as wav:
                    total += wav.getnframes() / wav.getframerate()
            except (OSError, wave.Error, EOFError):
                return 12.0  # no such prompt file: a generous guess
        return total + 2.0

    async def _act(self, scene: Scene, call: PlacedCall, mark: int, phones: Harness) -> None:
        """What the caller does: talk a little once put through, or give up while waiting."""
        caller = call.caller_number
        if scene.abandon_after is not None:
            await phones.wait_user_event("OfficerRinging", within=30, Caller=caller)
            await asyncio.sleep(scene.abandon_after)  # the caller's patience, not a test wait
            self.c.event("người gọi", "chán chờ, gác máy / gives up")
            await phones.hang_up(call)
            return
        if scene.talk is None:
            return
        if scene.router_up:
            await self._router_said("call.bridged", mark, 60)
        else:
            await phones.wait_user_event("OfficerAnswered", within=60, Caller=caller)
        await asyncio.sleep(scene.talk)  # the conversation
        self.c.event("người gọi", f"nói chuyện {scene.talk:.0f} giây rồi gác máy / hangs up")
        await phones.hang_up(call)

    async def _router_said(self, event: str, mark: int, within: float, **fields: str) -> None:
        """Wait for the router's log event ``event`` (with those ``fields``) after ``mark``."""

        def said(item: Event) -> bool:
            return (
                item.source == "callrouter"
                and item.get("event") == event
                and all(item.get(k) == v for k, v in fields.items())
            )

        await self.events.wait_for(said, within, f"callrouter's {event} {fields}", since=mark)

    def _narrator(self, caller: str, tag: str) -> Callable[[Event], None]:
        def show(item: Event) -> None:
            line = narrate(item, self.phones, caller, tag)
            if line is not None:
                self.c.event(*line)

        return show

    async def _rows(self, caller: str, *, within: float) -> CallReadback:
        """The call's rows, once its outcome and every attempt's end are written (or as they
        are after ``within`` seconds)."""
        engine = make_engine(self.database_url)
        deadline = time.monotonic() + within
        try:
            while True:
                rows = await call_of_caller(engine, caller)
                if rows.finished or time.monotonic() > deadline:
                    return rows
                await asyncio.sleep(0.2)
        finally:
            await engine.dispose()

    async def check(self, scene: Scene, caller: str, rung: list[str]) -> SceneResult:
        """Read the call's rows back and compare them with what the scene stands for."""
        rows = await self._rows(caller, within=20)
        call, attempts, reasons = rows.call, rows.attempts, rows.callbacks
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

"""callrouter as a real subprocess (``python -m callrouter serve``) for the fault tests and
bench/bench_native.py: it can be SIGKILLed and SIGTERMed like in production, serves its admin
web on a free port (``/healthz``), and is measured from outside (CPU, RSS); and
``callrouter guard`` beside it, as a subprocess too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import CDR_FILENAME
from tests.e2e.agi_support import AGI_SECRET
from tests.e2e.harness import SandboxInfo

#: the tree this harness runs from: its callrouter is the one a subprocess imports, not
#: whatever the venv has installed (a bench run from a worktree of another commit measures
#: that commit's router, not the installed one's)
_TREE = str(Path(__file__).resolve().parents[2])


def tree_environ(*layers: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``layers`` over it (a later one wins) and the
    harness's tree first on the subprocess's import path."""
    path = os.pathsep.join(p for p in (_TREE, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    for layer in layers:
        env.update(layer)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServeProcess:
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def healthz(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


async def health(url: str) -> int | None:
    """The HTTP status of ``/healthz``, or None when nothing answers."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
            http.get(url) as resp,
        ):
            return resp.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def wait_health(url: str, status: int, within: float, what: str) -> float:
    """Poll ``/healthz`` until it answers ``status``; the epoch time it did."""
    deadline = time.monotonic() + within
    seen: int | None = None
    while time.monotonic() < deadline:
        seen = await health(url)
        if seen == status:
            return time.time()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what}: /healthz did not answer {status} within {within} s (last {seen})")


@contextlib.asynccontextmanager
async def serve_process(
    info: SandboxInfo,
    rota: Path,
    database_url: str,
    state: Path,
    *,
    drain: float = 10.0,
    port: int | None = None,
    name: str = "serve",
    extra: dict[str, str] | None = None,
) -> AsyncIterator[ServeProcess]:
    """``python -m callrouter serve`` against the sandbox pbx (``extra``: further settings);
    yields once /healthz is 200.

    It writes the fallback include into the pbx's config dir (and reloads the dialplan), so
    the dialplan fallback rings the same numbers. Stopped with SIGTERM (then SIGKILL) after.
    """
    env = {
        "CALLROUTER_ARI_URL": info.pbx.ari_url,
        "CALLROUTER_ARI_USER": info.pbx.ari_user,
        "CALLROUTER_ARI_PASSWORD": info.pbx.ari_password,
        "CALLROUTER_DIALPLAN_INCLUDE": str(info.pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME),
        "CALLROUTER_CDR_PATH": str(info.pbx.log_dir / "cdr-custom" / CDR_FILENAME),
        **(extra or {}),
    }
    async with serve_subprocess(
        rota, database_url, state, env, drain=drain, port=port, name=name
    ) as serve:
        yield serve


@contextlib.asynccontextmanager
async def agi_serve_process(
    rota: Path,
    database_url: str,
    state: Path,
    *,
    agi_port: int,
    env: dict[str, str] | None = None,
    drain: float = 10.0,
    port: int | None = None,
) -> AsyncIterator[ServeProcess]:
    """``python -m callrouter serve --mode agi`` with FastAGI on ``agi_port``; yields once
    /healthz is 200. ``env``: further settings (the fallback include's path, AMI, web users);
    by default the include goes to ``state`` and no CDR file is read."""
    settings = {
        "CALLROUTER_AGI_HOST": "127.0.0.1",
        "CALLROUTER_AGI_PORT": str(agi_port),
        "CALLROUTER_AGI_SECRET": AGI_SECRET,
        "CALLROUTER_DIALPLAN_INCLUDE": str(state / contract.FALLBACK_INCLUDE_FILENAME),
        "CALLROUTER_CDR_PATH": str(state / "no-cdr.json"),
        **(env or {}),
    }
    async with serve_subprocess(
        rota, database_url, state, settings, drain=drain, port=port, mode="agi"
    ) as serve:
        yield serve


@contextlib.asynccontextmanager
async def serve_subprocess(
    rota: Path,
    database_url: str,
    state: Path,
    settings: dict[str, str],
    *,
    drain: float = 10.0,
    port: int | None = None,
    name: str = "serve",
    mode: str = "ari",
) -> AsyncIterator[ServeProcess]:
    """``python -m callrouter serve --mode MODE`` with ``settings`` over this process's
    environment, the admin web on ``port`` (free by
    default); yields once /healthz is 200, stopped with SIGTERM (then SIGKILL) after."""
    await asyncio.to_thread(state.mkdir, parents=True, exist_ok=True)
    port = port or free_port()
    env = tree_environ(
        {
            "CALLROUTER_ROTA_PATH": str(rota),
            "CALLROUTER_DATABASE_URL": database_url,
            "CALLROUTER_STATE_DIR": str(state),
            "CALLROUTER_SPOOL_DIR": str(state / "spool"),
            "CALLROUTER_WEB_ENABLED": "true",
            "CALLROUTER_WEB_HOST": "127.0.0.1",
            "CALLROUTER_WEB_PORT": str(port),
        },
        settings,
    )
    log_path = state / f"{name}.log"
    with log_path.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "callrouter", "serve", "--mode", mode),
            *("--drain", str(drain), "--json-logs"),
            cwd=state,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    serve = ServeProcess(proc, port, log_path)
    try:
        try:
            await wait_health(serve.healthz, 200, 30, f"serve --mode {mode} start")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{serve.log_text()[-3000:]}") from exc
        yield serve
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), drain + 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _stat(path: Path) -> tuple[str, list[str]]:
    """A /proc ``stat`` file: the name (between the outer parentheses: it may hold spaces
    and parentheses) and the fields after it."""
    text = path.read_text(encoding="ascii", errors="replace")
    return text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()


def _cpu_seconds(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_and_rss(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, resident set size in bytes) of a process, from /proc."""
    _, fields = _stat(Path(f"/proc/{pid}/stat"))
    return _cpu_seconds(fields), int(fields[21]) * os.sysconf("SC_PAGE_SIZE")


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds used so far by each kind of thread of a process, from /proc: the main
    thread as ``main``, threads named in the kernel (callrouter.osthread) by that name less
    a trailing number, those still bearing the process's name as ``other``. Threads that
    ended are not counted (a batch's difference leaves them out)."""
    tasks = Path(f"/proc/{pid}/task")
    process_name, _ = _stat(tasks / str(pid) / "stat")
    out: dict[str, float] = {}
    for task in tasks.iterdir():
        try:
            name, fields = _stat(task / "stat")
        except OSError:  # ended meanwhile
            continue
        if task.name == str(pid):
            kind = "main"
        elif name == process_name:
            kind = "other"
        else:
            kind = name.rstrip("_0123456789") or "other"
        out[kind] = out.get(kind, 0.0) + _cpu_seconds(fields)
    return out


async def wait_logged(
    log: Path, what: str, within: float, proc: asyncio.subprocess.Process | None = None
) -> None:
    """Poll a subprocess's log file until ``what`` is in it (it has no other channel to say
    so); fail at once if ``proc`` exits meanwhile."""
    deadline = time.monotonic() + within
    while what not in await asyncio.to_thread(log.read_text, errors="replace"):
        assert proc is None or proc.returncode is None, f"exited before {what!r}: see {log}"
        assert time.monotonic() < deadline, f"no {what!r} within {within} s: see {log}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def guard_process(
    info: SandboxInfo, health_url: str, log: Path, extra: dict[str, str] | None = None
) -> AsyncIterator[None]:
    """``python -m callrouter guard`` watching ``health_url``, on the pbx's AMI (``extra``:
    further settings); yields once it has seen the router alive (armed)."""
    env = tree_environ(
        {
            "CALLROUTER_AMI_HOST": "127.0.0.1",
            "CALLROUTER_AMI_PORT": str(info.pbx.ami_port),
            # The guard's own AMI user with the shipped rights (dialplan/manager.conf).
            "CALLROUTER_AMI_USER": "callrouter-guard",
            "CALLROUTER_AMI_PASSWORD": info.pbx.ami_secret,
        },
        extra or {},
    )
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "callrouter", "guard", "--health-url", health_url, "--json-logs"),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_logged(log, "guard.armed", within=30, proc=proc)
        yield
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, f"callrouter guard exited {proc.returncode}: see {log}"

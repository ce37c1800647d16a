"""``scripts/asterisk-sandbox`` on one slot: start, stop and describe a fresh pbx + pstn pair.

Synchronous for pytest's session fixture (:meth:`Sandbox.start`), asynchronous for
``callrouter demo`` (:meth:`Sandbox.start_async`, which streams the script's progress lines and
kills it when cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from callrouter.asterisk.contract import FALLBACK_INCLUDE_FILENAME
from callrouter.errors import CallrouterError

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "scripts" / "asterisk-sandbox"
Instance = Literal["pbx", "pstn"]
INSTANCES: tuple[Instance, ...] = ("pbx", "pstn")


class SandboxError(CallrouterError):
    """The sandbox could not be started or driven."""


@dataclass(frozen=True)
class InstanceInfo:
    name: str
    sip_port: int
    ami_port: int
    ami_user: str  # what callrouter logs in as (on the pbx: the shipped rights only)
    ami_secret: str
    harness_ami_user: str  # what the harness logs in as (all rights)
    harness_ami_secret: str
    http_port: int
    ari_url: str
    ari_user: str
    ari_password: str
    etc_dir: Path
    log_dir: Path

    @property
    def rootfs(self) -> Path:
        """The sandbox's root filesystem (``etc_dir`` is ``<root>/srv/sandbox/slotN/pbx/etc``)."""
        return self.etc_dir.parents[4]

    @classmethod
    def parse(cls, d: dict[str, Any]) -> InstanceInfo:
        """One instance of ``scripts/asterisk-sandbox env``'s JSON."""
        kinds: dict[str, Callable[[Any], Any]] = {
            "sip_port": int,
            "ami_port": int,
            "http_port": int,
            "etc_dir": Path,
            "log_dir": Path,
        }
        return cls(**{f.name: kinds.get(f.name, str)(d[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class SandboxInfo:
    slot: int
    pbx: InstanceInfo
    pstn: InstanceInfo

    def __getitem__(self, name: Instance) -> InstanceInfo:
        return self.pbx if name == "pbx" else self.pstn


class Sandbox:
    """One slot's pbx + pstn pair, through the project script."""

    def __init__(self, slot: int = 0, script: Path = SANDBOX_SCRIPT) -> None:
        self.slot = slot
        self.script = script
        self.env = {**os.environ, "CALLROUTER_SANDBOX_SLOT": str(slot)}

    def check(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (chroot, mounts): run as root")
        if not self.script.exists():
            raise SandboxError(f"{self.script} is missing (run from a source checkout)")

    def _run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
            [str(self.script), *args],
            env=self.env,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> SandboxInfo:
        """Fresh instances (stopping this slot's old ones first); builds the rootfs if needed."""
        self.check()
        self._run("stop", timeout=60)
        res = self._run("start")
        if res.returncode != 0:
            raise SandboxError(f"{self.script.name} start failed:\n{res.stdout}{res.stderr}")
        return self.info()

    def info(self) -> SandboxInfo:
        res = self._run("env", timeout=30)
        if res.returncode != 0:
            raise SandboxError(res.stderr)
        raw = json.loads(res.stdout)
        return SandboxInfo(
            self.slot, InstanceInfo.parse(raw["pbx"]), InstanceInfo.parse(raw["pstn"])
        )

    def stop(self) -> None:
        self._run("stop", timeout=60)

    def cli(self, instance: Instance, command: str) -> str:
        res = self._run("cli", instance, command, timeout=30)
        if res.returncode != 0:
            raise SandboxError(f"{instance}: {command!r} failed: {res.stdout}{res.stderr}")
        return res.stdout

    def install_fallback_include(self, text: str) -> Path:
        """Write the pbx's callrouter_fallback.conf and reload its dialplan."""
        path = self.info().pbx.etc_dir / FALLBACK_INCLUDE_FILENAME
        path.write_text(text, encoding="utf-8")
        self.cli("pbx", "dialplan reload")
        return path

    # -- without blocking the event loop (the demo) ---------------------------------------

    async def run_async(
        self, *args: str, echo: Callable[[str], None] | None = None, limit: float = 900
    ) -> str:
        """The script's output; each line to ``echo`` as it comes. Killed when cancelled."""
        proc = await asyncio.create_subprocess_exec(
            str(self.script),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        if proc.stdout is None:
            raise SandboxError("no pipe from the sandbox script")
        lines: list[str] = []
        try:
            async with asyncio.timeout(limit):
                while raw := await proc.stdout.readline():
                    text = raw.decode("utf-8", "replace").rstrip()
                    lines.append(text)
                    if echo is not None and text:
                        echo(text)
                rc = await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        output = "\n".join(lines)
        if rc != 0:
            raise SandboxError(f"{self.script.name} {' '.join(args)} failed ({rc}):\n{output}")
        return output

    async def start_async(self, echo: Callable[[str], None] | None = None) -> SandboxInfo:
        """:meth:`start`, its progress lines to ``echo``."""
        self.check()
        await self.run_async("stop", limit=120)
        await self.run_async("start", echo=echo)
        return await asyncio.to_thread(self.info)

    async def stop_async(self) -> None:
        await self.run_async("stop", limit=120)

"""An independent SIP caller for the end-to-end tests: SIPp (Debian ``sip-tester``) running
``bench/sipp/caller.xml`` against the sandbox pbx.

Unlike the pstn instance, SIPp ends its calls with a plain BYE (no Reason header), as many
phones and carriers do, so Asterisk learns no Q.850 cause from the far end. The pbx's trunk
``identify`` matches any port on 127.0.0.1, so SIPp's calls enter ``callrouter-inbound``
like the pstn's.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_service
from tests.e2e.agi_support import free_port
from tests.e2e.harness import SandboxInfo

SCENARIO = Path(__file__).resolve().parents[2] / "bench" / "sipp" / "caller.xml"
#: SIPp's own RFC 4733 recording of the key "3" (Debian package sip-tester)
DTMF_3 = Path("/usr/share/sip-tester/dtmf_2833_3.pcap")


@dataclass(frozen=True)
class SippRun:
    returncode: int
    output: str


def sipp_binary() -> str:
    """The ``sipp`` executable; fails under CI=true when sip-tester is not installed."""
    found = shutil.which("sipp")
    if found is None or not DTMF_3.exists():
        require_service("SIPp", "install the Debian package sip-tester (scripts/apt-packages.txt)")
        raise AssertionError("unreachable")  # require_service fails or skips
    return found


async def sipp_call(
    info: SandboxInfo, caller: str, *, hold_seconds: float, within: float = 60.0
) -> SippRun:
    """One SIPp call to 1022 on the pbx from ``caller``: it presses 3, stays
    ``hold_seconds`` on the line and sends a plain BYE. Returns when SIPp exits.
    (The scenario appends the call's index to its ``caller`` prefix: call 1 of 1.)"""
    if not caller.endswith("1"):
        raise ValueError("the one SIPp call's number ends in 1 (its index)")
    binary = sipp_binary()
    sip_port, media_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        f"127.0.0.1:{info.pbx.sip_port}",
        "-sf", str(SCENARIO),
        "-s", "1022",
        "-i", "127.0.0.1",
        "-p", str(sip_port),
        "-mi", "127.0.0.1",
        "-mp", str(media_port),
        "-m", "1",
        "-d", str(int(hold_seconds * 1000)),
        "-set", "caller", caller.removesuffix("1"),
        "-timeout", f"{int(within)}s",
        "-nostdin",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), within + 10)
    assert proc.returncode is not None
    return SippRun(proc.returncode, out.decode(errors="replace"))

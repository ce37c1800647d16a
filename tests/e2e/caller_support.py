"""What a caller heard, from the pbx's own log (tests/e2e/test_caller_experience.py).

The sandbox pbx logs verbose level 3 to ``messages.log``; Asterisk writes one line per sound
it opens on a channel (``file.c: <PJSIP/…> Playing 'callrouter/greeting.slin' (language
'vi')``), per music-on-hold start (``Started music on hold, class 'default', on channel
'PJSIP/…'``) and stop (``Stopped music on hold on PJSIP/…``), and a WARNING when a sound
exists in no language. These are Asterisk's view of what the caller heard, with Asterisk's
own times.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.e2e.harness import Harness, PlacedCall, SandboxInfo

_LINE = re.compile(r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\] (?P<level>[A-Z]+)")
_PLAYING = re.compile(
    r"<(?P<chan>[^>]+)> Playing '(?P<sound>[^']+?)\.[a-z0-9]+' \(language '(?P<lang>[^']*)'\)"
)
_MOH = re.compile(r"Started music on hold, class '(?P<cls>[^']*)', on channel '(?P<chan>[^']+)'")
_MOH_STOP = re.compile(r"Stopped music on hold on (?P<chan>\S+)$")


@dataclass(frozen=True)
class Heard:
    at: float  # seconds since the epoch, from the pbx log's local time
    what: str  # a sound name, or "moh"
    lang: str | None


def rootfs(info: SandboxInfo) -> Path:
    """The sandbox root filesystem (``<root>/srv/sandbox/slotN/pbx/etc``)."""
    return info.pbx.etc_dir.parents[4]


def recordings_dir(info: SandboxInfo) -> Path:
    """Where ARI live recordings of the pbx land (``astspooldir/recording``)."""
    return info.pbx.etc_dir.parent / "spool" / "recording"


def pbx_channel(harness: Harness, call: PlacedCall) -> str:
    """The pbx's channel name of the caller (``PJSIP/pstn-trunk-0000002a``)."""
    for e in harness.events.events:
        if (
            e.source == "pbx"
            and e.name == "Newchannel"
            and e.get("CallerIDNum") == call.caller_number
        ):
            return e["Channel"]
    raise AssertionError(f"no pbx channel for {call.caller_number}")


def log_lines(info: SandboxInfo) -> list[str]:
    """The pbx's log since it last started: Asterisk numbers channels from 1 again after a
    restart (tests/e2e/test_faults.py restarts it), so an earlier call's lines could carry
    the same channel name as the call a test looks at."""
    lines = (
        (info.pbx.log_dir / "messages.log")
        .read_text(encoding="utf-8", errors="replace")
        .splitlines()
    )
    starts = [i for i, line in enumerate(lines) if line.endswith("Asterisk Ready.")]
    return lines[starts[-1] + 1 :] if starts else lines


def heard(info: SandboxInfo, channel: str) -> list[Heard]:
    """Sounds and music the pbx played to ``channel``, in order."""
    out: list[Heard] = []
    for line in log_lines(info):
        head = _LINE.match(line)
        if head is None:
            continue
        at = datetime.strptime(head["at"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        if (m := _PLAYING.search(line)) and m["chan"] == channel:
            out.append(Heard(at, m["sound"], m["lang"]))
        elif (m := _MOH.search(line)) and m["chan"] == channel:
            out.append(Heard(at, "moh", None))
    return out


def moh_classes(info: SandboxInfo, channel: str) -> list[Heard]:
    """Music-on-hold starts on ``channel``, in order, ``what`` = the music class."""
    out: list[Heard] = []
    for line in log_lines(info):
        head = _LINE.match(line)
        if head is not None and (m := _MOH.search(line)) and m["chan"] == channel:
            at = datetime.strptime(head["at"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
            out.append(Heard(at, m["cls"], None))
    return out


def moh_stops(info: SandboxInfo, channel: str) -> list[float]:
    """When music on hold (a notice's class included) stopped on ``channel``, in order."""
    out: list[float] = []
    for line in log_lines(info):
        head = _LINE.match(line)
        if head is not None and (m := _MOH_STOP.search(line)) and m["chan"] == channel:
            out.append(datetime.strptime(head["at"], "%Y-%m-%d %H:%M:%S.%f").timestamp())
    return out


def missing_sound_warnings(info: SandboxInfo, sound: str) -> list[str]:
    """WARNING lines saying ``sound`` exists in no language Asterisk tried."""
    return [
        line
        for line in log_lines(info)
        if "WARNING" in line
        and ("does not exist in any format" in line or "Unable to open file" in line)
        and sound in line
    ]


async def wait_heard(
    info: SandboxInfo, channel: str, what: str, *, count: int = 1, within: float = 30.0
) -> list[Heard]:
    """Wait until the pbx log shows ``what`` played ``count`` times to ``channel``."""
    deadline = time.monotonic() + within
    while True:
        found = [h for h in await asyncio.to_thread(heard, info, channel) if h.what == what]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{channel} did not hear {what} {count}x: {found}")
        await asyncio.sleep(0.2)

"""The guard's alarms: the router fell back, or its health stayed down too long.

The guard runs beside a router that may be dead and a database that may be the thing that
is down, so it sends these e-mails itself (the same :class:`~.email.EmailNotifier`) and keeps
its own small record on disk, ``<state_dir>/guard-alarms.json``: an alarm already in it is
never sent again, whatever restarts. The router's scheduler copies that record into the
``notifications`` table once it is back (:func:`record_guard_alarms`), so the admin web
lists the alarm too. Quiet hours do not hold these back.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.logs import get_logger
from callrouter.notify.email import DeliveryError, Notifier
from callrouter.notify.templates import Template
from callrouter.store import outbox

log = get_logger(__name__)

FILE_NAME = "guard-alarms.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("guard.alarm_record_unreadable", path=str(path), error=str(exc))
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


class GuardAlarms:
    """Sends an alarm once per key to every admin, remembering it in ``state_dir``."""

    def __init__(
        self,
        notifier: Notifier,
        admins: list[str],
        templates: dict[str, Template],
        unit: str,
        state_dir: Path,
    ) -> None:
        self.notifier = notifier
        self.admins = admins
        self.templates = templates
        self.unit = unit
        self.path = state_dir / FILE_NAME
        self._lock = asyncio.Lock()

    def sent(self) -> dict[str, Any]:
        return _read(self.path)

    async def raise_alarm(self, key: str, kind: str, values: dict[str, str]) -> int:
        """Send ``kind`` to each admin not yet told of ``key``; how many got it now."""
        subject, body = self.templates[kind].render({"unit": self.unit, **values})
        told = 0
        async with self._lock:
            record = _read(self.path)
            for admin in self.admins:
                full = f"{key}|{admin}"
                if full in record:
                    continue
                try:
                    await self.notifier.send(admin, subject, body, None)
                except DeliveryError as exc:
                    log.warning("guard.alarm_not_sent", kind=kind, error=str(exc))
                    continue  # tried again on the next alarm round
                record[full] = {
                    "kind": kind,
                    "recipient": admin,
                    "subject": subject,
                    "at": datetime.now(UTC).isoformat(),
                }
                _write(self.path, record)
                told += 1
                log.warning("guard.alarm_sent", kind=kind, key=key)
        return told


async def record_guard_alarms(engine: AsyncEngine, state_dir: Path) -> int:
    """Copy the guard's alarms from its file into ``notifications`` (once each)."""
    added = 0
    for key, entry in _read(state_dir / FILE_NAME).items():
        if not isinstance(entry, dict):
            continue
        try:
            at = datetime.fromisoformat(str(entry["at"]))
            if await outbox.record_sent(
                engine,
                key,
                kind=str(entry["kind"]),
                recipient=str(entry["recipient"]),
                subject=str(entry["subject"]),
                at=at,
            ):
                added += 1
        except (KeyError, ValueError):
            log.warning("guard.alarm_record_bad_entry", key=key)
    return added

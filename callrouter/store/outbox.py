"""The ``notifications`` table as an outbox: queued once per key, delivered, retried, kept.

A notice is inserted only if its key is new (a restart, or planning the same moment twice,
queues nothing). Delivery takes the pending rows whose ``not_before`` has come; a failure
that may pass (server down, a 4xx answer) is retried after ``retry_seconds`` doubling each
time, up to ``max_attempts``; a recipient the server refuses for good (5xx) is given up at
once. Either way the error is kept on the row, and the other rows go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import notifications

PENDING, SENT, FAILED = "pending", "sent", "failed"


class Notice(Protocol):
    """What a notice to queue carries (:class:`callrouter.notify.plan.Notice`): the store
    stays below the notify package and does not import it."""

    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def not_before(self) -> datetime: ...
    @property
    def ics(self) -> str | None: ...


@dataclass(frozen=True)
class Pending:
    id: int
    key: str
    kind: str
    recipient: str
    subject: str
    body: str
    ics: str | None
    attempts: int


async def enqueue(engine: AsyncEngine, notices: Iterable[Notice], now: datetime) -> int:
    """Insert the notices whose key is new; how many were new."""
    wanted = {n.key: n for n in notices}
    if not wanted:
        return 0
    async with engine.begin() as conn:
        known = set(
            (
                await conn.execute(
                    select(notifications.c.key).where(notifications.c.key.in_(list(wanted)))
                )
            ).scalars()
        )
        rows = [
            {
                "key": n.key,
                "kind": n.kind,
                "recipient": n.recipient,
                "subject": n.subject,
                "body": n.body,
                "ics": n.ics,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "not_before": n.not_before,
            }
            for key, n in wanted.items()
            if key not in known
        ]
        if rows:
            await conn.execute(insert(notifications), rows)
    return len(rows)


async def record_sent(
    engine: AsyncEngine, key: str, *, kind: str, recipient: str, subject: str, at: datetime
) -> bool:
    """Record a notice another process already delivered (the guard's alarm); False if known."""
    async with engine.begin() as conn:
        found = await conn.execute(select(notifications.c.id).where(notifications.c.key == key))
        if found.first() is not None:
            return False
        await conn.execute(
            insert(notifications).values(
                key=key,
                kind=kind,
                recipient=recipient,
                subject=subject,
                body="(gửi bởi callrouter guard)",
                status=SENT,
                attempts=1,
                created_at=at,
                not_before=at,
                sent_at=at,
            )
        )
    return True


async def due(engine: AsyncEngine, now: datetime, limit: int = 50) -> Sequence[Pending]:
    n = notifications.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(n.id, n.key, n.kind, n.recipient, n.subject, n.body, n.ics, n.attempts)
            .where(n.status == PENDING, n.not_before <= now)
            .order_by(n.not_before, n.id)
            .limit(limit)
        )
        return [Pending(*row) for row in rows]


async def mark_sent(engine: AsyncEngine, row: Pending, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(notifications)
            .where(notifications.c.id == row.id)
            .values(status=SENT, attempts=row.attempts + 1, sent_at=now, error=None)
        )


async def mark_failed(
    engine: AsyncEngine,
    row: Pending,
    now: datetime,
    error: str,
    *,
    permanent: bool,
    max_attempts: int,
    retry_seconds: float,
) -> bool:
    """Keep the error; retry later unless ``permanent`` or out of attempts. True if given up."""
    attempts = row.attempts + 1
    give_up = permanent or attempts >= max_attempts
    delay = timedelta(seconds=retry_seconds * 2 ** (attempts - 1))
    async with engine.begin() as conn:
        await conn.execute(
            update(notifications)
            .where(notifications.c.id == row.id)
            .values(
                status=FAILED if give_up else PENDING,
                attempts=attempts,
                error=error[:2000],
                not_before=now if give_up else now + delay,
            )
        )
    return give_up


async def listing(
    engine: AsyncEngine, *, status: str | None, limit: int
) -> tuple[list[Any], dict[str, int]]:
    """The newest ``limit`` notifications (of ``status`` when given), and how many there are
    in each state (the admin page ``/thong-bao``; rows of the selected columns)."""
    n = notifications.c
    query = select(
        n.id, n.kind, n.recipient, n.subject, n.status, n.attempts, n.created_at,
        n.sent_at, n.not_before, n.error,
    ).order_by(n.created_at.desc(), n.id.desc()).limit(limit)  # fmt: skip
    if status:
        query = query.where(n.status == status)
    async with engine.connect() as conn:
        rows = list(await conn.execute(query))
        by_status = await conn.execute(select(n.status, func.count()).group_by(n.status))
        counts = {str(k): int(v) for k, v in by_status}
    return rows, counts

"""What the call log already holds of the calls the CDR import meets
(:mod:`callrouter.asterisk.cdr_import`): the rows of those calls, their attempts' last
``seq``, the attempts an earlier import wrote (by their channel-id prefix) and the attempts
still open (the router was killed while they rang). The import decides what to write; only
the reads live here."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import call_attempts, calls

_CHUNK = 500  # linkedids per IN (...) list


@dataclass
class LoggedCall:
    mode: str
    outcome: str | None
    max_seq: int = 0
    #: channel ids of the attempts an import wrote (those with the import's prefix)
    channel_ids: set[str] = field(default_factory=set)
    #: callrouter's attempts of the call still without a result (the router was killed)
    open_seqs: set[int] = field(default_factory=set)


async def logged_calls(
    engine: AsyncEngine, linkedids: list[str], imported_prefix: str
) -> dict[str, LoggedCall]:
    """The calls rows of ``linkedids`` that exist, by linkedid, with their attempts' last
    seq, the channel ids of attempts starting with ``imported_prefix`` and the open ones."""
    out: dict[str, LoggedCall] = {}
    attempts = call_attempts
    async with engine.connect() as conn:
        for i in range(0, len(linkedids), _CHUNK):
            chunk = linkedids[i : i + _CHUNK]
            rows = await conn.execute(
                select(calls.c.id, calls.c.linkedid, calls.c.mode, calls.c.outcome).where(
                    calls.c.linkedid.in_(chunk)
                )
            )
            by_id: dict[str, LoggedCall] = {}
            for call_id, linkedid, mode, outcome in rows.all():
                by_id[call_id] = out[linkedid] = LoggedCall(mode, outcome)
            if not by_id:
                continue
            seqs = await conn.execute(
                select(attempts.c.call_id, func.max(attempts.c.seq))
                .where(attempts.c.call_id.in_(list(by_id)))
                .group_by(attempts.c.call_id)
            )
            for call_id, max_seq in seqs.all():
                by_id[call_id].max_seq = int(max_seq or 0)
            ours = await conn.execute(
                select(attempts.c.call_id, attempts.c.channel_id).where(
                    attempts.c.call_id.in_(list(by_id)),
                    attempts.c.channel_id.startswith(imported_prefix),
                )
            )
            for call_id, channel_id in ours.all():
                by_id[call_id].channel_ids.add(channel_id)
            open_ = await conn.execute(
                select(attempts.c.call_id, attempts.c.seq).where(
                    attempts.c.call_id.in_(list(by_id)),
                    attempts.c.result.is_(None) | attempts.c.ended_at.is_(None),
                )
            )
            for call_id, seq in open_.all():
                by_id[call_id].open_seqs.add(int(seq))
    return out

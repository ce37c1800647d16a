"""After the ARI connection comes back to a restarted Asterisk, the calls that ended just
before it was lost were cut by the restart (callrouter.asterisk.stale.Reconnections). Not
when the connection was lost to another router taking the application over: those calls
ended on their own, even if Asterisk restarted while this router stood by."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callrouter.asterisk import stale
from callrouter.asterisk.stale import Reconnections

pytestmark = pytest.mark.unit


class Link:
    """The part of the ARI client Reconnections watches."""

    def __init__(self) -> None:
        self.ready = False
        self.connects = self.settled = self.replaced = 0
        self.startup = "2026-12-08T01:00:00.000+0000"
        self._change = asyncio.Event()

    async def changed(self) -> None:
        await self._change.wait()

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        change, self._change = self._change, asyncio.Event()
        change.set()

    async def request(self, *_args: Any, **_kwargs: Any) -> dict[str, Any]:
        return {"status": {"startup_time": self.startup}}


@pytest.mark.parametrize(("taken_over", "marked"), [(False, 1), (True, 0)])
async def test_calls_are_marked_cut_by_a_restart_but_not_by_a_takeover(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, taken_over: bool, marked: int
) -> None:
    cut: list[tuple[datetime, datetime]] = []
    closed = asyncio.Queue[int]()

    async def mark(_engine: Any, _log: Any, since: datetime, until: datetime, _now: Any) -> int:
        cut.append((since, until))
        return 0

    async def close_stale(self: Reconnections) -> int:
        closed.put_nowait(self.ari.connects)
        return 0

    monkeypatch.setattr(stale, "mark_cut_calls", mark)
    monkeypatch.setattr(Reconnections, "close_stale", close_stale)
    link = Link()
    watcher = Reconnections(
        None,  # type: ignore[arg-type]  # (used only by the two replaced above)
        None,  # type: ignore[arg-type]
        link,  # type: ignore[arg-type]
        live=lambda: (),
        cdr_path=tmp_path / "cdr.json",
        now=lambda: datetime.now(UTC),
    )
    task = asyncio.create_task(watcher.run())
    try:
        link.set(ready=True, connects=1, settled=1)
        assert await asyncio.wait_for(closed.get(), 2) == 1
        if taken_over:
            link.set(replaced=1, ready=False)  # ApplicationReplaced: standing by
        else:
            link.set(ready=False)  # the socket closed
        link.startup = "2026-12-08T01:05:00.000+0000"  # Asterisk restarted meanwhile
        link.set(ready=True, connects=2, settled=2)
        assert await asyncio.wait_for(closed.get(), 2) == 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(cut) == marked

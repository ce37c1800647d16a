"""``callrouter serve`` keeps the notices in use equal to the notices file: read again when it
changes (a bad file keeps the running set), the include files rewritten, and Asterisk told to
reload its dialplan and music classes (retried each period until Asterisk takes it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from callrouter.errors import AsteriskError
from callrouter.notices.board import NoticeBoard

log = structlog.get_logger(__name__)

ModuleReload = Callable[[str], Awaitable[None]]
MODULES = ("pbx_config.so", "res_musiconhold.so")


async def watch_notices(
    board: NoticeBoard, reload_module: ModuleReload | None, period: float = 2.0
) -> None:
    """Until cancelled: reload ``board`` every ``period`` seconds; after a change reload the
    dialplan and music on hold through ``reload_module`` (None: the operator is told)."""
    pending = False
    while True:
        if await asyncio.to_thread(board.reload) and board.etc_dir is not None:
            pending = True
            if reload_module is None:
                log.warning(
                    "notices.asterisk_not_reloaded",
                    todo='the operator must run: asterisk -rx "dialplan reload" and "moh reload"',
                )
                pending = False
        if pending and reload_module is not None:
            try:
                for module in MODULES:
                    await reload_module(module)
            except AsteriskError as exc:
                log.warning("notices.reload_failed", error=str(exc))
            else:
                pending = False
                log.info("notices.asterisk_reloaded")
        await asyncio.sleep(period)

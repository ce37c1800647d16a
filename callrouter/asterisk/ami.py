"""Logging in to Asterisk's AMI with panoramisk: the one place both AMI users (call-backs,
``callrouter guard``) get their connection from."""

from __future__ import annotations

import asyncio

from panoramisk import Manager

from callrouter.errors import AsteriskError


async def connect_ami(host: str, port: int, user: str, secret: str) -> Manager:
    """A logged-in panoramisk Manager (reconnects by itself after an Asterisk restart)."""
    logged_in = asyncio.Event()
    manager = Manager(
        loop=asyncio.get_running_loop(),
        host=host,
        port=port,
        username=user,
        secret=secret,
        ping_delay=10,
        reconnect_timeout=2,
        on_login=lambda _manager: logged_in.set(),
    )
    try:
        await asyncio.wait_for(manager.connect(), 5)
        await asyncio.wait_for(logged_in.wait(), 5)
    except (OSError, TimeoutError) as exc:
        manager.close()
        raise AsteriskError(f"AMI {host}:{port}: cannot log in ({exc or 'timeout'})") from None
    return manager

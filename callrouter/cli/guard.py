"""``callrouter guard``: the watchdog beside ``serve`` that brings callers out of a dead
router's Stasis application to the dialplan fallback (``callrouter/guard.py``).

Settings: ``CALLROUTER_AMI_HOST``/``_PORT``/``_USER``/``CALLROUTER_AMI_PASSWORD[_FILE]`` (the
AMI user needs ``read = call,reporting`` and ``write = call,reporting``) and the router's
``/healthz`` URL (``--health-url``, ``CALLROUTER_GUARD_HEALTH_URL``).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from callrouter import logs
from callrouter.asterisk.ami import connect_ami
from callrouter.errors import CallrouterError, ConfigError
from callrouter.guard import Guard, GuardConfig
from callrouter.settings import Settings


@click.command("guard")
@click.option(
    "--health-url",
    envvar="CALLROUTER_GUARD_HEALTH_URL",
    default="http://127.0.0.1:8080/healthz",
    show_default=True,
    help="The router's /healthz; no answer at all means the router is dead.",
)
@click.option("--interval", default=0.5, show_default=True, help="Seconds between two probes.")
@click.option("--dead-after", default=3, show_default=True, help="Probes without an answer: dead.")
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read settings from this file instead of ./.env",
)
@click.option("--json-logs/--console-logs", default=None, help="Log format (default: by tty).")
def guard(
    health_url: str,
    interval: float,
    dead_after: int,
    env_file: Path | None,
    json_logs: bool | None,
) -> None:
    """Redirect callers left in a dead router's Stasis application to the dialplan fallback."""
    logs.configure(json=json_logs)
    settings = Settings(_env_file=env_file) if env_file else Settings()
    secret = settings.ami_password.get_secret_value()
    if not secret:
        raise click.ClickException(
            "no AMI password: set CALLROUTER_AMI_PASSWORD or CALLROUTER_AMI_PASSWORD_FILE"
        )
    config = GuardConfig(
        health_url=health_url, app=settings.ari_app, interval=interval, dead_after=dead_after
    )
    try:
        asyncio.run(_run(settings, secret, config))
    except (CallrouterError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


async def _run(settings: Settings, secret: str, config: GuardConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    manager = await connect_ami(settings.ami_host, settings.ami_port, settings.ami_user, secret)
    try:
        await Guard(manager, config).run(stop)
    finally:
        manager.close()

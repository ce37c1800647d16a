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
from typing import Any

import click

from callrouter import logs
from callrouter.asterisk.ami import connect_ami
from callrouter.errors import CallrouterError, ConfigError
from callrouter.guard import Guard, GuardConfig
from callrouter.notify.alarm import GuardAlarms
from callrouter.notify.email import EmailNotifier
from callrouter.notify.settings import NotifySettings
from callrouter.notify.templates import load_templates
from callrouter.report.settings import ReportSettings
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
    "--health-alarm-after",
    default=300.0,
    show_default=True,
    help="Seconds of bad health (no answer, or 503) before the admins get the alarm e-mail.",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read settings from this file instead of ./.env",
)
@click.option("--json-logs/--console-logs", default=None, help="Log format (default: by tty).")
def guard(  # noqa: PLR0917 (click passes the options by position)
    health_url: str,
    interval: float,
    dead_after: int,
    health_alarm_after: float,
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
        health_url=health_url,
        app=settings.ari_app,
        interval=interval,
        dead_after=dead_after,
        health_alarm_after=health_alarm_after,
        timezone=settings.timezone,
    )
    try:
        alarms = guard_alarms(settings, env_file)
        asyncio.run(_run(settings, secret, config, alarms))
    except (CallrouterError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


def guard_alarms(settings: Settings, env_file: Path | None) -> GuardAlarms | None:
    """The alarm sender (``CALLROUTER_NOTIFY_*``, the report's SMTP), or None when off."""
    kw: dict[str, Any] = {"_env_file": env_file} if env_file else {}
    notify = NotifySettings(**kw)
    if not notify.fallback_alarm or not notify.admins:
        logs.get_logger(__name__).warning(
            "guard.alarms_off", hint="set CALLROUTER_NOTIFY_ADMINS to be told of a fallback"
        )
        return None
    mail = ReportSettings(**kw)
    return GuardAlarms(
        EmailNotifier(mail),
        notify.admins,
        load_templates(notify.templates_dir),
        mail.unit_name,
        settings.state_dir,
    )


async def _run(
    settings: Settings, secret: str, config: GuardConfig, alarms: GuardAlarms | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    manager = await connect_ami(settings.ami_host, settings.ami_port, settings.ami_user, secret)
    try:
        await Guard(manager, config, alarms).run(stop)
    finally:
        manager.close()

"""``callrouter serve``: run the call router (ARI mode, or FastAGI mode with ``--mode agi``).

Settings come from ``CALLROUTER_*`` environment variables, a ``.env`` file, or the
options below (which win). Secrets only from the environment or a secret file
(``CALLROUTER_ARI_PASSWORD_FILE``), never from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable
from pathlib import Path

import click
import structlog

from callrouter import logs, malloc
from callrouter.app import ServeOptions, serve_agi
from callrouter.app import serve as run_serve
from callrouter.asterisk.cdr_import import serve_importer
from callrouter.asterisk.prompts import DEFAULT_SOUNDS_DIR
from callrouter.errors import CallrouterError, ConfigError
from callrouter.notices.board import NoticeBoard
from callrouter.settings import EventLoopKind, Settings
from callrouter.store.revision import prepare_in_child

log = structlog.get_logger(__name__)


@click.command("serve")
@click.option("--rota", "rota_path", type=click.Path(path_type=Path), help="Rota YAML file.")
@click.option("--ari-url", help="ARI base URL, e.g. http://127.0.0.1:8088")
@click.option("--ari-user", help="ARI user (password: CALLROUTER_ARI_PASSWORD[_FILE]).")
@click.option("--app", "ari_app", help="Stasis application name.")
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read settings from this file instead of ./.env",
)
@click.option(
    "--mode",
    type=click.Choice(["ari", "agi"]),
    default="ari",
    show_default=True,
    envvar="CALLROUTER_MODE",
    help="ari: control calls over ARI (Stasis). agi: answer FastAGI on "
    "CALLROUTER_AGI_HOST:CALLROUTER_AGI_PORT; the dialplan dials (dialplan global "
    "CALLROUTER_ROUTER=agi).",
)
@click.option("--drain", default=30.0, show_default=True, help="Seconds to let calls finish.")
@click.option("--json-logs/--console-logs", default=None, help="Log format (default: by tty).")
@click.option("--log-level", default="INFO", show_default=True)
def serve(  # noqa: PLR0917 -- click passes every option as a parameter
    rota_path: Path | None,
    ari_url: str | None,
    ari_user: str | None,
    ari_app: str | None,
    env_file: Path | None,
    mode: str,
    drain: float,
    json_logs: bool | None,
    log_level: str,
) -> None:
    """Route hotline calls: over Asterisk ARI (default) or FastAGI (--mode agi); both run the
    admin web, /healthz, /metrics and the live rota reload."""
    logs.configure(json=json_logs, level=log_level.upper())
    overrides: dict[str, object] = {}
    if rota_path is not None:
        overrides["rota_path"] = rota_path
    if ari_url:
        overrides["ari_url"] = ari_url
    if ari_user:
        overrides["ari_user"] = ari_user
    if ari_app:
        overrides["ari_app"] = ari_app
    try:
        base = Settings(_env_file=env_file) if env_file is not None else Settings()
        settings = base.model_copy(update=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            runner.run(
                _main(
                    settings,
                    ServeOptions(drain_seconds=drain, notices=notice_board(settings)),
                    mode=mode,
                )
            )
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from exc


def loop_factory(kind: EventLoopKind) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes serve's event loop (CALLROUTER_EVENT_LOOP): uvloop's, or None for asyncio's."""
    if kind == "uvloop":
        import uvloop  # noqa: PLC0415 (loaded only for the loop that uses it)

        return uvloop.new_event_loop
    return None


def notice_board(settings: Settings) -> NoticeBoard | None:
    """The notices serve plays and watches (CALLROUTER_NOTICES_PATH), or None."""
    if settings.notices_path is None:
        return None
    return NoticeBoard(
        settings.notices_path,
        sounds_dir=settings.notices_sounds_dir or settings.sounds_dir or DEFAULT_SOUNDS_DIR,
        folder=settings.prompt_folder,
        etc_dir=settings.dialplan_include.parent,
    )


async def _main(settings: Settings, options: ServeOptions, *, mode: str = "ari") -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            stop.set()  # stop taking calls, let the ones in progress finish
        elif main_task is not None:
            main_task.cancel()  # second signal: go now

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(signal.SIGHUP, options.reload_rota.set)  # reload the rota now
    # What is loaded by now (modules, settings: ~115,000 objects) lives as long as the process:
    # kept out of the cyclic garbage collector, whose full passes over it paused the event
    # loop 85-150 ms under load, a callers' post-dial delay (bench/results/ab-gc-freeze.txt).
    gc.freeze()
    log.info("serve.gc_frozen", objects=gc.get_freeze_count())
    # A router runs for months: glibc's malloc thresholds kept fixed (callrouter/malloc.py).
    log.info("serve.malloc_thresholds", result=await asyncio.to_thread(malloc.fix_thresholds))
    # Migrations, when needed, run in a child process before anything opens the call log:
    # Alembic never loads into the long-running router (its memory is budgeted).
    await prepare_in_child(settings.effective_database_url())
    # Calls the dialplan fallback handled while callrouter was down: imported from the CDR.
    importer = asyncio.create_task(serve_importer(settings))
    try:
        if mode == "agi":
            await serve_agi(settings, stop, options=options)
        else:
            await run_serve(settings, stop, options=options)
    except asyncio.CancelledError:
        if signals < 2:
            raise
    finally:
        importer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await importer
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

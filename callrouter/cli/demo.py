"""``callrouter demo``: the main job end to end through a local Asterisk sandbox."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from callrouter.demo import DEFAULT_DEMO_DIR, DEMO_ROTA, DemoOptions, run_demo, summary_lines
from callrouter.errors import CallrouterError


@click.command("demo")
@click.option(
    "--slot",
    type=click.IntRange(0, 4),
    default=lambda: int(os.environ.get("CALLROUTER_SANDBOX_SLOT", "0")),
    show_default="CALLROUTER_SANDBOX_SLOT or 0",
    help="Sandbox slot (ports move by 100 per slot); its instances are restarted fresh.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DEMO_DIR,
    show_default=True,
    help="Database, log and reports of the demo (emptied at the start of each run).",
)
@click.option(
    "--rota",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEMO_ROTA,
    show_default=True,
    help="Base rota (numbers of the simulated phone network).",
)
def demo(slot: int, state_dir: Path, rota: Path) -> None:
    """Chạy thử toàn bộ: Asterisk thật, gọi thật, ghi nhật ký, lập báo cáo tháng.

    Starts a fresh local Asterisk pair, runs callrouter on SQLite, places eight calls
    (answered, busy, no answer, press 1, voicemail, abandoned, after hours with a message,
    callrouter stopped → dialplan fallback), prints each step, checks every call's database
    row, then prints the month's report, writes it as XLSX and DOCX and lists the
    call-backs. Needs root (the sandbox uses chroot).
    """
    options = DemoOptions(slot=slot, state_dir=state_dir, rota=rota)
    try:
        result = asyncio.run(run_demo(options))
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from exc
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise click.Abort from None
    for line in summary_lines(result):
        click.echo(line)
    if not result.ok:
        raise click.ClickException("some calls did not end as expected (see ✗ above)")

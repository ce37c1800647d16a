"""The ``callrouter`` command: one CLI, one subcommand group per room.

Each room's commands live beside this file (``rota.py``, ``db.py``, ``privacy.py``,
``calls.py``, ``report.py``, ``serve.py``, ``demo.py``) or in its package
(``callrouter.web.cli``). The table below names them all; a command's module is imported
only when that command runs, so ``callrouter rota who`` does not pay for the report's or the
router's imports.
"""

from __future__ import annotations

import importlib
import sys

import click

from callrouter import __version__

#: command name -> (module, attribute); the one list of what ``callrouter`` offers.
COMMANDS: dict[str, tuple[str, str]] = {
    "rota": ("callrouter.cli.rota", "rota"),
    "db": ("callrouter.cli.db", "db"),
    "privacy": ("callrouter.cli.privacy", "privacy"),
    "calls": ("callrouter.cli.calls", "calls"),
    "callbacks": ("callrouter.cli.calls", "callbacks"),
    "cases": ("callrouter.cli.cases", "cases"),
    "answers": ("callrouter.answers.cli", "answers"),
    "notices": ("callrouter.notices.cli", "notices"),
    "accounts": ("callrouter.cli.accounts", "accounts"),
    "api-tokens": ("callrouter.cli.api_tokens", "api_tokens"),
    "report": ("callrouter.cli.report", "report"),
    "serve": ("callrouter.cli.serve", "serve"),
    "guard": ("callrouter.cli.guard", "guard"),
    "demo": ("callrouter.cli.demo", "demo"),
    "web": ("callrouter.web.cli", "web"),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attr = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring bug
            raise TypeError(f"{module_name}.{attr} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callrouter")
def cli() -> None:
    """callrouter: route hotline 1022 branch-3 calls to the officer on duty."""


def main() -> None:
    """Console-script entry point; UTF-8 output whatever the terminal says."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8")
    cli(prog_name="callrouter")

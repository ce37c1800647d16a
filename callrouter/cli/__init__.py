"""The ``callrouter`` command: one CLI, one subcommand group per room.

Groups live beside this file (``rota.py``, ``db.py``, ``calls.py``, ``report.py``,
``serve.py``) and are attached here, so each room owns its commands.
"""

from __future__ import annotations

import importlib
import sys

import click

from callrouter import __version__

# (module, attribute) of each command attached to the main group; a room that is not
# built yet simply has no module here.
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("callrouter.cli.rota", "rota"),
    ("callrouter.cli.db", "db"),
    ("callrouter.cli.calls", "calls"),
    ("callrouter.cli.calls", "callbacks"),
    ("callrouter.cli.report", "report"),
    ("callrouter.cli.serve", "serve"),
    ("callrouter.cli.demo", "demo"),
    ("callrouter.web.cli", "web"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callrouter")
def cli() -> None:
    """callrouter: route hotline 1022 branch-3 calls to the officer on duty."""


def _attach() -> None:
    for module_name, attr in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        command = getattr(module, attr, None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_attach()


def main() -> None:
    """Console-script entry point; UTF-8 output whatever the terminal says."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8")
    cli(prog_name="callrouter")

"""``python -m callrouter.web hash-password``."""

from callrouter.web.cli import web

web(prog_name="python -m callrouter.web")

"""callrouter: the duty-rota call router behind hotline 1022, branch 3."""

__version__ = "0.1.0.dev0"

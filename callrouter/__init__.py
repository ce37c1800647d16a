"""callrouter: the duty-rota call router behind hotline 1022, branch 3."""

from __future__ import annotations

import sys

__version__ = "0.1.0.dev0"


def _import_structlog_without_rich() -> None:
    """``import structlog`` loads rich and pygments (~6 MB of RSS) when rich is installed, for
    the pretty tracebacks of its development console. callrouter logs plain lines or JSON, and
    the router's memory is budgeted (≤ 100 MB at 100 calls, issue 6): import structlog once
    with rich hidden, so structlog falls back to plain tracebacks. rich itself stays importable
    afterwards (the report's terminal tables use it)."""
    if "structlog" in sys.modules:
        return
    hide = "rich" not in sys.modules
    if hide:
        sys.modules["rich"] = None  # type: ignore[assignment]  # "import rich" → ImportError
    try:
        import structlog  # noqa: F401, PLC0415
    finally:
        if hide and sys.modules.get("rich", False) is None:
            del sys.modules["rich"]


_import_structlog_without_rich()

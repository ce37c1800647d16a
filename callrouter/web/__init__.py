"""The admin web and the operations endpoints (``/healthz``, ``/metrics``).

``create_app(...)`` builds the ASGI app from injected parts; ``WebServer`` runs it with
uvicorn inside the caller's event loop. See ``callrouter/web/app.py``.
"""

from __future__ import annotations

from callrouter.web.app import CallbackDialer, ReadinessCheck, create_app
from callrouter.web.server import WebServer
from callrouter.web.settings import WebSettings
from callrouter.web.wiring import build_app, readiness_checks

__all__ = [
    "CallbackDialer",
    "ReadinessCheck",
    "WebServer",
    "WebSettings",
    "build_app",
    "create_app",
    "readiness_checks",
]

"""The event loop ``serve`` runs on (CALLROUTER_EVENT_LOOP): uvloop's unless told otherwise."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callrouter.cli.serve import loop_factory
from callrouter.settings import Settings

pytestmark = pytest.mark.unit


def test_serve_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLROUTER_EVENT_LOOP", raising=False)
    settings = Settings(_env_file=None)
    assert settings.event_loop == "uvloop"
    factory = loop_factory(settings.event_loop)
    assert factory is not None
    loop = factory()
    try:
        assert f"{type(loop).__module__}.{type(loop).__name__}" == "uvloop.Loop"
    finally:
        loop.close()


def test_asyncio_leaves_the_loop_to_asyncio_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLROUTER_EVENT_LOOP", "asyncio")
    assert loop_factory(Settings(_env_file=None).event_loop) is None


def test_an_unknown_event_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLROUTER_EVENT_LOOP", "tokio")
    with pytest.raises(ValidationError, match="event_loop"):
        Settings(_env_file=None)

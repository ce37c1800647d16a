"""``callrouter serve`` start-up errors and the live rota reload it runs (no Asterisk needed)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from callrouter.app import CallMonitor
from callrouter.calls.live import LiveCalls
from callrouter.cli import cli
from callrouter.metrics import Metrics
from callrouter.rota_source import RotaSource
from callrouter.routing import Target
from tests.e2e.callflow_support import write_rota

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``serve`` configures structlog and the root logger for the process (pointing at
    CliRunner's captured stream); put both back so later tests log normally."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("CALLROUTER_ARI_PASSWORD", "CALLROUTER_ARI_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALLROUTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLROUTER_WEB_ENABLED", "false")
    return tmp_path


def test_serve_without_an_ari_password_says_how_to_give_one(clean_env: Path) -> None:
    rota = write_rota(clean_env / "rota.yaml", ["0901100001"])
    result = CliRunner().invoke(cli, ["serve", "--rota", str(rota)])
    assert result.exit_code == 1
    assert "CALLROUTER_ARI_PASSWORD" in result.output
    assert "Traceback" not in result.output


def test_serve_with_a_bad_rota_names_the_file_and_the_problem(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = clean_env / "ari-password"
    secret.write_text("s3cret\n", encoding="utf-8")
    monkeypatch.setenv("CALLROUTER_ARI_PASSWORD_FILE", str(secret))
    rota = clean_env / "rota.yaml"
    rota.write_text("branch: 3\npolicy:\n  ring_timeout: 1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", "--rota", str(rota)])
    assert result.exit_code == 1
    assert "rota.yaml" in result.output
    assert "ring_timeout" in result.output
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


async def test_a_changed_rota_that_does_not_validate_is_refused_and_the_old_one_stays(
    tmp_path: Path,
) -> None:
    path = write_rota(tmp_path / "rota.yaml", ["0901100001"], ring_timeout=5)
    metrics = Metrics()
    source = await RotaSource.load(path, metrics=metrics)
    before = source.rota.version
    path.write_text(path.read_text(encoding="utf-8") + "  rounds: 99\n", encoding="utf-8")
    assert not await source.reload()
    assert source.rota.version == before
    assert source.tracker.refused_problems
    assert metrics.value("callrouter_rota_reload_refusals_total") == 1
    write_rota(path, ["0901100001", "0902000002"], ring_timeout=7)
    assert await source.reload()
    assert source.rota.version != before
    assert source.rota.policy.ring_timeout == 7
    assert source.tracker.refused_problems == ()
    assert metrics.value("callrouter_rota_reloads_total") == 1


async def test_a_rota_with_an_officer_without_an_email_is_logged_at_load_and_reload(
    tmp_path: Path,
) -> None:
    path = write_rota(tmp_path / "rota.yaml", ["0901100001"], ring_timeout=5)
    with structlog.testing.capture_logs() as logs:
        source = await RotaSource.load(path)
    assert not [e for e in logs if e["event"] == "rota.officers_without_email"]
    text = path.read_text(encoding="utf-8")
    (line,) = [x for x in text.splitlines() if x.strip().startswith("email:")]
    path.write_text(text.replace(line + "\n", ""), encoding="utf-8")
    with structlog.testing.capture_logs() as logs:
        assert await source.reload()
    (warned,) = [e for e in logs if e["event"] == "rota.officers_without_email"]
    assert warned["officers"] == [source.rota.officers[0].id]
    assert warned["log_level"] == "warning"
    assert source.rota.officers[0].email is None


def test_call_monitor_feeds_the_live_view_and_the_metrics() -> None:
    from datetime import UTC, datetime

    live, metrics = LiveCalls(), Metrics()
    monitor = CallMonitor(live, metrics)
    at = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    monitor.call_started(linkedid="l1", caller="0912345678", branch=3, at=at)
    an = Target("an", "An", "09", "so-1", confirm=False, ring_timeout=20)
    monitor.call_state(linkedid="l1", state="ringing", at=at, target=an)
    [call] = live.snapshot()
    assert (call.state, call.officer_name) == ("ringing", "An")
    assert call.leg_of("an") is not None
    monitor.leg_ringing(post_dial_delay=0.01)
    monitor.leg_ended(result="busy", linkedid="l1", target=an)
    assert live.snapshot()[0].legs == ()
    monitor.call_ended(linkedid="l1", outcome="unanswered", wait_seconds=12.0)
    assert live.snapshot() == []
    assert metrics.value("callrouter_calls_total", {"outcome": "unanswered"}) == 1
    assert metrics.value("callrouter_attempts_total", {"result": "busy"}) == 1
    assert metrics.value("callrouter_post_dial_delay_seconds_count") == 1


async def test_a_reload_request_like_sighup_reloads_the_rota_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from callrouter.app import _reload_on_request

    path = write_rota(tmp_path / "rota.yaml", ["0901100001"], ring_timeout=5)
    source = await RotaSource.load(path)
    write_rota(path, ["0901100001"], ring_timeout=9)
    reloaded = asyncio.Event()
    original = source.reload

    async def reload() -> bool:
        ok = await original()
        reloaded.set()
        return ok

    monkeypatch.setattr(source, "reload", reload)
    request = asyncio.Event()
    task = asyncio.create_task(_reload_on_request(source, request))
    request.set()
    async with asyncio.timeout(10):
        await reloaded.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.rota.policy.ring_timeout == 9
    assert not request.is_set()

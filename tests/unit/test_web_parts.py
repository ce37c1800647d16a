"""Small parts of the web room: live calls, metrics, settings, the calendar feed, the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from callrouter.calls.live import LiveCalls
from callrouter.metrics import Metrics
from callrouter.rota import load_rota
from callrouter.rota.ics import feed_calendar
from callrouter.rota.status import RotaTracker
from callrouter.web.cli import web as web_cli
from callrouter.web.security import verify_password
from callrouter.web.settings import WebSettings

pytestmark = pytest.mark.unit

ROTA = Path(__file__).resolve().parents[2] / "config" / "rota.example.yaml"
NOW = datetime(2026, 11, 10, 3, 30, tzinfo=UTC)  # 10:30 in Viet Nam, a Tuesday


def test_live_calls_track_a_call_from_start_to_end() -> None:
    live = LiveCalls()
    live.started(linkedid="b", caller="0911", branch=3, started_at=NOW)
    live.started(linkedid="a", caller=None, branch=3, started_at=NOW - timedelta(seconds=5))
    live.updated(linkedid="b", state="talking", at=NOW, officer_name="Lan", number="0912")
    live.updated(linkedid="gone", state="ringing", at=NOW)  # unknown: ignored
    assert [c.linkedid for c in live.snapshot()] == ["a", "b"]
    assert live.snapshot()[1].state == "talking"
    assert live.snapshot()[1].officer_name == "Lan"
    live.ended(linkedid="b")
    live.ended(linkedid="b")  # twice is harmless
    assert len(live) == 1


def test_live_calls_keep_every_officer_rung_in_parallel_and_then_only_the_one_who_talks() -> None:
    live = LiveCalls()
    live.started(linkedid="c", caller="0911", branch=3, started_at=NOW)
    for officer, number in (("lan", "0226"), ("dung", "0912")):
        live.updated(
            linkedid="c", state="ringing", at=NOW, officer_id=officer, number=number,
            number_label="co-dinh" if number == "0226" else None,
        )  # fmt: skip
    (call,) = live.snapshot()
    assert [(g.officer_id, g.number, g.state) for g in call.legs] == [
        ("lan", "0226", "ringing"),
        ("dung", "0912", "ringing"),
    ]
    live.leg_ended(linkedid="c", officer_id="dung", number="0912")  # busy
    assert live.snapshot()[0].leg_of("dung") is None
    later = NOW + timedelta(seconds=7)
    live.updated(linkedid="c", state="talking", at=later, officer_id="lan", number="0226")
    live.leg_ended(linkedid="c", officer_id="lan", number="0226")  # the answered leg's end
    (leg,) = live.snapshot()[0].legs
    assert (leg.officer_id, leg.state, leg.since) == ("lan", "talking", later)


async def test_live_calls_wake_a_waiter_at_each_change_and_on_close() -> None:
    live = LiveCalls()
    seen = live.version
    assert await live.wait_change(seen, 0.01) == seen  # nothing happened: the heartbeat
    waiting = asyncio.create_task(live.wait_change(seen, 5))
    await asyncio.sleep(0)
    live.started(linkedid="c", caller="0911", branch=3, started_at=NOW)
    assert await waiting == seen + 1
    live.updated(linkedid="gone", state="ringing", at=NOW)  # unknown call: no change
    assert live.version == seen + 1
    waiting = asyncio.create_task(live.wait_change(live.version, 5))
    await asyncio.sleep(0)
    live.close()
    assert await waiting == seen + 2
    assert live.closed


def test_metrics_expose_every_required_family_with_zeroes_from_the_start() -> None:
    metrics = Metrics()
    text = metrics.render().decode()
    for family in (
        'callrouter_calls_total{outcome="after_hours"} 0.0',
        'callrouter_attempts_total{result="no_answer"} 0.0',
        "callrouter_post_dial_delay_seconds_bucket",
        'callrouter_wait_seconds_bucket{le="20.0",outcome="answered"} 0.0',
        "callrouter_ari_reconnects_total 0.0",
        "callrouter_rota_reloads_total 0.0",
        "callrouter_rota_reload_refusals_total 0.0",
        "callrouter_spool_depth 0.0",
        'callrouter_build_info{version="',
        "process_resident_memory_bytes",
        "python_gc_collections_total",
    ):
        assert family in text, family


def test_metrics_count_calls_attempts_and_read_the_spool_at_scrape_time() -> None:
    metrics = Metrics()
    depth = [3]
    metrics.track_spool_depth(lambda: depth[0])
    metrics.call_ended("answered", 12.0)
    metrics.call_ended("abandoned", None)
    metrics.attempt_ended("busy")
    metrics.observe_post_dial_delay(2.5)
    metrics.ari_reconnects.inc()
    assert metrics.value("callrouter_calls_total", {"outcome": "answered"}) == 1
    assert metrics.value("callrouter_wait_seconds_count", {"outcome": "answered"}) == 1
    assert metrics.value("callrouter_wait_seconds_count", {"outcome": "abandoned"}) == 0
    assert metrics.value("callrouter_attempts_total", {"result": "busy"}) == 1
    assert metrics.value("callrouter_post_dial_delay_seconds_count") == 1
    assert metrics.value("callrouter_ari_reconnects_total") == 1
    assert metrics.value("callrouter_spool_depth") == 3
    depth[0] = 0
    assert metrics.value("callrouter_spool_depth") == 0


def test_two_metrics_objects_do_not_share_state() -> None:
    a, b = Metrics(), Metrics()
    a.call_ended("failed", None)
    assert b.value("callrouter_calls_total", {"outcome": "failed"}) == 0


def test_web_settings_read_prefixed_environment_and_secret_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "metrics-token"
    secret.write_text("tok-123\n", encoding="utf-8")
    monkeypatch.setenv("CALLROUTER_WEB_PORT", "9090")
    monkeypatch.setenv("CALLROUTER_WEB_USERS", '{"admin": "scrypt:x"}')
    monkeypatch.setenv("CALLROUTER_WEB_METRICS_TOKEN_FILE", str(secret))
    monkeypatch.setenv("CALLROUTER_WEB_FEEDS", '{"all": "f1"}')
    settings = WebSettings(_env_file=None)
    assert settings.port == 9090
    assert settings.users == {"admin": "scrypt:x"}
    assert settings.metrics_token.get_secret_value() == "tok-123"
    assert settings.feeds["all"].get_secret_value() == "f1"
    assert "tok-123" not in repr(settings)


def test_rota_tracker_counts_reloads_and_clears_a_refusal_on_the_next_good_file() -> None:
    rota = load_rota(ROTA)
    tracker = RotaTracker(path=ROTA)
    tracker.loaded(rota, NOW)
    assert tracker.reloads == 0
    tracker.refused(["x: bad"], NOW)
    assert tracker.rota is rota
    assert tracker.refused_problems == ("x: bad",)
    tracker.loaded(rota, NOW + timedelta(minutes=1))
    assert tracker.reloads == 1
    assert tracker.refused_at is None


def test_officer_feed_holds_only_that_officers_duty() -> None:
    rota = load_rota(ROTA)
    everyone = Calendar.from_ical(feed_calendar(rota, feed="all", now=NOW, weeks=2))
    lan = Calendar.from_ical(feed_calendar(rota, feed="lan", now=NOW, weeks=2))
    all_events = everyone.walk("VEVENT")
    lan_events = lan.walk("VEVENT")
    assert 0 < len(lan_events) < len(all_events)
    assert all("Nguyễn Thị Lan" in str(e["DESCRIPTION"]) for e in lan_events)
    assert all(e.decoded("DTSTART") >= NOW - timedelta(days=1) for e in all_events)


def test_the_subscribed_feed_describes_each_duty_in_vietnamese_like_the_cli() -> None:
    rota = load_rota(ROTA)
    feed = Calendar.from_ical(feed_calendar(rota, feed="all", now=NOW, weeks=2))
    for event in feed.walk("VEVENT"):
        reason = str(event["DESCRIPTION"]).splitlines()[0]
        assert reason.startswith(("ca ", "ngày lễ: ", "thay đổi lịch trực: ")), reason


def test_hash_password_command_prints_a_hash_that_verifies() -> None:
    result = CliRunner().invoke(
        web_cli, ["hash-password", "--user", "admin"], input="mật khẩu thử 1022\n" * 2
    )
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith('CALLROUTER_WEB_USERS={"admin": "scrypt:16384:8:1:')
    encoded = line.split('"')[3]
    assert verify_password("mật khẩu thử 1022", encoded)


def test_hash_password_command_refuses_a_short_password() -> None:
    result = CliRunner().invoke(web_cli, ["hash-password"], input="ngan\nngan\n")
    assert result.exit_code != 0
    assert "ít nhất 10 ký tự" in result.output


def test_duty_now_and_next_groups_an_officers_numbers_in_ring_order() -> None:
    from callrouter.web.app import _duty_now_and_next

    view = _duty_now_and_next(load_rota(ROTA), NOW)
    assert view.open
    assert view.names == [
        ("Nguyễn Thị Lan", ["02263851234 (co-dinh)"]),
        ("Trần Văn Dũng", ["0912680135 (di-dong-truc)"]),
    ]
    assert view.until == datetime(2026, 11, 10, 4, 30, tzinfo=UTC)  # 11:30 in Viet Nam
    assert view.next_start == view.until
    assert len(view.next_names) == 1
    name, numbers = view.next_names[0]
    assert name == "Lê Thị Thu Hương"
    assert len(numbers) == 2

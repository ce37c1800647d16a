"""Prometheus metrics of the router, one :class:`Metrics` object per process.

No module-level collectors: ``app.py`` makes one ``Metrics()`` (its own
``CollectorRegistry``) and hands it to whoever counts — the call flow, the rota watcher,
the ARI client's reconnect loop — and to the web app, which serves it on ``/metrics``.
Tests make their own and read values with :meth:`Metrics.value`.

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms)::

    callrouter_calls_total{outcome}            calls ended, by outcome
    callrouter_attempts_total{result}          officer legs ended, by result
    callrouter_post_dial_delay_seconds         originate → officer phone ringing (or answer)
    callrouter_wait_seconds{outcome}           caller's wait until answer / hang-up / give-up
    callrouter_ari_reconnects_total            ARI event socket reconnections
    callrouter_ari_connected                   1 while the ARI event socket is up
    callrouter_rota_reloads_total              changed rota files swapped in
    callrouter_rota_reload_refusals_total      changed rota files refused (invalid)
    callrouter_spool_depth                     call-log records not yet in the database
    callrouter_hangup_cause_unknown_total{record}  call / attempt ends written without a
                                               hang-up cause (Asterisk reported none; NULL)
    callrouter_calls_in_progress               calls being handled now
    callrouter_callbacks_dialed_total{result}  call-backs started from the admin web
    callrouter_web_logins_total{result}        admin web log-ins, by result
    callrouter_agi_refused_total{reason}       FastAGI connections refused, by reason
    callrouter_live_calls_refused_total        calls left out of the live view (it was full)
    callrouter_build_info{version}             the running version
    process_*, python_gc_*, python_info        the standard process and runtime families
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from callrouter import __version__
from callrouter.asterisk.agi_access import REFUSED_REASONS
from callrouter.store.models import ATTEMPT_RESULTS, OUTCOMES

# Post-dial delay on a mobile network is 2–10 s; a landline rings within a second.
POST_DIAL_DELAY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)
# The caller's wait: the report's service level is "answered within 20 s" by default.
WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: the notice kinds addressed to officers (``callrouter_notify_skipped_total{kind}``)
NOTIFY_OFFICER_KINDS = ("shift_reminder", "duty_changed", "missed_call", "digest")


class _UnknownCauses(Collector):
    """``callrouter_hangup_cause_unknown_total{record}``, read from the call log at scrape
    time (the call log is the one place every door writes a call's end through)."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self.read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "callrouter_hangup_cause_unknown",
            "Call ends (record=call) and attempt ends (record=attempt) written without a "
            "hang-up cause: Asterisk reported none, the row keeps NULL.",
            labels=["record"],
        )
        counts = {"call": 0, "attempt": 0, **self.read()}
        for record, count in sorted(counts.items()):
            family.add_metric([record], count)
        yield family


class Metrics:
    """Every metric the router exposes, registered in one private registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "callrouter_calls", "Calls ended, by outcome.", ["outcome"], registry=r
        )
        self.attempts = Counter(
            "callrouter_attempts", "Officer legs ended, by result.", ["result"], registry=r
        )
        self.post_dial_delay = Histogram(
            "callrouter_post_dial_delay_seconds",
            "Seconds from originating an officer leg until it rings (or answers).",
            buckets=POST_DIAL_DELAY_BUCKETS,
            registry=r,
        )
        self.wait = Histogram(
            "callrouter_wait_seconds",
            "Seconds a caller waited: until answered, hung up, or the line gave up.",
            ["outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.ari_reconnects = Counter(
            "callrouter_ari_reconnects", "ARI event WebSocket reconnections.", registry=r
        )
        self.ari_connected = Gauge(
            "callrouter_ari_connected", "1 while the ARI event WebSocket is connected.", registry=r
        )
        self.rota_reloads = Counter(
            "callrouter_rota_reloads", "Changed rota files validated and swapped in.", registry=r
        )
        self.rota_refusals = Counter(
            "callrouter_rota_reload_refusals",
            "Changed rota files refused because they did not validate.",
            registry=r,
        )
        self.spool_depth = Gauge(
            "callrouter_spool_depth",
            "Call-log records handed to the write-ahead spool and not yet in the database.",
            registry=r,
        )
        self.calls_in_progress = Gauge(
            "callrouter_calls_in_progress", "Calls being handled right now.", registry=r
        )
        self.callbacks_dialed = Counter(
            "callrouter_callbacks_dialed",
            "Call-backs started from the admin web, by result (started|refused|failed).",
            ["result"],
            registry=r,
        )
        self.web_logins = Counter(
            "callrouter_web_logins",
            "Admin web log-in attempts, by result (ok|bad_password|locked).",
            ["result"],
            registry=r,
        )
        self.agi_refused = Counter(
            "callrouter_agi_refused",
            "FastAGI connections refused, by reason "
            "(peer|secret|bad_request|unknown_script|arguments).",
            ["reason"],
            registry=r,
        )
        self.live_refused = Counter(
            "callrouter_live_calls_refused",
            "Calls not shown in the live view because it held its maximum.",
            registry=r,
        )
        self.notify_skipped = Counter(
            "callrouter_notify_skipped",
            "Notices to an officer not queued, by kind and reason (no_email: the rota has no "
            "e-mail address for the officer). Each notice counts once per process.",
            ["kind", "reason"],
            registry=r,
        )
        self.unknown_causes = _UnknownCauses(dict)
        r.register(self.unknown_causes)
        self.build = Info("callrouter_build", "The running callrouter version.", registry=r)
        self.build.info({"version": __version__})
        # The usual process_* (CPU, memory, open files), python_gc_* and python_info families.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        # Every known label value exists from the start, so a dashboard shows 0, not "no data".
        for outcome in OUTCOMES:
            self.calls.labels(outcome=outcome)
            self.wait.labels(outcome=outcome)
        for result in ATTEMPT_RESULTS:
            self.attempts.labels(result=result)
        for reason in REFUSED_REASONS:
            self.agi_refused.labels(reason=reason)
        for kind in NOTIFY_OFFICER_KINDS:
            self.notify_skipped.labels(kind=kind, reason="no_email")

    # -- helpers the call flow calls ----------------------------------------------------
    def call_ended(self, outcome: str, wait_seconds: float | None) -> None:
        """One call ended with ``outcome``; its wait (if known) goes into the histogram."""
        self.calls.labels(outcome=outcome).inc()
        if wait_seconds is not None and wait_seconds >= 0:
            self.wait.labels(outcome=outcome).observe(wait_seconds)

    def agi_refused_connection(self, reason: str) -> None:
        """The FastAGI server refused a connection (``reason``: see ``agi_access``)."""
        self.agi_refused.labels(reason=reason).inc()

    def attempt_ended(self, result: str) -> None:
        self.attempts.labels(result=result).inc()

    def observe_post_dial_delay(self, seconds: float) -> None:
        if seconds >= 0:
            self.post_dial_delay.observe(seconds)

    def track_spool_depth(self, depth: Callable[[], float]) -> None:
        """Read the spool depth at scrape time, e.g. ``lambda: call_log.stats().pending``."""
        self.spool_depth.set_function(depth)

    def track_unknown_causes(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Expose the call log's count of ends written without a hang-up cause."""
        self.unknown_causes.read = read

    def track_calls_in_progress(self, count: Callable[[], float]) -> None:
        self.calls_in_progress.set_function(count)

    # -- reading ------------------------------------------------------------------------
    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of one sample (tests and health pages); 0.0 when absent."""
        value = self.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value

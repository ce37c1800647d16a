"""Telling people in time: shift reminders, uncovered hours, duty changes, the fallback alarm.

* :mod:`.settings`  — ``CALLROUTER_NOTIFY_*``: which kinds are on, the admins, the timings;
* :mod:`.templates` — the Vietnamese messages, overridable by files, checked at load;
* :mod:`.plan`      — pure: which notices the rota calls for at a moment;
* :mod:`callrouter.store.outbox` — the ``notifications`` table: queued once per key, retried
  with backoff (SQL lives in ``store/``);
* :mod:`.email`     — the :class:`~.email.Notifier` protocol and its e-mail implementation
  (the report's SMTP settings and client, :mod:`callrouter.report.send`);
* :mod:`.scheduler` — the one asyncio task inside ``serve`` that plans and delivers;
* :mod:`.alarm`     — the guard's fallback and health alarms, with their record on disk.
"""

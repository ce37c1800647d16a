"""The call log store: tables, writes, the write-ahead spool, retention and privacy, and
every other query callrouter runs outside the report (the admin pages' reads in
:mod:`.dashboard`, the answer book in :mod:`.answers`, the notifications outbox in
:mod:`.outbox`): SQL lives here.

**Personal data rule.** Every table that holds a caller's number or free text about a caller
(today ``calls.caller``, ``callbacks.number``/``recording``, ``call_events.data``) is listed
in :data:`callrouter.store.privacy.PERSONAL_DATA` and handled by both ``db purge``
(:mod:`callrouter.store.purge`, past the retention period) and ``privacy export|erase``
(:mod:`callrouter.store.privacy`, on a citizen's request). A new table or column follows the
same rule, or says in ``NOT_ABOUT_CALLERS`` why it holds nothing about callers; the unit test
``tests/unit/test_store_privacy_coverage.py`` fails otherwise. Recording names are checked
and resolved only by :mod:`callrouter.store.recordings`.
"""

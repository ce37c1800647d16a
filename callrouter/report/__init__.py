"""Monthly report on call handling (issue 8).

* :mod:`~callrouter.report.figures` — the typed, versioned figures; also the JSON exchange format
* :mod:`~callrouter.report.periods` — calendar month, cut-off day, ad-hoc periods
* :mod:`~callrouter.report.queries` — every figure computed in SQL (SQLite and PostgreSQL)
* :mod:`~callrouter.report.tables`, :mod:`~callrouter.report.words` — the Vietnamese tables/text
* ``render_text`` (terminal, CSV), ``render_xlsx``, ``render_docx`` (Decree 30/2020), ``charts``
* :mod:`~callrouter.report.merge` — roll-up of units' JSON reports
* :mod:`~callrouter.report.send` — e-mail over SMTP (aiosmtplib); settings in ``settings.py``
"""

"""Citizens' cases (hỏi đáp, phản ánh, kiến nghị) followed to a result.

``lifecycle`` (kinds, statuses, the transition table), ``workdays`` (deadlines in official
working days on the rota's calendar), ``config`` (topics, agencies, deadlines from YAML).
The tables and queries live in :mod:`callrouter.store.cases`.
"""

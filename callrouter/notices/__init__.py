"""Health notices played to callers while the officers are rung (issue 21, item 3): the
notices file (:mod:`.config`), its text read aloud (:mod:`.normalise`, :mod:`.speech`) and
what Asterisk is told to play (:mod:`.board` for ARI/FastAGI, :mod:`.dialplan` for the
dialplan's own fallback)."""

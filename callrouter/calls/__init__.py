"""The call-flow core shared by the three doors a call comes in by.

ARI (:mod:`callrouter.asterisk.stasis`), FastAGI (:mod:`callrouter.asterisk.fastagi`) and the
CDR import of fallback calls (:mod:`callrouter.asterisk.cdr_import`) all speak the vocabulary
of :mod:`callrouter.calls.vocabulary` and write through the ports of
:mod:`callrouter.calls.ports`. Nothing here imports from :mod:`callrouter.asterisk`.
"""

"""The answer book: answers agreed with the Department of Health, searched beside a live call.

``fold`` folds Vietnamese for search (case, diacritics, đ → d), ``book`` checks an answer
before it is saved; :mod:`callrouter.store.answers` keeps the answers, every version, the
full-text index and the answers a case used (SQL lives in ``store/``).
"""

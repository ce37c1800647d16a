"""Kernel names for callrouter's own threads (issue 23).

Python 3.11 names a thread for itself only: ``top -H``, ``ps -L`` and ``/proc/<pid>/task``
show every thread of ``serve`` as ``python``. A thread that calls :func:`name_this_thread`
shows its Python name there too, so an operator (and ``bench/bench_load.py``, which splits
the router's CPU by thread) can tell the call log's fsync and SQLite threads from the event
loop's. Best effort: nothing happens where ``prctl(2)`` is not to be had.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from typing import Final

#: prctl(2) option (linux/prctl.h); the kernel keeps the first 15 bytes of the name
PR_SET_NAME: Final = 15
NAME_BYTES: Final = 15


def name_this_thread() -> None:
    """Give the calling thread its Python name in the kernel too (cut to 15 bytes). Never
    raises: the call log's threads call it first thing, and a name is not worth losing them."""
    if not sys.platform.startswith("linux"):
        return
    name = threading.current_thread().name.encode("ascii", "replace")[:NAME_BYTES]
    try:
        # the process's own symbols: libc's prctl, without looking for the library on disk
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
    except Exception:  # whatever it is, the thread goes on unnamed
        return

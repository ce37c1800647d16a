"""glibc malloc for a process that runs for months (issue 23).

glibc starts with a 128 KiB threshold above which a block gets its own mapping, given back
whole when freed, and raises that threshold (and the one for giving back the heap's top) to
the size of each such block freed, up to 32 MiB. In ``serve`` that drift sent the call flow's
larger passing buffers into the main heap, where they left holes the heap never gave back:
the 70-minute soak's router grew by 5.2 MB of heap after its first 1,000 calls, about 0.3 KB
a call. Setting both thresholds, even to their starting values, stops the drift
(``mallopt(3)``). Measured side by side (``bench/bench_soak.py``, 6,000 calls at 5/s,
``bench/results/soak-malloc-ab.txt``): from call 1,000 to the end, heap +2.6 MB with the
drift, +0.3 MB without it (RSS +3.6 and +1.2 MB).

An operator's own ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` is left as set;
a C library that is not glibc is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import Final

#: mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
#: glibc's own starting value for both, kept from the start on
THRESHOLD_BYTES: Final = 128 * 1024
#: the environment variables glibc reads for the same settings
OPERATOR_SETTINGS: Final = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (every field a size_t): ``hblks`` blocks in mappings of
    their own, ``uordblks`` in use and ``fordblks`` free in the arenas."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"))


def mallinfo() -> MallInfo2:
    """This process's malloc counters (glibc 2.33 and later)."""
    libc = _libc()
    libc.mallinfo2.restype = MallInfo2
    info: MallInfo2 = libc.mallinfo2()
    return info


def fix_thresholds() -> str:
    """Fix glibc's mmap and trim thresholds at 128 KiB; what was done, for the log:
    ``fixed``, ``operator`` (set in the environment: left alone), ``not glibc`` or
    ``refused`` (mallopt said no)."""
    if any(name in os.environ for name in OPERATOR_SETTINGS):
        return "operator"
    if platform.libc_ver()[0] != "glibc":
        return "not glibc"
    libc = _libc()
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    done = all(libc.mallopt(p, THRESHOLD_BYTES) == 1 for p in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD))
    return "fixed" if done else "refused"

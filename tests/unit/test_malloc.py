"""glibc's malloc thresholds kept fixed in ``serve`` (callrouter/malloc.py, issue 23). The
router runs on Debian (glibc): these run against the real C library of the machine."""

from __future__ import annotations

import os
import subprocess
import sys

#: Frees a 1 MiB block glibc gave a mapping of its own (which, left to drift, raises the
#: threshold to 1 MiB), then asks again: prints the fix's answer and how many of the second
#: block's bytes got a mapping of their own (0: it went into the heap).
PROBE = """
import ctypes, ctypes.util, sys
from callrouter import malloc
print(malloc.fix_thresholds() if sys.argv[1] == "fix" else "-")
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(1 << 20))
before = malloc.mallinfo().hblkhd
block = libc.malloc(1 << 20)
print(malloc.mallinfo().hblkhd - before)
libc.free(block)
"""


def probe(step: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, step],
        env=clean | env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


def test_left_alone_glibc_puts_a_block_the_size_of_one_freed_into_the_heap() -> None:
    assert probe("leave") == ["-", "0"]


def test_with_fixed_thresholds_a_large_block_keeps_a_mapping_of_its_own() -> None:
    answer, mapped = probe("fix")
    assert answer == "fixed"
    assert int(mapped) >= 1 << 20


def test_an_operators_own_malloc_setting_is_left_as_set() -> None:
    answer, mapped = probe("fix", MALLOC_MMAP_THRESHOLD_="4194304")
    assert answer == "operator"
    assert mapped == "0"  # 1 MiB is under the operator's 4 MiB: the heap, as they chose

"""callrouter's threads carry their names into the kernel (``top -H``, ``/proc``)."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import pytest

from callrouter.osthread import name_this_thread


def _kernel_name() -> str:
    return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()


def test_a_thread_that_names_itself_shows_its_python_name_cut_to_15_bytes() -> None:
    seen: list[str] = []

    def run() -> None:
        seen.append(_kernel_name())
        name_this_thread()
        seen.append(_kernel_name())

    thread = threading.Thread(target=run, name="calllog-sqlite_0-and-more")
    thread.start()
    thread.join()
    assert seen[1] == "calllog-sqlite_"
    assert seen[0] != seen[1]  # Python 3.11 alone leaves the process's name


def test_a_thread_that_cannot_be_named_goes_on_unnamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The call log's threads name themselves first thing: a failure must not end them."""

    def broken(_name: object) -> object:
        raise RuntimeError("no prctl here")

    monkeypatch.setattr(ctypes, "CDLL", broken)
    name_this_thread()  # returns

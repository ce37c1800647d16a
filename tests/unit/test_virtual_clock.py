"""The replays' virtual clock (callrouter.calls.fake_ari.VirtualClockLoop): timers fire in
order at their own times without the wall clock waiting, and a worker thread still running
holds the clock (a jump would fire every pending timeout before the thread answers)."""

from __future__ import annotations

import asyncio
import time

import pytest

from callrouter.calls.fake_ari import run_in_virtual_time

pytestmark = pytest.mark.unit


def test_timers_fire_in_order_at_their_virtual_times_in_no_wall_time() -> None:
    async def scenario() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fired: list[tuple[str, float]] = []

        async def after(name: str, seconds: float) -> None:
            await asyncio.sleep(seconds)
            fired.append((name, loop.time() - start))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(after("ring", 5), after("max wait", 12), after("never", 90)), 30
            )
        return fired

    wall = time.monotonic()
    assert run_in_virtual_time(scenario()) == [("ring", 5.0), ("max wait", 12.0)]
    assert time.monotonic() - wall < 5.0


def test_a_worker_thread_still_running_holds_the_clock() -> None:
    async def scenario() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        fired: list[float] = []

        async def timer() -> None:
            await asyncio.sleep(5)
            fired.append(loop.time() - start)

        task = asyncio.create_task(timer())
        await asyncio.to_thread(time.sleep, 0.2)  # real work, answered by real I/O
        during = list(fired)
        await task
        return during, fired

    during, fired = run_in_virtual_time(scenario())
    assert during == []  # the 5 s timer did not fire while the thread worked
    assert fired == [5.0]

"""The least a FastAGI router can do: the floor under callrouter's FastAGI post-dial delay.

    python bench/agi_floor.py PORT   (run by bench/bench_load.py)

Listens on 127.0.0.1:PORT. The pbx's context ``bench-agi-floor`` (the pstn dials 5<number>)
runs ``AGI(agi://127.0.0.1:PORT/floor,<number>)`` and then ``Dial()``s the number the AGI set,
with music on hold while it rings, as callrouter's FastAGI dialplan does. Per request this
server reads the AGI environment, answers with one ``EXEC MSet`` (callrouter's FastAGI door
sends its decision the same way, one command) and closes — no rota, no decision, no database,
asyncio streams as callrouter's FastAGI server uses them. Whatever post-dial delay this path has
over a native ``Dial()`` is the AGI round trip through Asterisk, which no FastAGI router can go
under.

    python bench/agi_floor.py PORT same NUMBER   (bench/bench_load.py's ``agi-same``)

Serves callrouter's own FastAGI dialplan (the pbx switched to FastAGI, as for callrouter's
``agi`` path) with no rota, decision, database or log: ``route`` gets the one ``EXEC MSet`` that
callrouter sends for the bench's rota (one officer, NUMBER, sequential, first attempt
pre-started), every other script (``answered``, ``attempt``, ``end``, ``message``) is read and
closed, as callrouter answers them. Its CPU per call is what that dialplan's AGI connections
cost any Python FastAGI router on this machine: the rest of callrouter's is its own. SIGUSR1
swaps NUMBER and OTHER (``PORT same NUMBER OTHER``), as bench_load swaps the rota's one officer
between a phone that answers and one that rings until the caller hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

ENV_LINES = 200  # Asterisk sends ~25; anything longer is not Asterisk


@contextlib.asynccontextmanager
async def closing(writer: asyncio.StreamWriter) -> AsyncIterator[None]:
    """The connection is closed when the block ends, however it ends."""
    try:
        yield
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def execute(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: bytes
) -> None:
    """One AGI command and Asterisk's answer to it (``200 result=0``)."""
    writer.write(command)
    await writer.drain()
    await reader.readline()


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async with closing(writer):
        number = ""
        for _ in range(ENV_LINES):
            line = await reader.readline()
            if line in (b"\n", b""):
                break
            key, _sep, value = line.decode("utf-8", "replace").partition(":")
            if key == "agi_arg_1":
                number = value.strip()
        if number.isdigit():
            await execute(reader, writer, f'EXEC MSet "BENCH_TARGET={number}"\n'.encode())


def route_variables(number: str) -> str:
    """What callrouter's ``route`` sets for bench_load's rota (agi_variables.py, in order)."""
    pairs = {
        "OPEN": "1",
        "STRATEGY": "sequential",
        "COUNT": "1",
        "ROUNDS": "1",
        "MAX_WAIT": "60",
        "CONFIRM_TIMEOUT": "2",
        "ACTION": "message",
        "FORWARD": "",
        "FORWARD_RING": "30",
        "TARGET_1": number,
        "CONFIRM_1": "0",
        "RING_1": "30",
        "PRESTARTED": "1",
        "MESSAGE_MAX": "120",
        "MESSAGE_SILENCE": "5",
        "OK": "1",
    }
    return ",".join(f"CALLROUTER_AGI_{name}={value}" for name, value in pairs.items())


async def serve_same(
    command: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    async with closing(writer):
        block = await reader.readuntil(b"\n\n")  # the header block, read as callrouter does
        script = b""
        for line in block.split(b"\n"):
            if line.startswith(b"agi_network_script: "):
                script = line.rpartition(b"/")[2]
        if script == b"route":
            await execute(reader, writer, command)


async def run(port: int, numbers: list[str]) -> None:
    if not numbers:
        handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
        handler = serve_one
    else:
        commands = [f'EXEC MSet "{route_variables(n)}"\n'.encode() for n in numbers]

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await serve_same(commands[0], reader, writer)

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, commands.reverse)
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        same = len(sys.argv) > 3 and sys.argv[2] == "same"
        asyncio.run(run(int(sys.argv[1]), sys.argv[3:] if same else []))


if __name__ == "__main__":
    main()

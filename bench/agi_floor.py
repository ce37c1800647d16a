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
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

ENV_LINES = 200  # Asterisk sends ~25; anything longer is not Asterisk


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        number = ""
        for _ in range(ENV_LINES):
            line = await reader.readline()
            if line in (b"\n", b""):
                break
            key, _sep, value = line.decode("utf-8", "replace").partition(":")
            if key == "agi_arg_1":
                number = value.strip()
        if number.isdigit():
            writer.write(f'EXEC MSet "BENCH_TARGET={number}"\n'.encode())
            await writer.drain()
            await reader.readline()  # 200 result=0
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def run(port: int) -> None:
    server = await asyncio.start_server(serve_one, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(int(sys.argv[1])))


if __name__ == "__main__":
    main()

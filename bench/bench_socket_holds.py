"""Which ARI requests Asterisk holds on the events socket while a channel plays a prompt
(issue "Performance under load"; the list behind ``callrouter.asterisk.ari.socket_safe``).

    .venv/bin/python bench/bench_socket_holds.py [--slot N] [--wait 1.0]

Asterisk answers the REST requests of one events WebSocket one after another, in the socket's
reader. A request it hands to the channel's own thread waits while that thread is busy, e.g.
playing a prompt outside a bridge, and every later request on the socket waits behind it.
This dials the sandbox pbx's answering officer into a test application twice (one leg alone,
one in a bridge), and for each request kind starts a long prompt on the lone leg, sends the
request on the socket and prints whether it was answered within ``--wait`` seconds or held
until the prompt was stopped (over HTTP, from the side). Run it again after an Asterisk
upgrade; a kind that moves from "held" to "answered" may join ``socket_safe``. A bench run by
hand, not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_native import bench_parser

from callrouter.asterisk.ari import socket_safe
from tests.e2e.harness import ANSWERS, Sandbox, officer_number

APP = "bench-holds"
LONG = "sound:tt-monkeys,sound:tt-monkeys,sound:tt-monkeys"

#: (method, path under /ari, query, JSON body): the requests callrouter sends, and their kin
KINDS: tuple[tuple[str, str, dict[str, str] | None, Any], ...] = (
    ("POST", "/channels/lone/variable", {"variable": "X", "value": "1"}, None),
    # the bridge guard's kind: a variable on a leg already in a bridge (nothing playing on it)
    ("POST", "/channels/bridged/variable", {"variable": "X", "value": "1"}, None),
    ("GET", "/channels/lone/variable", {"variable": "X"}, None),
    ("GET", "/channels/lone", None, None),
    ("GET", "/channels", None, None),
    ("GET", "/bridges", None, None),
    ("POST", "/channels/lone/answer", None, None),
    ("POST", "/channels/lone/play/second", {"media": "sound:tt-monkeys"}, None),
    ("DELETE", "/playbacks/second", None, None),
    ("POST", "/channels/lone/moh", None, None),
    ("DELETE", "/channels/lone/moh", None, None),
    ("POST", "/channels/lone/ring", None, None),
    ("DELETE", "/channels/lone/ring", None, None),
    ("POST", f"/applications/{APP}/subscription", {"eventSource": "channel:lone"}, None),
    (
        "PUT",
        f"/applications/{APP}/eventFilter",
        None,
        {"allowed": [{"type": "StasisStart"}, {"type": "RESTResponse"}]},
    ),
    ("POST", "/channels/other", {"endpoint": "Local/s@nowhere", "app": APP}, None),
    ("POST", "/bridges/spare", {"type": "mixing"}, None),
    ("DELETE", "/bridges/spare", None, None),
    ("POST", "/bridges/held/addChannel", {"channel": "lone"}, None),
    ("POST", "/bridges/held/removeChannel", {"channel": "lone"}, None),
    (
        "POST",
        "/channels/lone/record",
        {"name": "bench-holds", "format": "wav", "ifExists": "overwrite"},
        None,
    ),
    ("DELETE", "/bridges/held", None, None),  # with the bridged leg in it
    ("POST", "/channels/lone/continue", None, None),  # last: the lone leg leaves the app
)


class Socket:
    """The events socket: events into a queue, requests out with their answers awaited."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers: dict[str, asyncio.Future[int]] = {}
        self.sent = 0

    async def read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            answer = self.answers.pop(str(data.get("request_id")), None)
            if data.get("type") == "RESTResponse" and answer is not None:
                answer.set_result(int(data["status_code"]))
            else:
                self.inbox.put_nowait(data)

    async def request(self, method: str, path: str, query: dict[str, str] | None, body: Any) -> int:
        self.sent += 1
        request_id = str(self.sent)
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.answers[request_id] = answer
        message: dict[str, Any] = {
            "type": "RESTRequest",
            "request_id": request_id,
            "method": method,
            "uri": path.lstrip("/"),
            "query_strings": [{"name": k, "value": v} for k, v in (query or {}).items()],
        }
        if body is not None:
            message |= {"content_type": "application/json", "message_body": json.dumps(body)}
        await self.ws.send_str(json.dumps(message))
        return await answer

    async def started(self, channel_id: str) -> None:
        while True:
            event = await self.inbox.get()
            if event.get("type") == "StasisStart" and event["channel"]["id"] == channel_id:
                return


async def holds(args: argparse.Namespace) -> None:
    sandbox = Sandbox(args.slot)
    pbx = sandbox.start().pbx
    token = "Basic " + base64.b64encode(f"{pbx.ari_user}:{pbx.ari_password}".encode()).decode()
    try:
        async with aiohttp.ClientSession(headers={"Authorization": token}) as http:

            async def side(method: str, path: str, **query: str) -> None:
                async with http.request(method, pbx.ari_url + path, params=query) as resp:
                    await resp.read()

            params = {"app": APP, "subscribeAll": "false"}
            async with http.ws_connect(pbx.ari_url + "/events", params=params) as ws:
                socket = Socket(ws)
                reader = asyncio.create_task(socket.read())
                officer = f"PJSIP/{officer_number(ANSWERS, 0)}@pstn-trunk"
                for leg in ("lone", "bridged"):
                    await side("POST", f"/channels/{leg}", endpoint=officer, app=APP, timeout="10")
                    await socket.started(leg)
                await side("POST", "/bridges/held", type="mixing")
                await side("POST", "/bridges/held/addChannel", channel="bridged")
                print(f"Asterisk {pbx.ari_url}: each request sent on the events socket while")
                print(
                    f"'lone' plays a prompt outside any bridge (held: no answer in {args.wait} s)"
                )
                for method, path, query, body in KINDS:
                    await side("POST", "/channels/lone/play/long", media=LONG)
                    await asyncio.sleep(0.3)  # the prompt is playing
                    started = time.perf_counter()
                    request = asyncio.create_task(socket.request(method, path, query, body))
                    done, _ = await asyncio.wait({request}, timeout=args.wait)
                    if not done:
                        await side("DELETE", "/playbacks/long")  # let it through
                    status = await request
                    took = 1000 * (time.perf_counter() - started)
                    verdict = "HELD until the prompt stopped" if not done else f"{took:6.1f} ms"
                    listed = "socket" if socket_safe(method, path) else "HTTP"
                    print(f"  {method:6} {path:42} {status}  {verdict:30} callrouter: {listed}")
                    await side("DELETE", "/playbacks/long")
                    await side("DELETE", "/playbacks/second")
                    await asyncio.sleep(0.2)
                reader.cancel()
            for leg in ("lone", "bridged", "other"):
                await side("DELETE", f"/channels/{leg}")
    finally:
        sandbox.stop()


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--wait", type=float, default=1.0)
    asyncio.run(holds(parser.parse_args()))


if __name__ == "__main__":
    main()

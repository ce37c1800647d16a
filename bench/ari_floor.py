"""The least an ARI app can do to route a call: the floor under callrouter's post-dial delay.

    python bench/ari_floor.py ARI_URL USER PASSWORD [ws|http]   (run by bench/bench_native.py)

Stasis app ``bench-floor`` (pbx context ``bench-ari-floor``: ``Stasis(bench-floor,<number>)``):
on the caller's StasisStart it originates ``PJSIP/<number>@pstn-trunk`` at once — no rota, no
decision, no database, no greeting, aiohttp as callrouter uses it, the same server-side event
filter idea, its REST requests on the events WebSocket as callrouter's (``http``: over HTTP,
as before Asterisk 22.4) — with the parameters callrouter sends (channel id, originator,
timeout, the caller's number as caller id, app args); when the officer
answers it bridges the two, and when either hangs up it hangs up the other. Whatever post-dial
delay this app has over a native ``Dial()`` is Asterisk's ARI path (Stasis dispatch, the
originate handler, the dial thread), which no ARI router can go under.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import sys
from typing import Any

import aiohttp

APP = "bench-floor"
LEG_PREFIX = "callrouter-leg-"  # what bench_native's pdd_ms looks for (callrouter's prefix)


def report(method: str, path: str, status: int, reply: str | bytes) -> None:
    if status >= 300 and method != "DELETE":  # a gone channel is no news
        print(f"{method} {path}: {status} {reply[:200]!r}", file=sys.stderr)


async def run(url: str, user: str, password: str, rest: str = "ws") -> None:
    token = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    partner: dict[str, str] = {}
    tasks: set[asyncio.Task[Any]] = set()
    asked: dict[str, tuple[str, str]] = {}  # request id -> (method, path), REST over the socket
    ws: aiohttp.ClientWebSocketResponse | None = None
    ids = itertools.count(1)
    async with aiohttp.ClientSession(headers={"Authorization": token}) as http:

        async def call(method: str, path: str, body: Any = None, **params: str) -> None:
            if ws is not None:  # the answer comes back among the events (RESTResponse)
                request_id = str(next(ids))
                asked[request_id] = (method, path)
                request: dict[str, Any] = {
                    "type": "RESTRequest",
                    "request_id": request_id,
                    "method": method,
                    "uri": path.lstrip("/"),
                    "query_strings": [{"name": k, "value": v} for k, v in params.items()],
                }
                if body is not None:
                    request |= {
                        "content_type": "application/json",
                        "message_body": json.dumps(body),
                    }
                await ws.send_str(json.dumps(request))
                return
            async with http.request(method, f"{url}{path}", params=params, json=body) as resp:
                report(method, path, resp.status, await resp.read())

        def spawn(coro: Any) -> None:
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        ws_url = url.replace("http://", "ws://") + f"/events?app={APP}"
        async with http.ws_connect(ws_url) as events:
            # Only the events this app acts on (callrouter too asks for its own list only).
            types = ("StasisStart", "StasisEnd", "ChannelDestroyed", "RESTResponse")
            allowed = [{"type": t} for t in types]
            await call("PUT", f"/applications/{APP}/eventFilter", body={"allowed": allowed})
            if rest == "ws":
                ws = events
            print("ready", flush=True)
            async for msg in events:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                kind, channel = event.get("type"), event.get("channel") or {}
                if kind == "RESTResponse":
                    method, path = asked.pop(str(event.get("request_id")), ("?", "?"))
                    report(
                        method,
                        path,
                        int(event.get("status_code", 0)),
                        event.get("message_body", ""),
                    )
                    continue
                cid = channel.get("id", "")
                if kind == "StasisStart":
                    args = event.get("args") or []
                    if args and args[0] == "leg":  # the officer answered: bridge the two
                        caller = args[1]
                        spawn(bridge(call, caller, cid))
                    elif args:  # a caller: ring its number now
                        leg = f"{LEG_PREFIX}{cid}"
                        partner[cid], partner[leg] = leg, cid
                        spawn(
                            call(
                                "POST",
                                f"/channels/{leg}",
                                endpoint=f"PJSIP/{args[0]}@pstn-trunk",
                                app=APP,
                                appArgs=f"leg,{cid}",
                                originator=cid,
                                timeout="30",
                                callerId=(channel.get("caller") or {}).get("number", ""),
                            )
                        )
                elif kind in ("StasisEnd", "ChannelDestroyed") and cid in partner:
                    other = partner.pop(cid)
                    partner.pop(other, None)
                    spawn(call("DELETE", f"/channels/{other}"))
                    caller = other if cid.startswith(LEG_PREFIX) else cid
                    spawn(call("DELETE", f"/bridges/floor-{caller}"))


async def bridge(call: Any, caller: str, leg: str) -> None:
    bridge_id = f"floor-{caller}"
    await call("POST", f"/bridges/{bridge_id}", type="mixing")
    await call("POST", f"/bridges/{bridge_id}/addChannel", channel=f"{caller},{leg}")


def main() -> None:
    url, user, password = sys.argv[1:4]
    rest = sys.argv[4] if len(sys.argv) > 4 else "ws"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(url, user, password, rest))


if __name__ == "__main__":
    main()

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

    python bench/ari_floor.py ARI_URL USER PASSWORD ws same   (bench/bench_load.py's ``ari-same``)

Stasis app ``bench-same`` (pbx context ``bench-ari-same``, the pstn dials 4<number>): still no
rota, decision, database or log, but the same ARI requests, on the same transport, and the same
event filter as callrouter's ARI door for a call the first officer answers (its recorded trace,
tests/unit/ari_traces/…_caller_is_bridged_to_it_and_call_is_answered_ari-sqlite.jsonl): on the
caller's StasisStart it subscribes to the caller's channel, originates the leg under its own id
with the bridge guard's hang-up handler, and plays the greeting and "please hold" (HTTP); when
the officer answers it stops that prompt, creates a named bridge, adds both channels (HTTP) and
names each side's peer in CALLROUTER_PEER (HTTP, two requests); when either hangs up it hangs
up the other and deletes the bridge. Its CPU per call is what these requests and events cost any
Python ARI app on this machine: the rest of callrouter's is its own (bench/bench_load.py).
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

from callrouter.asterisk.ari_wire import DEFAULT_EVENT_TYPES

APP = "bench-floor"
SAME_APP = "bench-same"
PROMPT = "sound:callrouter/greeting,sound:callrouter/please-hold"
GUARD = {"variables": {"CHANNEL(hangup_handler_push)": "callrouter-peer-hangup,s,1"}}
LEG_PREFIX = "callrouter-leg-"  # what bench_native's pdd_ms looks for (callrouter's prefix)


def report(method: str, path: str, status: int, reply: str | bytes) -> None:
    if status >= 300 and method != "DELETE":  # a gone channel is no news
        print(f"{method} {path}: {status} {reply[:200]!r}", file=sys.stderr)


async def run(url: str, user: str, password: str, rest: str = "ws", same: bool = False) -> None:
    app = SAME_APP if same else APP
    token = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    partner: dict[str, str] = {}
    names: dict[str, str] = {}  # caller's channel id -> its name (``same``: the guard's value)
    tasks: set[asyncio.Task[Any]] = set()
    asked: dict[str, tuple[str, str]] = {}  # request id -> (method, path), REST over the socket
    # ``same``: the answer each request waits for, as callrouter waits (the plain floor does not)
    answers: dict[str, asyncio.Future[None]] = {}
    ws: aiohttp.ClientWebSocketResponse | None = None
    ids = itertools.count(1)
    async with aiohttp.ClientSession(headers={"Authorization": token}) as http:

        async def call(
            method: str, path: str, body: Any = None, http_only: bool = False, **params: str
        ) -> None:
            if (
                ws is not None and not http_only
            ):  # the answer comes back among the events (RESTResponse)
                request_id = str(next(ids))
                asked[request_id] = (method, path)
                if same:
                    answers[request_id] = asyncio.get_running_loop().create_future()
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
                if same:
                    await answers[request_id]
                return
            async with http.request(method, f"{url}{path}", params=params, json=body) as resp:
                report(method, path, resp.status, await resp.read())

        def spawn(coro: Any) -> None:
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        ws_url = url.replace("http://", "ws://") + f"/events?app={app}"
        async with http.ws_connect(ws_url) as events:
            # Only the events this app acts on (callrouter too asks for its own list only);
            # ``same``: callrouter's list.
            types = {"StasisStart", "StasisEnd", "ChannelDestroyed", "RESTResponse"}
            if same:
                types |= DEFAULT_EVENT_TYPES
            allowed = [{"type": t} for t in sorted(types)]
            await call("PUT", f"/applications/{app}/eventFilter", body={"allowed": allowed})
            if rest == "ws":
                ws = events
            print("ready", flush=True)
            async for msg in events:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                kind, channel = event.get("type"), event.get("channel") or {}
                if kind == "RESTResponse":
                    request_id = str(event.get("request_id"))
                    method, path = asked.pop(request_id, ("?", "?"))
                    if (answered := answers.pop(request_id, None)) is not None:
                        answered.set_result(None)
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
                        names[cid] = channel.get("name", "")
                        bridging = bridge_same if same else bridge
                        spawn(bridging(call, caller, cid, names))
                    elif args:  # a caller: ring its number now
                        leg = f"{LEG_PREFIX}{cid}"
                        partner[cid], partner[leg] = leg, cid
                        names[cid] = channel.get("name", "")
                        number = (channel.get("caller") or {}).get("number", "")
                        ring = originate(call, app, cid, leg, args[0], number, same)
                        spawn(ring_same(call, app, cid, ring) if same else ring)
                elif kind in ("StasisEnd", "ChannelDestroyed") and cid in partner:
                    other = partner.pop(cid)
                    partner.pop(other, None)
                    caller = other if cid.startswith(LEG_PREFIX) else cid
                    names.pop(caller, None)
                    names.pop(f"{LEG_PREFIX}{caller}", None)
                    spawn(call("DELETE", f"/channels/{other}"))
                    spawn(call("DELETE", f"/bridges/floor-{caller}"))


def originate(  # noqa: PLR0917 -- a bench's one call site
    call: Any, app: str, caller: str, leg: str, number: str, caller_id: str, same: bool
) -> Any:
    params = {
        "endpoint": f"PJSIP/{number}@pstn-trunk",
        "app": app,
        "appArgs": f"leg,{caller}",
        "originator": caller,
        "timeout": "30",
        "callerId": caller_id,
    }
    return call("POST", f"/channels/{leg}", body=GUARD if same else None, **params)


async def ring_same(call: Any, app: str, caller: str, ring: Any) -> None:
    """callrouter's order: follow the caller's channel, ring the officer, then the prompt."""
    await call("POST", f"/applications/{app}/subscription", eventSource=f"channel:{caller}")
    await ring
    await call("POST", f"/channels/{caller}/play/prompt-{caller}", http_only=True, media=PROMPT)


async def bridge(call: Any, caller: str, leg: str, _names: dict[str, str]) -> None:
    bridge_id = f"floor-{caller}"
    await call("POST", f"/bridges/{bridge_id}", type="mixing")
    await call("POST", f"/bridges/{bridge_id}/addChannel", channel=f"{caller},{leg}")


async def bridge_same(call: Any, caller: str, leg: str, names: dict[str, str]) -> None:
    """callrouter's order: stop the prompt, bridge (addChannel over HTTP), then the guard."""
    bridge_id = f"floor-{caller}"
    await call("DELETE", f"/playbacks/prompt-{caller}")
    await call("POST", f"/bridges/{bridge_id}", type="mixing", name=f"callrouter-call-{caller}")
    channels = f"{caller},{leg}"
    await call("POST", f"/bridges/{bridge_id}/addChannel", http_only=True, channel=channels)
    variable = "CALLROUTER_PEER"
    for channel, peer in ((caller, leg), (leg, caller)):
        value = names.get(peer, "")
        await call(
            "POST", f"/channels/{channel}/variable", http_only=True, variable=variable, value=value
        )


def main() -> None:
    url, user, password = sys.argv[1:4]
    rest = sys.argv[4] if len(sys.argv) > 4 else "ws"
    same = len(sys.argv) > 5 and sys.argv[5] == "same"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(url, user, password, rest, same))


if __name__ == "__main__":
    main()

"""Pure ASGI middleware that refuses request bodies past a bound (413), before any parsing:
a 1 MB form field is never parsed, kept or logged."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_BYTES = 4 * 1024 * 1024  # past this a chunked upload is cut off without reading on


class _BodyTooLarge(Exception):
    """A request body past ``max_body_bytes`` (raised from ``receive``)."""


class BodyLimit:
    """Pure ASGI middleware: refuses a request body bigger than ``limit`` bytes with 413,
    by its Content-Length or, when chunked, as soon as the bytes read pass the limit, so a
    1 MB form field is never parsed, stored or logged."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _too_large(send)
                return
        seen = 0
        more = True
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, more
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            # Read (and drop) a bounded rest of a chunked upload so the client, still
            # sending, gets the 413 instead of a reset connection.
            while more and seen <= DRAIN_BYTES:
                message = await receive()
                seen += len(message.get("body", b""))
                more = message["type"] == "http.request" and bool(message.get("more_body"))
            if not started:
                await _too_large(send)


async def _too_large(send: Send) -> None:
    body = "Yêu cầu quá lớn.".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

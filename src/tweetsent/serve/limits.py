"""What every request must pass before an endpoint sees it: the API key and the body size.

    app = Guard(app, max_body=1_000_000, api_key="s3cret")

A pure ASGI middleware, so that a refused request is answered before its body is read: a body
announced (Content-Length) or found (counted while reading) larger than ``max_body`` gets a 413, a
body that is not UTF-8 a 422, a missing or wrong key a 401, each as ``{"error": "..."}``. The key
is read from ``X-API-Key`` or ``Authorization: Bearer ...`` and compared in constant time. The one
exception is ``GET /`` (the web page, which holds no data): it loads without a key, so that the page
can ask for one; every call the page makes still needs it.
"""

from __future__ import annotations

import hmac
import json

__all__ = ["Guard", "error_body"]


def error_body(message: str) -> bytes:
    """The one shape of every error answer: ``{"error": message}`` as UTF-8 JSON."""
    return json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")


async def _send_error(send, status: int, message: str, headers: tuple = ()) -> None:
    body = error_body(message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    if b"x-api-key" in headers:
        return headers[b"x-api-key"]
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


class Guard:
    """ASGI middleware: API key (when set) and body size, checked on every HTTP request.

    Parameters
    ----------
    app : ASGI application
        The app to protect.
    max_body : int
        Largest request body accepted, in bytes.
    api_key : str or None
        When set, every request must present it (``X-API-Key`` or ``Authorization: Bearer``).
    """

    def __init__(self, app, *, max_body: int, api_key: str | None = None) -> None:
        self.app, self.max_body = app, max_body
        self.api_key = None if api_key is None else api_key.encode("utf-8")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.api_key is not None and not (scope.get("method") == "GET" and scope.get("path") == "/"):
            key = _presented_key(headers)
            if key is None or not hmac.compare_digest(key, self.api_key):
                what = "missing" if key is None else "wrong"
                await _send_error(send, 401, f"{what} API key: send it in the X-API-Key header "
                                             f"(or Authorization: Bearer KEY)", ((b"www-authenticate", b"Bearer"),))
                return
        too_large = f"request body larger than the limit of {self.max_body} bytes (max_body); send fewer tweets per request"
        try:
            announced = int(headers.get(b"content-length", b"0"))
        except ValueError:
            await _send_error(send, 400, "Content-Length is not a number")
            return
        if announced > self.max_body:
            await _send_error(send, 413, too_large)
            return
        # Read the whole body (at most max_body bytes), then hand it to the app as one message.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_error(send, 413, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            await _send_error(send, 422, f"the request body is not UTF-8 text (byte {exc.start}); send JSON in UTF-8")
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

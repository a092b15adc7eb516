"""Request checks that apply to every route: token, Host header, cross-site writes.

- ``token``: when set, every request must carry it, as ``?token=...`` (the URL that
  ``painterly serve`` prints; the page then gets it as a cookie, which EventSource and
  ``<img>`` send along), an ``Authorization: Bearer ...`` header or that cookie.
- ``allowed_hosts``: when set (``painterly serve`` sets it when bound to loopback), the
  Host header must name one of them, so a web page cannot reach this server through a
  DNS name rebound to 127.0.0.1.
- Writes (POST) that a browser marks as coming from another site (an ``Origin`` that is
  not this server) are refused, so a page elsewhere cannot start or cancel jobs here;
  so is ``Origin: null``, which sandboxed frames, ``file:`` and ``data:`` pages send.

Pure ASGI, so it does not buffer the server-sent event streams.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ConfigError

COOKIE = "painterly_token"
TOKEN_RE = re.compile(r"^[A-Za-z0-9._~-]{8,128}$")


def check_token(token: str | None) -> None:
    """Refuse a token that cannot travel in a URL and a cookie as it is (or is too short to guess)."""
    if token is not None and not TOKEN_RE.match(token):
        raise ConfigError("--token must be 8 to 128 characters from A-Z a-z 0-9 . _ ~ -")


def host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1'; '[::1]:8000' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    def __init__(self, app: ASGIApp, *, token: str | None = None, allowed_hosts: Iterable[str] | None = None):
        self.app = app
        self.token = token
        self.allowed = {host_name(h) for h in allowed_hosts} if allowed_hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.allowed is not None and host_name(host) not in self.allowed:
            await _deny(send, 400, f"unexpected Host header {host!r}; open the address painterly serve printed")
            return
        origin = headers.get("origin")
        writes = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        if writes and origin == "null":
            await _deny(send, 403, "requests from pages without an origin (sandboxed frames, local files) are refused")
            return
        if writes and origin and urlsplit(origin).netloc.lower() != host.lower():
            await _deny(send, 403, "requests from other web sites are refused")
            return
        set_cookie = False
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = [*query.get("token", [])]
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given.append(auth[7:].strip())
            cookie = SimpleCookie()
            with contextlib.suppress(CookieError):  # a malformed Cookie header counts as no cookie
                cookie.load(headers.get("cookie", ""))
            if COOKIE in cookie:
                given.append(cookie[COOKIE].value)
            if not any(secrets.compare_digest(g.encode(), self.token.encode()) for g in given):
                await _deny(send, 401, "this server needs its token: open the full address painterly serve "
                                       "printed (ending in ?token=...), or send 'Authorization: Bearer TOKEN'")
                return
            set_cookie = bool(query.get("token"))

        if not set_cookie:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", value.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def _deny(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

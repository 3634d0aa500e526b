"""What the fake stores share: servers on free loopback ports, cookie sessions, CSRF
tokens, switchable failure modes and a tiny HTML skeleton."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FailureModes:
    """Ways a site misbehaves; flip them on a running site between agent runs."""

    wrong_password: bool = False
    """Reject every password, as if it had been changed on the store."""

    two_factor: bool = False
    """Ask for a one-time code after the password."""

    slow_seconds: float = 0.0
    """Delay the site's designated slow page(s) by this long."""

    unavailable_first: int = 0
    """Answer the next N page loads (GET of an HTML page) with a 503 error page."""

    changed_layout: bool = False
    """Render the admin pages with different ids and labels, as after a redesign."""

    requests: list[str] = field(default_factory=list)
    """Every request seen, ``METHOD path`` (for assertions on what the agent did)."""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(
    title: str,
    body: str,
    *,
    status: int = 200,
    body_class: str = "",
    head: str = "",
    lang: str = "en",
) -> web.Response:
    """A complete HTML document."""
    document = (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title>{head}</head>"
        f'<body class="{esc(body_class)}">{body}</body></html>'
    )
    return web.Response(status=status, text=document, content_type="text/html")


def with_query(url: str, **params: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{urlencode(params)}"


class Sessions:
    """Server-side sessions behind one cookie name (sites share 127.0.0.1, so each origin
    of a site uses its own cookie name, as the real hosts would by being different)."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self.data: dict[str, dict[str, Any]] = {}

    def get(self, request: web.Request) -> dict[str, Any] | None:
        sid = request.cookies.get(self.cookie)
        return self.data.get(sid) if sid else None

    def ensure(self, request: web.Request, response: web.StreamResponse) -> dict[str, Any]:
        """The request's session, creating one (and setting its cookie) when absent."""
        existing = self.get(request)
        if existing is not None:
            return existing
        sid = secrets.token_urlsafe(24)
        self.data[sid] = {"_id": sid}
        response.set_cookie(self.cookie, sid, httponly=True, samesite="Lax", path="/")
        return self.data[sid]

    def start(self, response: web.StreamResponse, **values: Any) -> dict[str, Any]:
        """A new session (fresh id, so a pre-login id is never reused after login)."""
        sid = secrets.token_urlsafe(24)
        self.data[sid] = {"_id": sid, **values}
        response.set_cookie(self.cookie, sid, httponly=True, samesite="Lax", path="/")
        return self.data[sid]


class Csrf:
    """Per-session, per-action tokens (Rails ``authenticity_token`` / WordPress nonces)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def token(self, session: dict[str, Any], action: str, length: int = 32) -> str:
        digest = hmac.new(self._key, f"{session['_id']}|{action}".encode(), hashlib.sha256)
        return digest.hexdigest()[:length]

    def check(
        self, session: dict[str, Any] | None, action: str, value: str, length: int = 32
    ) -> bool:
        if session is None or not value:
            return False
        return hmac.compare_digest(self.token(session, action, length), value)


def failure_middleware(
    failures: Callable[[], FailureModes],
    *,
    is_slow: Callable[[web.Request], bool],
    unavailable_page: Callable[[], web.Response],
) -> Middleware:
    """Request log, 503-the-first-N-page-loads and slow pages, for one site."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        modes = failures()
        modes.requests.append(f"{request.method} {request.path_qs}")
        if (
            request.method == "GET"
            and modes.unavailable_first > 0
            and "text/html" in request.headers.get("Accept", "text/html")
        ):
            modes.unavailable_first -= 1
            return unavailable_page()
        if modes.slow_seconds and is_slow(request):
            await asyncio.sleep(modes.slow_seconds)
        return await handler(request)

    return middleware


class Server:
    """One aiohttp application listening on a (free by default) loopback port."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


def same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)

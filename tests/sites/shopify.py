"""Shopify, as far as the API-credential flows go: accounts login, Dev Dashboard, store admin.

Three origins by default, as in reality (``accounts.shopify.com``, ``dev.shopify.com``,
``{shop}.myshopify.com``), each with its own session cookie; ``single_origin=True`` serves
all three from one port (the demo does that).

- **Accounts**: email page → password page → optional two-step page; single sign-on, so a
  signed-in browser is sent straight back with a one-time code.
- **Dev Dashboard**: apps list → Create app (Start from Dev Dashboard, name, Create) → the
  version form (Select scopes picker, Release + confirmation) → app home → Install app
  (store picker) → the store's permissions dialog → app Settings with the Client ID and
  client secrets revealed on demand; Rotate (Generate new client secret?) and Revoke.
- **Store admin**: Settings → Apps and sales channels → Develop apps, with the banner saying
  that since 1 January 2026 no new legacy custom apps can be created (creation works only
  when ``allow_legacy_custom_apps``), Allow custom app development, Create an app, Admin
  API scopes, Install app, and the Admin API access token revealed once.
- ``POST /admin/oauth/access_token``: the client-credentials grant, 24-hour tokens; and
  ``GET /admin/api/2026-01/shop.json`` accepting ``X-Shopify-Access-Token``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from ._common import (
    Csrf,
    FailureModes,
    Server,
    Sessions,
    esc,
    failure_middleware,
    page,
    same_origin,
    with_query,
)

ORG_ID = 4242
TOKEN_LIFETIME = 86399
LEGACY_BANNER = (
    "As of January 1, 2026, you can't create new legacy custom apps. Existing legacy custom "
    "apps keep working. To create a new app, build it in the Dev Dashboard."
)
SCOPES: dict[str, str] = {
    "read_products": "View products, variants and collections",
    "write_products": "Edit products, variants and collections",
    "read_orders": "View orders, transactions and fulfillments",
    "write_orders": "Edit orders, transactions and fulfillments",
    "read_customers": "View customers",
    "write_customers": "Edit customers",
    "read_inventory": "View inventory and locations",
    "write_inventory": "Edit inventory",
    "read_content": "View articles, blogs, comments, pages and redirects",
}
MASK = "\u2022" * 16


def _hex(n: int) -> str:
    return secrets.token_hex(n // 2)


@dataclass
class ClientSecret:
    id: int
    value: str
    created_at: datetime
    revoked_at: datetime | None = None
    reveals: int = 0

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass
class AppVersion:
    number: int
    name: str
    scopes: list[str]
    released_at: datetime


@dataclass
class DevApp:
    """A Dev Dashboard app and what the site issued for it."""

    id: int
    name: str
    client_id: str
    secrets: list[ClientSecret] = field(default_factory=list)
    versions: list[AppVersion] = field(default_factory=list)
    #: store domain → the scopes granted at install
    installs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def handle(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or f"app-{self.id}"

    @property
    def active_secrets(self) -> list[ClientSecret]:
        return [s for s in self.secrets if not s.revoked]

    @property
    def active_version(self) -> AppVersion | None:
        return self.versions[-1] if self.versions else None


@dataclass
class LegacyApp:
    """A custom app created in the store admin (the pre-2026 way)."""

    id: int
    name: str
    scopes: list[str] = field(default_factory=list)
    installed: bool = False
    access_token: str | None = None
    token_revealed_at: datetime | None = None
    api_key: str = field(default_factory=lambda: _hex(32))


@dataclass
class AccessToken:
    token: str
    client_id: str | None
    scopes: list[str]
    issued_at: datetime
    expires_at: datetime | None

    def valid(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return self.expires_at is None or now < self.expires_at


@dataclass
class ShopifySite:
    """The fake Shopify; ``await site.start()``, then use ``store_url``/``dev_dashboard_url``."""

    email: str = "owner@acme.example"
    password: str = "correct horse battery staple"
    shop_name: str = "Acme Test Store"
    #: The store was grandfathered in: its admin may still create legacy custom apps.
    allow_legacy_custom_apps: bool = False
    #: "Allow custom app development" was already clicked in this store.
    custom_app_development_enabled: bool = False
    single_origin: bool = False
    #: Port of the store (of the only server with ``single_origin``); 0 picks a free one.
    port: int = 0
    failures: FailureModes = field(default_factory=FailureModes)
    apps: dict[int, DevApp] = field(default_factory=dict)
    legacy_apps: dict[int, LegacyApp] = field(default_factory=dict)
    tokens: list[AccessToken] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.csrf = Csrf()
        self.accounts_sessions = Sessions("_accounts_session")
        self.dev_sessions = Sessions("_dev_dashboard_session")
        self.store_sessions = Sessions("_secure_admin_session_id")
        self._codes: dict[str, str] = {}
        self._ids = iter(range(1001, 10**6))
        accounts, dev, store = (self._app() for _ in range(3))
        self._add_accounts_routes(accounts.router)
        self._add_dev_routes(dev.router)
        self._add_store_routes(store.router)
        if self.single_origin:
            one = self._app()
            self._add_accounts_routes(one.router)
            self._add_dev_routes(one.router)
            self._add_store_routes(one.router)
            self._servers = {"accounts": Server(one, port=self.port)}
        else:
            self._servers = {
                "accounts": Server(accounts),
                "dev": Server(dev),
                "store": Server(store, port=self.port),
            }

    def _app(self) -> web.Application:
        return web.Application(
            middlewares=[
                failure_middleware(
                    lambda: self.failures,
                    is_slow=lambda r: (
                        r.method == "GET"
                        and (r.path.endswith("/settings") or r.path.endswith("/api_credentials"))
                    ),
                    unavailable_page=_unavailable_page,
                )
            ]
        )

    # -- lifecycle and test helpers -----------------------------------------------------

    def _url(self, name: str) -> str:
        server = self._servers.get(name) or self._servers["accounts"]
        return server.url

    @property
    def accounts_url(self) -> str:
        return self._url("accounts")

    @property
    def dev_dashboard_url(self) -> str:
        return self._url("dev")

    @property
    def store_url(self) -> str:
        return self._url("store")

    @property
    def store_domain(self) -> str:
        return urlsplit(self.store_url).netloc

    async def start(self) -> ShopifySite:
        for server in self._servers.values():
            await server.start()
        return self

    async def stop(self) -> None:
        for server in self._servers.values():
            await server.stop()

    async def __aenter__(self) -> ShopifySite:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def app_by_client_id(self, client_id: str) -> DevApp | None:
        return next((a for a in self.apps.values() if a.client_id == client_id), None)

    def token(self, value: str) -> AccessToken | None:
        return next((t for t in self.tokens if t.token == value), None)

    # -- shared ---------------------------------------------------------------------------

    def _login_redirect(
        self, request: web.Request, callback_base: str, callback_path: str
    ) -> web.HTTPFound:
        callback = with_query(f"{callback_base}{callback_path}", next=request.path_qs)
        return web.HTTPFound(with_query(f"{self.accounts_url}/accounts/lookup", return_to=callback))

    def _exchange_code(self, request: web.Request, sessions: Sessions) -> web.StreamResponse:
        email = self._codes.pop(request.query.get("code", ""), None)
        next_path = request.query.get("next", "/")
        if email is None or not next_path.startswith("/"):
            return page(
                "Unauthorized", "<h1>Your session expired. Please log in again.</h1>", status=401
            )
        response = web.HTTPFound(next_path)
        sessions.start(response, email=email)
        raise response

    # -- accounts ----------------------------------------------------------------------------

    def _add_accounts_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/accounts/lookup", self.accounts_lookup)
        router.add_post("/accounts/lookup", self.accounts_lookup_post)
        router.add_get("/accounts/login", self.accounts_password)
        router.add_post("/accounts/login", self.accounts_password_post)
        router.add_get("/accounts/tfa", self.accounts_tfa)
        router.add_post("/accounts/tfa", self.accounts_tfa)

    def _return_to(self, request: web.Request) -> str:
        value = request.query.get("return_to", "")
        allowed = (self.dev_dashboard_url, self.store_url)
        return value if any(same_origin(value, base) for base in allowed) else ""

    def _back_with_code(self, return_to: str, email: str) -> web.HTTPFound:
        code = secrets.token_urlsafe(16)
        self._codes[code] = email
        return web.HTTPFound(with_query(return_to, code=code))

    async def accounts_lookup(self, request: web.Request) -> web.StreamResponse:
        return_to = self._return_to(request)
        session = self.accounts_sessions.get(request)
        if session and session.get("user") and return_to:
            raise self._back_with_code(return_to, session["user"])  # single sign-on
        response = _accounts_page("Log in", "")
        session = self.accounts_sessions.ensure(request, response)
        response.text = _accounts_document(
            "Log in",
            '<h1 class="ui-heading">Log in</h1><p>Continue to Shopify</p>'
            f'<form id="account_lookup" method="post" action="/accounts/lookup?return_to='
            f'{quote(return_to, safe="")}" novalidate>'
            f"{_token_input(self.csrf.token(session, 'lookup'))}"
            '<label for="account_email">Email</label>'
            '<input type="email" id="account_email" name="account[email]" autocomplete="email" '
            "required>"
            '<button type="submit" class="ui-button ui-button--primary">'
            "Continue with email</button>"
            "</form>",
        )
        return response

    async def accounts_lookup_post(self, request: web.Request) -> web.StreamResponse:
        session = self.accounts_sessions.get(request)
        form = await request.post()
        if not self.csrf.check(session, "lookup", str(form.get("authenticity_token", ""))):
            return page("Invalid request", "<h1>Your session expired. Try again.</h1>", status=422)
        assert session is not None
        session["email"] = str(form.get("account[email]", "")).strip()
        raise web.HTTPFound(f"/accounts/login?return_to={quote(self._return_to(request), safe='')}")

    def _password_form(
        self, session: dict[str, Any], return_to: str, error: str = ""
    ) -> web.Response:
        error_html = (
            '<div class="validation-error" role="alert" id="account_password-error">'
            f"{esc(error)}</div>"
            if error
            else ""
        )
        return _accounts_page(
            "Log in",
            '<h1 class="ui-heading">Log in</h1>'
            f'<p class="account-email">{esc(session.get("email", ""))}</p>'
            f'<form id="login_form" method="post" action="/accounts/login?return_to='
            f'{quote(return_to, safe="")}">'
            f"{_token_input(self.csrf.token(session, 'login'))}"
            '<label for="account_password">Password</label>'
            '<input type="password" id="account_password" name="account[password]" '
            'autocomplete="current-password" required>'
            f"{error_html}"
            '<button type="submit" class="ui-button ui-button--primary">Log in</button></form>'
            '<p><a href="/accounts/lookup">Log in with a different account</a></p>',
        )

    async def accounts_password(self, request: web.Request) -> web.StreamResponse:
        session = self.accounts_sessions.get(request)
        if session is None or not session.get("email"):
            raise web.HTTPFound(
                f"/accounts/lookup?return_to={quote(self._return_to(request), safe='')}"
            )
        return self._password_form(session, self._return_to(request))

    async def accounts_password_post(self, request: web.Request) -> web.StreamResponse:
        session = self.accounts_sessions.get(request)
        form = await request.post()
        return_to = self._return_to(request)
        if session is None or not self.csrf.check(
            session, "login", str(form.get("authenticity_token", ""))
        ):
            return page("Invalid request", "<h1>Your session expired. Try again.</h1>", status=422)
        password = str(form.get("account[password]", ""))
        if (
            self.failures.wrong_password
            or session.get("email", "").lower() != self.email.lower()
            or not secrets.compare_digest(password, self.password)
        ):
            return self._password_form(session, return_to, "Incorrect email or password.")
        if self.failures.two_factor:
            session["pending_user"] = self.email
            raise web.HTTPFound(f"/accounts/tfa?return_to={quote(return_to, safe='')}")
        session["user"] = self.email
        if not return_to:
            return _accounts_page("Logged in", "<h1>You are logged in.</h1>")
        raise self._back_with_code(return_to, self.email)

    async def accounts_tfa(self, request: web.Request) -> web.StreamResponse:
        error = ""
        if request.method == "POST":
            await request.post()
            error = '<div class="validation-error" role="alert">Invalid code. Try again.</div>'
        return _accounts_page(
            "Two-step authentication",
            '<h1 class="ui-heading">Two-step authentication</h1>'
            "<p>Enter the 6-digit code from your authentication app.</p>"
            '<form id="tfa_form" method="post">'
            '<label for="account_tfa_code">Authentication code</label>'
            '<input type="text" id="account_tfa_code" name="tfa_code" inputmode="numeric" '
            f'autocomplete="one-time-code" required>{error}'
            '<button type="submit" class="ui-button ui-button--primary">Log in</button></form>',
        )

    # -- Dev Dashboard -----------------------------------------------------------------------

    def _add_dev_routes(self, router: web.UrlDispatcher) -> None:
        base = "/dashboard/{org}/apps"
        router.add_get("/", self.dev_root)
        router.add_get("/dashboard", self.dev_root)
        router.add_get("/dashboard/", self.dev_root)
        router.add_get("/dashboard/auth/callback", self.dev_callback)
        router.add_get(base, self.dev_apps)
        router.add_post(base, self.dev_create_app)
        router.add_get(base + "/new", self.dev_new_app)
        router.add_get(base + "/{app}", self.dev_app_home)
        router.add_get(base + "/{app}/versions/new", self.dev_new_version)
        router.add_post(base + "/{app}/versions", self.dev_release)
        router.add_get(base + "/{app}/install", self.dev_install)
        router.add_get(base + "/{app}/settings", self.dev_settings)
        router.add_post(base + "/{app}/secrets", self.dev_rotate)
        router.add_post(base + "/{app}/secrets/{secret}/reveal", self.dev_reveal)
        router.add_post(base + "/{app}/secrets/{secret}/revoke", self.dev_revoke)

    def _dev_session(self, request: web.Request) -> dict[str, Any]:
        session = self.dev_sessions.get(request)
        if session is None:
            raise self._login_redirect(request, self.dev_dashboard_url, "/dashboard/auth/callback")
        return session

    def _dev_app(self, request: web.Request) -> tuple[dict[str, Any], DevApp]:
        session = self._dev_session(request)
        app = self.apps.get(int(request.match_info["app"]))
        if app is None or request.match_info["org"] != str(ORG_ID):
            raise web.HTTPNotFound(text="Not found")
        return session, app

    def _apps_path(self) -> str:
        return f"/dashboard/{ORG_ID}/apps"

    async def dev_root(self, request: web.Request) -> web.StreamResponse:
        self._dev_session(request)
        raise web.HTTPFound(self._apps_path())

    async def dev_callback(self, request: web.Request) -> web.StreamResponse:
        return self._exchange_code(request, self.dev_sessions)

    async def dev_apps(self, request: web.Request) -> web.StreamResponse:
        self._dev_session(request)
        changed = self.failures.changed_layout
        rows = "".join(
            f'<tr><td><a href="{self._apps_path()}/{a.id}">{esc(a.name)}</a></td>'
            f"<td>{len(a.installs)} installs</td>"
            f"<td>{a.versions[-1].name if a.versions else 'No versions'}</td></tr>"
            for a in self.apps.values()
        )
        table = (
            f'<table aria-label="Apps"><thead><tr><th>Name</th><th>Installs</th><th>Version</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else '<div class="empty-state"><h2>Build your first app</h2></div>'
        )
        create = "New app" if changed else "Create app"
        return _dev_page(
            "Apps",
            f'<header class="page-header"><h1>Apps</h1>'
            f'<a class="button primary" href="{self._apps_path()}/new">{create}</a></header>'
            f"{table}",
        )

    async def dev_new_app(self, request: web.Request) -> web.StreamResponse:
        session = self._dev_session(request)
        token = self.csrf.token(session, "create-app")
        return _dev_page(
            "Create app",
            "<h1>Create app</h1>"
            '<div class="choices">'
            '<section class="card"><h2>Start from Shopify CLI</h2>'
            "<p>Run <code>shopify app init</code> to scaffold an app.</p></section>"
            '<section class="card"><h2>Start from Dev Dashboard</h2>'
            "<p>Create an app and configure it here.</p>"
            '<button type="button" id="start-dev-dashboard">Start from Dev Dashboard</button>'
            "</section></div>"
            f'<form id="create-app-form" method="post" action="{self._apps_path()}" hidden>'
            f'<input type="hidden" name="authenticity_token" value="{token}">'
            '<label for="app_name">App name</label>'
            '<input id="app_name" name="app[name]" maxlength="64" required>'
            '<button type="submit">Create</button></form>'
            "<script>document.getElementById('start-dev-dashboard').addEventListener('click',"
            "()=>{document.getElementById('create-app-form').hidden=false;"
            "document.getElementById('app_name').focus();});</script>",
        )

    async def dev_create_app(self, request: web.Request) -> web.StreamResponse:
        session = self._dev_session(request)
        form = await request.post()
        if not self.csrf.check(session, "create-app", str(form.get("authenticity_token", ""))):
            return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
        name = str(form.get("app[name]", "")).strip()
        if not name:
            return _dev_page(
                "Create app", '<div role="alert">Name can\'t be blank</div>', status=422
            )
        app = DevApp(id=next(self._ids), name=name, client_id=_hex(32))
        app.secrets.append(ClientSecret(next(self._ids), "shpss_" + _hex(32), datetime.now(UTC)))
        self.apps[app.id] = app
        raise web.HTTPFound(f"{self._apps_path()}/{app.id}/versions/new")

    def _app_nav(self, app: DevApp) -> str:
        base = f"{self._apps_path()}/{app.id}"
        return (
            f'<nav aria-label="App"><a href="{base}">Home</a> '
            f'<a href="{base}/versions/new">Versions</a> '
            f'<a href="{base}/settings">Settings</a></nav>'
        )

    async def dev_new_version(self, request: web.Request) -> web.StreamResponse:
        session, app = self._dev_app(request)
        token = self.csrf.token(session, f"release-{app.id}")
        current = app.active_version.scopes if app.active_version else []
        checkboxes = "".join(
            f'<div class="scope"><label><input type="checkbox" name="scope" value="{s}"'
            f"{' checked' if s in current else ''}> <code>{s}</code></label>"
            f'<span class="scope-description">{esc(d)}</span></div>'
            for s, d in SCOPES.items()
        )
        return _dev_page(
            f"Versions · {app.name}",
            f"<h1>{esc(app.name)}</h1>{self._app_nav(app)}"
            f'<form id="version-form" method="post" action="{self._apps_path()}/{app.id}/versions">'
            f'<input type="hidden" name="authenticity_token" value="{token}">'
            '<header class="page-header"><h2>Create a version</h2>'
            '<button type="button" id="open-release">Release</button></header>'
            '<section aria-labelledby="urls-title"><h3 id="urls-title">URLs</h3>'
            '<label for="version_app_url">App URL</label>'
            '<input id="version_app_url" name="version[app_url]" value="https://shopify.dev/apps/default-app-home">'
            "</section>"
            '<section aria-labelledby="access-title"><h3 id="access-title">Access</h3>'
            '<label for="version_scopes">Scopes</label>'
            '<input id="version_scopes" name="version[scopes]" readonly '
            f'value="{",".join(current)}">'
            '<button type="button" id="select-scopes">Select scopes</button></section>'
            '<dialog id="scope-picker" aria-labelledby="scope-picker-title">'
            '<h2 id="scope-picker-title">Select scopes</h2>'
            '<input type="search" aria-label="Search scopes">'
            f"<fieldset><legend>Admin API</legend>{checkboxes}</fieldset>"
            '<button type="button" id="scopes-done">Done</button></dialog>'
            '<dialog id="release-dialog" aria-labelledby="release-title">'
            '<h2 id="release-title">Release new version</h2>'
            '<label for="version_name">Version name (optional)</label>'
            '<input id="version_name" name="version[name]">'
            '<label for="version_message">Message (optional)</label>'
            '<textarea id="version_message" name="version[message]"></textarea>'
            '<button type="button" id="cancel-release">Cancel</button>'
            '<button type="submit">Release</button></dialog></form>'
            "<script>"
            "const picker=document.getElementById('scope-picker');"
            "const release=document.getElementById('release-dialog');"
            "document.getElementById('select-scopes').onclick=()=>picker.showModal();"
            "document.getElementById('scopes-done').onclick=()=>{"
            "document.getElementById('version_scopes').value=[...picker.querySelectorAll("
            "'input[type=checkbox]:checked')].map(c=>c.value).join(',');picker.close();};"
            "document.getElementById('open-release').onclick=()=>release.showModal();"
            "document.getElementById('cancel-release').onclick=()=>release.close();"
            "</script>",
        )

    async def dev_release(self, request: web.Request) -> web.StreamResponse:
        session, app = self._dev_app(request)
        form = await request.post()
        if not self.csrf.check(
            session, f"release-{app.id}", str(form.get("authenticity_token", ""))
        ):
            return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
        scopes = [s for s in str(form.get("version[scopes]", "")).split(",") if s]
        unknown = [s for s in scopes if s not in SCOPES]
        if not scopes or unknown:
            return _dev_page(
                "Versions",
                f'{self._app_nav(app)}<div role="alert">Select at least one valid scope.</div>',
                status=422,
            )
        number = len(app.versions) + 1
        name = str(form.get("version[name]", "")).strip() or f"{app.handle}-{number}"
        app.versions.append(AppVersion(number, name, scopes, datetime.now(UTC)))
        raise web.HTTPFound(f"{self._apps_path()}/{app.id}?released={number}")

    async def dev_app_home(self, request: web.Request) -> web.StreamResponse:
        _, app = self._dev_app(request)
        version = app.active_version
        flash = (
            f'<div role="status" class="toast">Version {esc(version.name)} released</div>'
            if version and request.query.get("released")
            else ""
        )
        installs = "".join(
            f"<li>{esc(domain)} ({', '.join(scopes)})</li>"
            for domain, scopes in app.installs.items()
        )
        install = (
            f'<a class="button primary" href="{self._apps_path()}/{app.id}/install">Install app</a>'
            if version
            else '<button type="button" disabled>Install app</button>'
            "<p>Release a version before installing the app.</p>"
        )
        return _dev_page(
            app.name,
            f"<h1>{esc(app.name)}</h1>{self._app_nav(app)}{flash}"
            '<section aria-labelledby="version-title"><h2 id="version-title">Active version</h2>'
            f"<p>{esc(version.name) if version else 'No version released yet'}</p>"
            f"<p>Scopes: {', '.join(version.scopes) if version else '—'}</p></section>"
            '<section aria-labelledby="installs-title"><h2 id="installs-title">Installs</h2>'
            f"<ul>{installs}</ul>{install}</section>",
        )

    async def dev_install(self, request: web.Request) -> web.StreamResponse:
        _, app = self._dev_app(request)
        stores = [
            ("Other Store", "other-store.myshopify.com", "https://other-store.myshopify.com"),
            (self.shop_name, self.store_domain, self.store_url),
        ]
        items = "".join(
            f'<li class="store"><span class="store-name">{esc(name)}</span> '
            f'<span class="store-domain">{esc(domain)}</span> '
            f'<a class="button" href="{base}/admin/oauth/install_custom_app?'
            f'client_id={app.client_id}">'
            "Install</a></li>"
            for name, domain, base in stores
        )
        return _dev_page(
            f"Install {app.name}",
            f"<h1>Install {esc(app.name)}</h1>{self._app_nav(app)}"
            "<p>Select a store in your organization.</p>"
            f'<ul class="store-list" aria-label="Stores">{items}</ul>',
        )

    async def dev_settings(self, request: web.Request) -> web.StreamResponse:
        session, app = self._dev_app(request)
        changed = self.failures.changed_layout
        id_label = "API key" if changed else "Client ID"
        secret_label = "API secret key" if changed else "Client secret"
        reveal_label = "Show" if changed else "Reveal"
        active = sorted(app.active_secrets, key=lambda s: s.id, reverse=True)
        base = f"{self._apps_path()}/{app.id}"
        rows = []
        for index, secret in enumerate(active):
            badge = '<span class="badge">New</span>' if index == 0 and len(active) > 1 else ""
            revoke = (
                f'<button type="button" class="revoke" data-secret="{secret.id}">Revoke</button>'
                if len(active) > 1 and index > 0
                else ""
            )
            rows.append(
                f'<div class="field" role="group" aria-label="{secret_label} created '
                f'{secret.created_at:%Y-%m-%d %H:%M:%S}">'
                f'<label for="secret-{secret.id}">{secret_label}</label>{badge}'
                f'<input id="secret-{secret.id}" type="password" readonly value="{MASK}">'
                f'<button type="button" class="reveal" data-secret="{secret.id}" '
                f'aria-label="{reveal_label} {secret_label.lower()}">{reveal_label}</button>'
                f"{revoke}<small>Created {secret.created_at:%b %d, %Y}</small></div>"
            )
        rotate = '<button type="button" id="rotate">Rotate</button>' if len(active) == 1 else ""
        token = self.csrf.token(session, f"secrets-{app.id}")
        return _dev_page(
            f"Settings · {app.name}",
            f"<h1>{esc(app.name)}</h1>{self._app_nav(app)}<h2>Settings</h2>"
            '<section aria-labelledby="credentials-title">'
            '<h3 id="credentials-title">Credentials</h3>'
            f'<div class="field"><label for="client_id">{id_label}</label>'
            f'<input id="client_id" readonly value="{app.client_id}">'
            '<button type="button">Copy</button></div>'
            f"{''.join(rows)}{rotate}</section>"
            '<dialog id="rotate-dialog" aria-labelledby="rotate-title">'
            '<h2 id="rotate-title">Generate new client secret?</h2>'
            "<p>Your current secret keeps working until you revoke it.</p>"
            f'<form method="post" action="{base}/secrets">'
            f'<input type="hidden" name="authenticity_token" value="{token}">'
            '<button type="button" class="cancel">Cancel</button>'
            '<button type="submit">Generate</button></form></dialog>'
            '<dialog id="revoke-dialog" aria-labelledby="revoke-title">'
            '<h2 id="revoke-title">Revoke client secret?</h2>'
            "<p>Requests signed with this secret will fail immediately.</p>"
            '<form method="post" id="revoke-form">'
            f'<input type="hidden" name="authenticity_token" value="{token}">'
            '<button type="button" class="cancel">Cancel</button>'
            '<button type="submit">Revoke</button></form></dialog>'
            f"<script>const BASE={json.dumps(base)};const TOKEN={json.dumps(token)};"
            "for(const b of document.querySelectorAll('button.reveal')){b.onclick=async()=>{"
            "const r=await fetch(BASE+'/secrets/'+b.dataset.secret+'/reveal',{method:'POST',"
            "headers:{'X-CSRF-Token':TOKEN},credentials:'same-origin'});"
            "if(!r.ok)return;const d=await r.json();const i=document.getElementById('secret-'+"
            "b.dataset.secret);i.type='text';i.value=d.secret;b.textContent='Hide';};}"
            "const rot=document.getElementById('rotate');"
            "if(rot)rot.onclick=()=>document.getElementById('rotate-dialog').showModal();"
            "for(const b of document.querySelectorAll('button.revoke')){b.onclick=()=>{"
            "document.getElementById('revoke-form').action=BASE+'/secrets/'+b.dataset.secret+"
            "'/revoke';document.getElementById('revoke-dialog').showModal();};}"
            "for(const b of document.querySelectorAll('dialog .cancel')){"
            "b.onclick=()=>b.closest('dialog').close();}"
            "</script>",
        )

    def _check_secrets_token(self, session: dict[str, Any], app: DevApp, value: str) -> None:
        if not self.csrf.check(session, f"secrets-{app.id}", value):
            raise web.HTTPUnprocessableEntity(text="Invalid authenticity token")

    async def dev_reveal(self, request: web.Request) -> web.StreamResponse:
        session, app = self._dev_app(request)
        self._check_secrets_token(session, app, request.headers.get("X-CSRF-Token", ""))
        secret = next(
            (s for s in app.active_secrets if str(s.id) == request.match_info["secret"]), None
        )
        if secret is None:
            return web.json_response({"error": "not found"}, status=404)
        secret.reveals += 1
        return web.json_response({"secret": secret.value})

    async def dev_rotate(self, request: web.Request) -> web.StreamResponse:
        session, app = self._dev_app(request)
        form = await request.post()
        self._check_secrets_token(session, app, str(form.get("authenticity_token", "")))
        if len(app.active_secrets) >= 2:
            return _dev_page(
                "Settings",
                '<div role="alert">Revoke the old client secret before generating a new one.</div>',
                status=422,
            )
        app.secrets.append(ClientSecret(next(self._ids), "shpss_" + _hex(32), datetime.now(UTC)))
        raise web.HTTPFound(f"{self._apps_path()}/{app.id}/settings")

    async def dev_revoke(self, request: web.Request) -> web.StreamResponse:
        session, app = self._dev_app(request)
        form = await request.post()
        self._check_secrets_token(session, app, str(form.get("authenticity_token", "")))
        secret = next(
            (s for s in app.active_secrets if str(s.id) == request.match_info["secret"]), None
        )
        if secret is not None and len(app.active_secrets) > 1:
            secret.revoked_at = datetime.now(UTC)
        raise web.HTTPFound(f"{self._apps_path()}/{app.id}/settings")

    # -- store admin -------------------------------------------------------------------------

    def _add_store_routes(self, router: web.UrlDispatcher) -> None:
        dev = "/admin/settings/apps/development"
        router.add_get("/admin", self.store_home)
        router.add_get("/admin/", self.store_home)
        router.add_get("/admin/auth/callback", self.store_callback)
        router.add_get("/admin/settings", self.store_settings)
        router.add_get("/admin/settings/apps", self.store_apps_settings)
        router.add_get(dev, self.store_develop_apps)
        router.add_post(dev, self.store_create_legacy_app)
        router.add_get(dev + "/allow", self.store_allow)
        router.add_post(dev + "/allow", self.store_allow)
        router.add_get(dev + "/{app}/overview", self.legacy_overview)
        router.add_get(dev + "/{app}/configuration", self.legacy_configuration)
        router.add_post(dev + "/{app}/configuration", self.legacy_save_configuration)
        router.add_get(dev + "/{app}/api_credentials", self.legacy_credentials)
        router.add_post(dev + "/{app}/install", self.legacy_install)
        router.add_post(dev + "/{app}/reveal_token", self.legacy_reveal)
        router.add_get("/admin/oauth/install_custom_app", self.store_install)
        router.add_post("/admin/oauth/install_custom_app", self.store_install_post)
        router.add_get("/admin/apps/{handle}", self.store_installed_app)
        router.add_post("/admin/oauth/access_token", self.access_token)
        router.add_get("/admin/api/{version}/shop.json", self.admin_api_shop)

    def _store_session(self, request: web.Request) -> dict[str, Any]:
        session = self.store_sessions.get(request)
        if session is None:
            raise self._login_redirect(request, self.store_url, "/admin/auth/callback")
        return session

    def _legacy(self, request: web.Request) -> tuple[dict[str, Any], LegacyApp]:
        session = self._store_session(request)
        app = self.legacy_apps.get(int(request.match_info["app"]))
        if app is None:
            raise web.HTTPNotFound(text="Not found")
        return session, app

    def _store_page(self, title: str, main: str, *, status: int = 200) -> web.Response:
        return page(
            f"{title} · {self.shop_name} · Shopify",
            '<nav aria-label="Main"><a href="/admin">Home</a> <a href="/admin/orders">Orders</a> '
            '<a href="/admin/products">Products</a> <a href="/admin/settings">Settings</a></nav>'
            f"<main>{main}</main>",
            status=status,
        )

    async def store_callback(self, request: web.Request) -> web.StreamResponse:
        return self._exchange_code(request, self.store_sessions)

    async def store_home(self, request: web.Request) -> web.StreamResponse:
        self._store_session(request)
        return self._store_page("Home", f"<h1>{esc(self.shop_name)}</h1><p>Good morning.</p>")

    async def store_settings(self, request: web.Request) -> web.StreamResponse:
        self._store_session(request)
        return self._store_page(
            "Settings",
            "<h1>Settings</h1>"
            '<nav aria-label="Settings"><a href="/admin/settings/general">General</a> '
            '<a href="/admin/settings/plan">Plan</a> '
            '<a href="/admin/settings/apps">Apps and sales channels</a> '
            '<a href="/admin/settings/domains">Domains</a></nav>',
        )

    async def store_apps_settings(self, request: web.Request) -> web.StreamResponse:
        self._store_session(request)
        label = "App development" if self.failures.changed_layout else "Develop apps"
        return self._store_page(
            "Apps and sales channels",
            "<h1>Apps and sales channels</h1>"
            f'<a class="button" href="/admin/settings/apps/development">{label}</a>'
            '<a class="button" href="https://apps.shopify.com">Shopify App Store</a>',
        )

    async def store_develop_apps(self, request: web.Request) -> web.StreamResponse:
        session = self._store_session(request)
        return self._develop_apps_page(session)

    def _develop_apps_page(
        self, session: dict[str, Any], *, error: str = "", name: str = "", status: int = 200
    ) -> web.Response:
        banner = (
            '<div class="banner banner-warning" role="status" aria-labelledby="legacy-title">'
            '<h2 id="legacy-title">Legacy custom apps</h2>'
            f"<p>{LEGACY_BANNER}</p>"
            f'<a class="button" href="{self.dev_dashboard_url}/dashboard">'
            "Build apps in Dev Dashboard</a></div>"
        )
        rows = "".join(
            f'<tr><td><a href="/admin/settings/apps/development/{a.id}/overview">{esc(a.name)}'
            f"</a></td><td>{'Installed' if a.installed else 'Not installed'}</td></tr>"
            for a in self.legacy_apps.values()
        )
        apps = f'<table aria-label="Custom apps"><tbody>{rows}</tbody></table>' if rows else ""
        if self.allow_legacy_custom_apps and not self.custom_app_development_enabled:
            body = (
                "<h1>App development</h1>"
                "<p>Custom app development is not enabled for this store.</p>"
                '<a class="button primary" href="/admin/settings/apps/development/allow">'
                "Allow custom app development</a>"
            )
            return self._store_page("App development", banner + body)
        token = self.csrf.token(session, "create-legacy-app")
        if self.allow_legacy_custom_apps:
            create = '<button type="button" id="create-app">Create an app</button>'
        else:
            create = '<button type="button" id="create-app" disabled>Create an app</button>'
        error_html = f'<div role="alert" class="field-error">{esc(error)}</div>' if error else ""
        dialog_open = " open" if error else ""
        return self._store_page(
            "App development",
            banner + '<header class="page-header"><h1>App development</h1>'
            f"{create}</header>{apps}"
            f'<dialog id="create-app-dialog" aria-labelledby="create-title"{dialog_open}>'
            '<h2 id="create-title">Create an app</h2>'
            '<form method="post" action="/admin/settings/apps/development">'
            f'<input type="hidden" name="authenticity_token" value="{token}">'
            '<label for="legacy_app_name">App name</label>'
            f'<input id="legacy_app_name" name="app[name]" value="{esc(name)}" maxlength="64">'
            f"{error_html}"
            '<label for="legacy_app_developer">App developer</label>'
            f'<select id="legacy_app_developer" name="app[developer]"><option>{esc(self.email)}'
            "</option></select>"
            '<button type="button" class="cancel">Cancel</button>'
            '<button type="submit">Create app</button></form></dialog>'
            "<script>const b=document.getElementById('create-app');"
            "const d=document.getElementById('create-app-dialog');"
            "if(b)b.onclick=()=>d.showModal();"
            "d.querySelector('.cancel').onclick=()=>d.close();</script>",
            status=status,
        )

    async def store_allow(self, request: web.Request) -> web.StreamResponse:
        session = self._store_session(request)
        if request.method == "POST":
            form = await request.post()
            if not self.csrf.check(session, "allow", str(form.get("authenticity_token", ""))):
                return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
            self.custom_app_development_enabled = True
            raise web.HTTPFound("/admin/settings/apps/development")
        return self._store_page(
            "Allow custom app development",
            "<h1>Allow custom app development</h1>"
            "<p>Custom apps can access your store's data. Only allow developers you trust.</p>"
            '<form method="post">'
            f"{_token_input(self.csrf.token(session, 'allow'))}"
            '<button type="submit">Allow custom app development</button></form>',
        )

    async def store_create_legacy_app(self, request: web.Request) -> web.StreamResponse:
        session = self._store_session(request)
        form = await request.post()
        if not self.csrf.check(
            session, "create-legacy-app", str(form.get("authenticity_token", ""))
        ):
            return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
        if not (self.allow_legacy_custom_apps and self.custom_app_development_enabled):
            return self._store_page("Forbidden", f"<p>{LEGACY_BANNER}</p>", status=403)
        name = str(form.get("app[name]", "")).strip()
        if not name:
            return self._develop_apps_page(session, error="App name can't be blank", status=422)
        if any(a.name.lower() == name.lower() for a in self.legacy_apps.values()):
            return self._develop_apps_page(
                session, error="Name has already been taken", name=name, status=422
            )
        app = LegacyApp(id=next(self._ids), name=name)
        self.legacy_apps[app.id] = app
        raise web.HTTPFound(f"/admin/settings/apps/development/{app.id}/overview")

    def _legacy_tabs(self, app: LegacyApp) -> str:
        base = f"/admin/settings/apps/development/{app.id}"
        return (
            f'<nav aria-label="App tabs"><a href="{base}/overview">Overview</a> '
            f'<a href="{base}/configuration">Configuration</a> '
            f'<a href="{base}/api_credentials">API credentials</a></nav>'
        )

    async def legacy_overview(self, request: web.Request) -> web.StreamResponse:
        _, app = self._legacy(request)
        return self._store_page(
            app.name,
            f"<h1>{esc(app.name)}</h1>{self._legacy_tabs(app)}"
            "<h2>Build your custom app for your store</h2>"
            f'<a class="button" href="/admin/settings/apps/development/{app.id}/configuration">'
            "Configure Admin API scopes</a>",
        )

    async def legacy_configuration(self, request: web.Request) -> web.StreamResponse:
        session, app = self._legacy(request)
        saved = '<div role="status" class="toast">Saved</div>' if request.query.get("saved") else ""
        boxes = "".join(
            f'<div class="scope"><label><input type="checkbox" name="scopes" value="{s}"'
            f"{' checked' if s in app.scopes else ''}> <code>{s}</code></label>"
            f"<span>{esc(d)}</span></div>"
            for s, d in SCOPES.items()
        )
        token = self.csrf.token(session, f"legacy-{app.id}")
        return self._store_page(
            app.name,
            f"<h1>{esc(app.name)}</h1>{self._legacy_tabs(app)}{saved}"
            f'<form method="post"><input type="hidden" name="authenticity_token" value="{token}">'
            f"<fieldset><legend>Admin API access scopes</legend>{boxes}</fieldset>"
            '<button type="submit">Save</button></form>',
        )

    async def legacy_save_configuration(self, request: web.Request) -> web.StreamResponse:
        session, app = self._legacy(request)
        form = await request.post()
        if not self.csrf.check(
            session, f"legacy-{app.id}", str(form.get("authenticity_token", ""))
        ):
            return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
        app.scopes = [str(s) for s in form.getall("scopes", []) if str(s) in SCOPES]
        raise web.HTTPFound(f"/admin/settings/apps/development/{app.id}/configuration?saved=1")

    async def legacy_credentials(self, request: web.Request) -> web.StreamResponse:
        session, app = self._legacy(request)
        token = self.csrf.token(session, f"legacy-{app.id}")
        base = f"/admin/settings/apps/development/{app.id}"
        if not app.installed:
            body = (
                "<h2>Access tokens</h2><p>Install your app to get API access tokens.</p>"
                '<button type="button" id="install-app">Install app</button>'
                '<dialog id="install-dialog" aria-labelledby="install-title">'
                f'<h2 id="install-title">Install {esc(app.name)}?</h2>'
                f"<p>Scopes: {', '.join(app.scopes) or 'none'}</p>"
                f'<form method="post" action="{base}/install">'
                f'<input type="hidden" name="authenticity_token" value="{token}">'
                '<button type="button" class="cancel">Cancel</button>'
                '<button type="submit">Install</button></form></dialog>'
                "<script>const d=document.getElementById('install-dialog');"
                "document.getElementById('install-app').onclick=()=>d.showModal();"
                "d.querySelector('.cancel').onclick=()=>d.close();</script>"
            )
        elif app.token_revealed_at is None:
            body = (
                '<section aria-labelledby="token-title"><h2 id="token-title">Admin API access '
                "token</h2>"
                '<label for="admin_api_token">Admin API access token</label>'
                f'<input id="admin_api_token" type="password" readonly value="{MASK}">'
                '<button type="button" id="reveal-token">Reveal token once</button>'
                "<p>You can only reveal the token once. Copy and save it somewhere secure.</p>"
                "</section>"
                f"<script>document.getElementById('reveal-token').onclick=async(e)=>{{"
                f"const r=await fetch({json.dumps(base + '/reveal_token')},{{method:'POST',"
                f"headers:{{'X-CSRF-Token':{json.dumps(token)}}},credentials:'same-origin'}});"
                "if(!r.ok)return;const d=await r.json();"
                "const i=document.getElementById('admin_api_token');i.type='text';"
                "i.value=d.access_token;e.target.remove();};</script>"
            )
        else:
            body = (
                '<section aria-labelledby="token-title"><h2 id="token-title">Admin API access '
                "token</h2>"
                f"<p>Token revealed on {app.token_revealed_at:%b %d, %Y}. It can't be shown "
                "again.</p></section>"
            )
        return self._store_page(
            app.name,
            f"<h1>{esc(app.name)}</h1>{self._legacy_tabs(app)}{body}"
            '<section aria-labelledby="keys-title"><h2 id="keys-title">API key and secret key'
            f'</h2><label for="api_key">API key</label><input id="api_key" readonly '
            f'value="{app.api_key}"></section>',
        )

    async def legacy_install(self, request: web.Request) -> web.StreamResponse:
        session, app = self._legacy(request)
        form = await request.post()
        if not self.csrf.check(
            session, f"legacy-{app.id}", str(form.get("authenticity_token", ""))
        ):
            return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
        if not app.scopes:
            return self._store_page(
                app.name, '<div role="alert">Select at least one scope.</div>', status=422
            )
        app.installed = True
        app.access_token = "shpat_" + _hex(32)
        self.tokens.append(
            AccessToken(app.access_token, None, list(app.scopes), datetime.now(UTC), None)
        )
        raise web.HTTPFound(f"/admin/settings/apps/development/{app.id}/api_credentials")

    async def legacy_reveal(self, request: web.Request) -> web.StreamResponse:
        session, app = self._legacy(request)
        if not self.csrf.check(
            session, f"legacy-{app.id}", request.headers.get("X-CSRF-Token", "")
        ):
            return web.json_response({"error": "invalid token"}, status=422)
        if not app.installed or app.token_revealed_at is not None:
            return web.json_response({"error": "The token can only be revealed once."}, status=410)
        app.token_revealed_at = datetime.now(UTC)
        return web.json_response({"access_token": app.access_token})

    async def store_install(self, request: web.Request) -> web.StreamResponse:
        session = self._store_session(request)
        app = self.app_by_client_id(request.query.get("client_id", ""))
        if app is None or app.active_version is None:
            return self._store_page(
                "Not found", "<h1>This app can't be installed.</h1>", status=404
            )
        scopes = app.active_version.scopes
        if app.installs.get(self.store_domain) == scopes:
            raise web.HTTPFound(f"/admin/apps/{app.handle}")
        items = "".join(f"<li>{esc(SCOPES[s])} <code>{s}</code></li>" for s in scopes)
        token = self.csrf.token(session, "install")
        return self._store_page(
            f"Install {app.name}",
            '<div role="dialog" aria-modal="true" aria-labelledby="install-title">'
            f'<h1 id="install-title">Install {esc(app.name)}</h1>'
            f"<p>{esc(app.name)} will be able to:</p><ul>{items}</ul>"
            '<form method="post" action="/admin/oauth/install_custom_app">'
            f'<input type="hidden" name="client_id" value="{app.client_id}">'
            f'<input type="hidden" name="authenticity_token" value="{token}">'
            '<a class="button" href="/admin">Cancel</a>'
            '<button type="submit" class="primary">Install</button></form></div>',
        )

    async def store_install_post(self, request: web.Request) -> web.StreamResponse:
        session = self._store_session(request)
        form = await request.post()
        if not self.csrf.check(session, "install", str(form.get("authenticity_token", ""))):
            return page("Invalid request", "<h1>Invalid authenticity token</h1>", status=422)
        app = self.app_by_client_id(str(form.get("client_id", "")))
        if app is None or app.active_version is None:
            return self._store_page(
                "Not found", "<h1>This app can't be installed.</h1>", status=404
            )
        app.installs[self.store_domain] = list(app.active_version.scopes)
        raise web.HTTPFound(f"/admin/apps/{app.handle}?installed=1")

    async def store_installed_app(self, request: web.Request) -> web.StreamResponse:
        self._store_session(request)
        app = next(
            (a for a in self.apps.values() if a.handle == request.match_info["handle"]), None
        )
        if app is None:
            raise web.HTTPNotFound(text="Not found")
        return self._store_page(
            app.name,
            f"<h1>{esc(app.name)}</h1>"
            f'<div role="status" class="toast">{esc(app.name)} is installed on '
            f"{esc(self.shop_name)}"
            "</div>",
        )

    async def access_token(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/json":
            data: dict[str, str] = {k: str(v) for k, v in (await request.json()).items()}
        else:
            data = {k: str(v) for k, v in (await request.post()).items()}
        if data.get("grant_type") != "client_credentials":
            return web.json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
                status=400,
            )
        app = self.app_by_client_id(data.get("client_id", ""))
        secret = data.get("client_secret", "")
        if app is None or not any(
            secrets.compare_digest(s.value, secret) for s in app.active_secrets
        ):
            return web.json_response(
                {"error": "invalid_client", "error_description": "Client authentication failed."},
                status=401,
            )
        scopes = app.installs.get(self.store_domain)
        if scopes is None:
            return web.json_response(
                {
                    "error": "invalid_request",
                    "error_description": "The app is not installed on this shop.",
                },
                status=400,
            )
        now = datetime.now(UTC)
        token = AccessToken(
            "shpat_" + _hex(32),
            app.client_id,
            list(scopes),
            now,
            now + timedelta(seconds=TOKEN_LIFETIME),
        )
        self.tokens.append(token)
        return web.json_response(
            {"access_token": token.token, "scope": ",".join(scopes), "expires_in": TOKEN_LIFETIME}
        )

    async def admin_api_shop(self, request: web.Request) -> web.StreamResponse:
        token = self.token(request.headers.get("X-Shopify-Access-Token", ""))
        if token is None or not token.valid():
            return web.json_response(
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or "
                    "wrong password)"
                },
                status=401,
            )
        return web.json_response({"shop": {"name": self.shop_name, "domain": self.store_domain}})


# -- templates -------------------------------------------------------------------------------


def _unavailable_page() -> web.Response:
    return page(
        "Service unavailable",
        "<h1>There was a problem loading this page</h1><p>Shopify is temporarily unavailable. "
        "Try again in a few minutes.</p>",
        status=503,
    )


def _token_input(value: str) -> str:
    return f'<input type="hidden" name="authenticity_token" value="{value}">'


def _accounts_document(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)} — '
        f'Shopify</title></head><body class="page-accounts"><main class="login-card">{body}'
        "</main></body></html>"
    )


def _accounts_page(title: str, body: str) -> web.Response:
    return web.Response(text=_accounts_document(title, body), content_type="text/html")


def _dev_page(title: str, main: str, *, status: int = 200) -> web.Response:
    return page(
        f"{title} · Dev Dashboard",
        '<nav aria-label="Dev Dashboard"><a href="/dashboard">Apps</a> '
        '<a href="/dashboard/stores">Dev stores</a></nav>'
        f"<main>{main}</main>",
        status=status,
    )

"""A WordPress + WooCommerce admin, as far as the REST API keys flow goes.

Reproduces: ``/wp-login.php`` (test cookie, ``#loginform``, ``#login_error``, an optional
two-factor form and the periodic admin-email confirmation screen), the logged-in cookie,
``/wp-admin/`` with the admin bar, the keys list at
``admin.php?page=wc-settings&tab=advanced&section=keys`` (truncated keys, Revoke row
actions with ``_wpnonce``), the ``&create-key=1`` form whose "Generate API key" button
posts by script to ``/wp-admin/admin-ajax.php`` (``action=woocommerce_update_api_key``,
``security`` nonce) and then shows the keys once, and ``/wp-json/wc/v3/system_status``
accepting the keys over HTTP Basic auth.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ._common import Csrf, FailureModes, Server, Sessions, esc, failure_middleware, page

KEYS_PATH = "/wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys"
GENERATED_MESSAGE = (
    "API Key generated successfully. Make sure to copy your new keys now as the secret key "
    "will be hidden once you leave this page."
)
PERMISSION_LABELS = {"read": "Read", "write": "Write", "read_write": "Read/Write"}


@dataclass
class WpUser:
    id: int
    login: str
    email: str
    password: str
    display_name: str


@dataclass
class ApiKey:
    """A key as WooCommerce stores it, plus the secret values for test assertions."""

    key_id: int
    user_id: int
    description: str
    permissions: str
    consumer_key: str
    consumer_secret: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def truncated_key(self) -> str:
        return self.consumer_key[-7:]

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass
class WooCommerceSite:
    """The fake store; ``await site.start()`` then point an agent at ``site.url``."""

    username: str = "admin"
    password: str = "correct horse battery staple"
    email: str = "admin@example.test"
    #: Show WordPress's "Administration email verification" screen after the next login.
    admin_email_check: bool = False
    failures: FailureModes = field(default_factory=FailureModes)
    port: int = 0
    keys: dict[int, ApiKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.users = {
            1: WpUser(1, self.username, self.email, self.password, self.username),
            2: WpUser(2, "shopmanager", "manager@example.test", secrets.token_hex(8), "Shop M."),
        }
        self.sessions = Sessions("wordpress_logged_in_5f3b1c")
        self.csrf = Csrf()
        self._next_key_id = 1
        app = web.Application(
            middlewares=[
                failure_middleware(
                    lambda: self.failures,
                    is_slow=lambda r: r.path == "/wp-admin/admin.php" and "section" in r.query,
                    unavailable_page=_maintenance_page,
                )
            ]
        )
        app.router.add_get("/", self.home)
        app.router.add_get("/wp-login.php", self.login_form)
        app.router.add_post("/wp-login.php", self.login_post)
        app.router.add_get("/wp-admin", self.dashboard)
        app.router.add_get("/wp-admin/", self.dashboard)
        app.router.add_get("/wp-admin/index.php", self.dashboard)
        app.router.add_get("/wp-admin/admin.php", self.admin_page)
        app.router.add_post("/wp-admin/admin-ajax.php", self.ajax)
        app.router.add_get("/wp-json/wc/v3/system_status", self.rest_status)
        self._server = Server(app, port=self.port)

    # -- lifecycle and test helpers ---------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> WooCommerceSite:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> WooCommerceSite:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def active_keys(self) -> list[ApiKey]:
        return [k for k in self.keys.values() if not k.revoked]

    def key_by_consumer_key(self, consumer_key: str) -> ApiKey | None:
        return next((k for k in self.keys.values() if k.consumer_key == consumer_key), None)

    def authenticate(self, consumer_key: str, consumer_secret: str) -> ApiKey | None:
        """The key these credentials open, if it exists and is not revoked."""
        key = self.key_by_consumer_key(consumer_key)
        if (
            key is None
            or key.revoked
            or not secrets.compare_digest(key.consumer_secret, consumer_secret)
        ):
            return None
        return key

    # -- helpers ------------------------------------------------------------------------

    def _current_user(self, request: web.Request) -> tuple[dict[str, Any], WpUser] | None:
        session = self.sessions.get(request)
        if session is None or "user_id" not in session:
            return None
        return session, self.users[session["user_id"]]

    def _nonce(self, session: dict[str, Any], action: str) -> str:
        return self.csrf.token(session, action, 10)

    def _require_login(self, request: web.Request) -> web.HTTPFound:
        target = quote(request.path_qs, safe="")
        return web.HTTPFound(f"/wp-login.php?redirect_to={target}&reauth=1")

    # -- login ---------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        return page("Acme Test Shop", "<h1>Acme Test Shop</h1><p>Just another WordPress site</p>")

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        redirect_to = request.query.get("redirect_to", "/wp-admin/")
        response = _login_page(redirect_to=redirect_to)
        response.set_cookie("wordpress_test_cookie", "WP%20Cookie%20check", path="/")
        return response

    async def login_post(self, request: web.Request) -> web.StreamResponse:
        action = request.query.get("action", "login")
        form = await request.post()
        if action == "validate_2fa":
            # Codes come from the user's phone; an unattended agent never has one.
            return _two_factor_page(
                str(form.get("redirect_to", "/wp-admin/")),
                error="Invalid verification code.",
            )
        if action == "confirm_admin_email":
            return self._confirm_admin_email(request, form)
        log = str(form.get("log", "")).strip()
        pwd = str(form.get("pwd", ""))
        redirect_to = str(form.get("redirect_to", "") or "/wp-admin/")
        if "wordpress_test_cookie" not in request.cookies:
            return _login_page(
                redirect_to=redirect_to,
                error="<strong>Error:</strong> Cookies are blocked or not supported by your "
                "browser. You must enable cookies to use WordPress.",
                username=log,
            )
        user = next((u for u in self.users.values() if log in (u.login, u.email)), None)
        if not log or not pwd:
            return _login_page(
                redirect_to=redirect_to,
                error="<strong>Error:</strong> The username field is empty.",
                username=log,
            )
        if user is None:
            return _login_page(
                redirect_to=redirect_to,
                error=f"<strong>Error:</strong> The username <strong>{esc(log)}</strong> is not "
                "registered on this site. If you are unsure of your username, try your email "
                "address instead.",
                username=log,
            )
        if self.failures.wrong_password or not secrets.compare_digest(user.password, pwd):
            return _login_page(
                redirect_to=redirect_to,
                error="<strong>Error:</strong> The password you entered for the username "
                f'<strong>{esc(user.login)}</strong> is incorrect. <a href="/wp-login.php?'
                'action=lostpassword">Lost your password?</a>',
                username=log,
            )
        if self.failures.two_factor:
            return _two_factor_page(redirect_to)
        if self.admin_email_check:
            response = _confirm_admin_email_page(redirect_to)
            session = self.sessions.start(response, user_id=user.id, pending_email_check=True)
            nonce = self._nonce(session, "confirm_admin_email")
            response.text = (response.text or "").replace("__NONCE__", nonce)
            return response
        response = web.HTTPFound(redirect_to if redirect_to.startswith("/") else "/wp-admin/")
        self.sessions.start(response, user_id=user.id)
        raise response

    def _confirm_admin_email(self, request: web.Request, form: Any) -> web.StreamResponse:
        session = self.sessions.get(request)
        if session is None or not self.csrf.check(
            session, "confirm_admin_email", str(form.get("confirm_admin_email_nonce", "")), 10
        ):
            return page(
                "Something went wrong.", "<p>The link you followed has expired.</p>", status=403
            )
        session.pop("pending_email_check", None)
        self.admin_email_check = False
        redirect_to = str(form.get("redirect_to", "/wp-admin/"))
        raise web.HTTPFound(redirect_to if redirect_to.startswith("/") else "/wp-admin/")

    # -- admin -----------------------------------------------------------------------------

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        current = self._current_user(request)
        if current is None:
            raise self._require_login(request)
        _, user = current
        return _admin_page(
            "Dashboard",
            user,
            '<div class="wrap"><h1>Dashboard</h1><p>Welcome to WordPress!</p></div>',
        )

    async def admin_page(self, request: web.Request) -> web.StreamResponse:
        current = self._current_user(request)
        if current is None:
            raise self._require_login(request)
        session, user = current
        query = request.query
        if query.get("page") != "wc-settings":
            return _admin_page(
                "Not found",
                user,
                "<p>Sorry, you are not allowed to access this page.</p>",
                status=403,
            )
        if query.get("tab") != "advanced" or query.get("section") != "keys":
            return _admin_page(
                "WooCommerce settings", user, _settings_wrap("<p>General settings.</p>", section="")
            )
        if "revoke-key" in query:
            return self._revoke(session, query)
        if "create-key" in query or "edit-key" in query:
            key_id = int(query.get("edit-key", "0") or 0)
            key = self.keys.get(key_id) if key_id else None
            if key_id and (key is None or key.revoked):
                key_id, key = 0, None
            body = _key_form(
                self,
                user,
                key,
                nonce=self._nonce(session, "update-api-key"),
                revoke_nonce=self._nonce(session, "revoke"),
            )
            return _admin_page(
                "REST API \u2039 WooCommerce", user, _settings_wrap(body), scripts=_KEYS_SCRIPT
            )
        notice = ""
        if query.get("revoked"):
            count = int(query["revoked"])
            notice = (
                f'<div id="message" class="updated inline"><p>{count} API key'
                f"{'s' if count != 1 else ''} permanently revoked.</p></div>"
            )
        body = notice + self._keys_table(session)
        return _admin_page("REST API \u2039 WooCommerce", user, _settings_wrap(body))

    def _keys_table(self, session: dict[str, Any]) -> str:
        create = f"{KEYS_PATH}&amp;create-key=1"
        keys = self.active_keys
        if not keys:
            return (
                '<h2 class="wc-table-list-header">REST API</h2>'
                '<div class="woocommerce-BlankState"><h2 class="woocommerce-BlankState-message">'
                "The WooCommerce REST API allows external apps to view and manage store data. "
                "Access is granted only to those with valid API keys.</h2>"
                f'<a class="woocommerce-BlankState-cta button-primary button" href="{create}">'
                "Create an API key</a></div>"
            )
        revoke_nonce = self._nonce(session, "revoke")
        rows = []
        for key in sorted(keys, key=lambda k: k.key_id, reverse=True):
            edit = f"{KEYS_PATH}&amp;edit-key={key.key_id}"
            revoke = f"{KEYS_PATH}&amp;revoke-key={key.key_id}&amp;_wpnonce={revoke_nonce}"
            rows.append(
                "<tr>"
                '<td class="title column-title has-row-actions column-primary" '
                'data-colname="Description">'
                f'<strong><a href="{edit}" class="row-title">{esc(key.description)}</a></strong>'
                f'<div class="row-actions"><span class="id">ID: {key.key_id} | </span>'
                f'<span class="edit"><a href="{edit}">View/Edit</a> | </span>'
                f'<span class="trash"><a class="submitdelete" aria-label="Revoke API key '
                f'&quot;{esc(key.description)}&quot;" href="{revoke}">Revoke</a></span></div></td>'
                '<td class="truncated_key column-truncated_key" '
                'data-colname="Consumer key ending in">'
                f"<code>&hellip;{esc(key.truncated_key)}</code></td>"
                f'<td class="user column-user" data-colname="User">'
                f"{esc(self.users[key.user_id].login)}</td>"
                f'<td class="permissions column-permissions" data-colname="Permissions">'
                f"{PERMISSION_LABELS[key.permissions]}</td>"
                '<td class="last_access column-last_access" data-colname="Last access">Unknown</td>'
                "</tr>"
            )
        return (
            f'<h2 class="wc-table-list-header">REST API <a href="{create}" class="add-new-h2">'
            "Add key</a></h2>"
            '<table class="wp-list-table widefat fixed striped table-view-list keys">'
            '<thead><tr><th scope="col" id="title" class="manage-column column-title '
            'column-primary">Description</th><th scope="col" id="truncated_key" '
            'class="manage-column column-truncated_key">Consumer key ending in</th>'
            '<th scope="col" id="user" class="manage-column column-user">User</th>'
            '<th scope="col" id="permissions" class="manage-column column-permissions">'
            "Permissions</th>"
            '<th scope="col" id="last_access" class="manage-column column-last_access">'
            "Last access</th></tr></thead>"
            f'<tbody id="the-list" data-wp-lists="list:key">{"".join(rows)}</tbody></table>'
        )

    def _revoke(self, session: dict[str, Any], query: Any) -> web.StreamResponse:
        if not self.csrf.check(session, "revoke", query.get("_wpnonce", ""), 10):
            return page(
                "Something went wrong.",
                '<div class="wp-die-message">The link you followed has expired.</div>',
                status=403,
                body_class="wp-die-message",
            )
        key = self.keys.get(int(query["revoke-key"] or 0))
        revoked = 0
        if key is not None and not key.revoked:
            key.revoked_at = datetime.now(UTC)
            revoked = 1
        raise web.HTTPFound(f"{KEYS_PATH}&revoked={revoked}")

    async def ajax(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        current = self._current_user(request)
        if form.get("action") != "woocommerce_update_api_key":
            return web.Response(text="0", status=400)
        if current is None:
            return web.Response(text="0", status=400)
        session, _ = current
        if not self.csrf.check(session, "update-api-key", str(form.get("security", "")), 10):
            return web.Response(text="-1", status=403)

        def error(message: str) -> web.Response:
            return web.json_response({"success": False, "data": {"message": message}})

        description = str(form.get("description", "")).strip()
        permissions = str(form.get("permissions", ""))
        try:
            user_id = int(str(form.get("user", "0")))
            key_id = int(str(form.get("key_id", "0")))
        except ValueError:
            return error("User is missing.")
        if not description:
            return error("Description is missing.")
        if user_id not in self.users:
            return error("User is missing.")
        if permissions not in PERMISSION_LABELS:
            return error("Permissions is missing.")
        if key_id:
            key = self.keys.get(key_id)
            if key is None or key.revoked:
                return error("API key not found.")
            key.description, key.user_id, key.permissions = description, user_id, permissions
            return web.json_response(
                {
                    "success": True,
                    "data": {
                        "user_id": user_id,
                        "description": description,
                        "permissions": permissions,
                        "consumer_key": "",
                        "consumer_secret": "",
                        "message": "API Key updated successfully.",
                    },
                }
            )
        key_id = self._next_key_id
        self._next_key_id += 1
        key = ApiKey(
            key_id=key_id,
            user_id=user_id,
            description=description[:200],
            permissions=permissions,
            consumer_key="ck_" + secrets.token_hex(20),
            consumer_secret="cs_" + secrets.token_hex(20),
            created_at=datetime.now(UTC),
        )
        self.keys[key_id] = key
        revoke_url = (
            f"{KEYS_PATH}&amp;revoke-key={key_id}&amp;_wpnonce={self._nonce(session, 'revoke')}"
        )
        return web.json_response(
            {
                "success": True,
                "data": {
                    "user_id": user_id,
                    "description": key.description,
                    "permissions": permissions,
                    "consumer_key": key.consumer_key,
                    "consumer_secret": key.consumer_secret,
                    "message": GENERATED_MESSAGE,
                    "revoke_url": f'<a style="color: #a00; text-decoration: none;" '
                    f'href="{revoke_url}">Revoke key</a>',
                },
            }
        )

    async def rest_status(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        key = None
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            key = self.authenticate(user, password)
        if key is None:
            return web.json_response(
                {
                    "code": "woocommerce_rest_cannot_view",
                    "message": "Sorry, you cannot list resources.",
                    "data": {"status": 401},
                },
                status=401,
            )
        return web.json_response({"environment": {"home_url": self.url, "version": "10.3.0"}})


# -- page templates ------------------------------------------------------------------------


def _maintenance_page() -> web.Response:
    return page(
        "Maintenance",
        "<p>Briefly unavailable for scheduled maintenance. Check back in a minute.</p>",
        status=503,
    )


def _login_shell(title: str, inner: str) -> web.Response:
    return page(
        f"{title} \u2039 Acme Test Shop — WordPress",
        '<div id="login"><h1><a href="https://wordpress.org/">Powered by WordPress</a></h1>'
        f"{inner}</div>",
        body_class="login no-js login-action-login wp-core-ui locale-en-us",
    )


def _login_page(*, redirect_to: str, error: str = "", username: str = "") -> web.Response:
    error_html = (
        f'<div id="login_error" class="notice notice-error"><p>{error}</p></div>' if error else ""
    )
    return _login_shell(
        "Log In",
        error_html + '<form name="loginform" id="loginform" action="/wp-login.php" method="post">'
        '<p><label for="user_login">Username or Email Address</label>'
        f'<input type="text" name="log" id="user_login" class="input" value="{esc(username)}" '
        'size="20" autocapitalize="off" autocomplete="username" required="required"></p>'
        '<div class="user-pass-wrap"><label for="user_pass">Password</label>'
        '<div class="wp-pwd"><input type="password" name="pwd" id="user_pass" '
        'class="input password-input" value="" size="20" autocomplete="current-password" '
        'spellcheck="false" required="required">'
        '<button type="button" class="button button-secondary wp-hide-pw hide-if-no-js" '
        'data-toggle="0" aria-label="Show password"><span class="dashicons '
        'dashicons-visibility" aria-hidden="true"></span></button></div></div>'
        '<p class="forgetmenot"><input name="rememberme" type="checkbox" id="rememberme" '
        'value="forever"> <label for="rememberme">Remember Me</label></p>'
        '<p class="submit"><input type="submit" name="wp-submit" id="wp-submit" '
        'class="button button-primary button-large" value="Log In">'
        f'<input type="hidden" name="redirect_to" value="{esc(redirect_to)}">'
        '<input type="hidden" name="testcookie" value="1"></p></form>'
        '<p id="nav"><a href="/wp-login.php?action=lostpassword">Lost your password?</a></p>',
    )


def _two_factor_page(redirect_to: str, error: str = "") -> web.Response:
    # The shape of the "Two Factor" plugin's form (it reuses id="loginform").
    error_html = (
        f'<div id="login_error" class="notice notice-error"><p>{esc(error)}</p></div>'
        if error
        else ""
    )
    return _login_shell(
        "Two-Factor Authentication",
        error_html + '<form name="validate_2fa_form" id="loginform" '
        'action="/wp-login.php?action=validate_2fa" method="post" autocomplete="off">'
        f'<input type="hidden" name="wp-auth-id" value="1">'
        f'<input type="hidden" name="wp-auth-nonce" value="{secrets.token_hex(5)}">'
        f'<input type="hidden" name="redirect_to" value="{esc(redirect_to)}">'
        '<p class="two-factor-prompt">Enter the code generated by your authenticator app.</p>'
        '<p><label for="authcode">Authentication Code:</label>'
        '<input type="text" inputmode="numeric" name="authcode" id="authcode" class="input '
        'authcode" value="" size="20" pattern="[0-9 ]*" autocomplete="one-time-code"></p>'
        '<p><input type="submit" name="submit" id="submit" class="button button-primary" '
        'value="Log In"></p></form>',
    )


def _confirm_admin_email_page(redirect_to: str) -> web.Response:
    return _login_shell(
        "Confirm your administration email",
        '<form class="admin-email-confirm-form" name="admin-email-confirm-form" '
        'action="/wp-login.php?action=confirm_admin_email" method="post">'
        '<input type="hidden" name="confirm_admin_email_nonce" value="__NONCE__">'
        f'<input type="hidden" name="redirect_to" value="{esc(redirect_to)}">'
        '<h1 class="admin-email__heading">Administration email verification</h1>'
        '<p class="admin-email__details">Please verify that the <strong>administration '
        "email</strong> for this website is still correct.</p>"
        '<div class="admin-email__actions"><div class="admin-email__actions-primary">'
        '<a class="button button-large" href="/wp-admin/options-general.php#new_admin_email">'
        "Update</a>"
        '<input type="submit" name="correct-admin-email" id="correct-admin-email" '
        'class="button button-primary button-large" value="The email is correct"></div>'
        '<div class="admin-email__actions-secondary"><a href="/wp-admin/?remind_me_later=x">'
        "Remind me later</a></div></div></form>",
    )


def _admin_page(
    title: str, user: WpUser, content: str, *, status: int = 200, scripts: str = ""
) -> web.Response:
    return page(
        f"{title} \u2039 Acme Test Shop — WordPress",
        '<div id="wpwrap"><div id="adminmenumain" role="navigation" aria-label="Main menu">'
        '<div id="adminmenuwrap"><ul id="adminmenu">'
        '<li id="menu-dashboard"><a href="/wp-admin/index.php">Dashboard</a></li>'
        '<li id="toplevel_page_woocommerce"><a href="/wp-admin/admin.php?page=wc-admin">'
        'WooCommerce</a><ul class="wp-submenu"><li><a href="/wp-admin/admin.php?page=wc-settings">'
        "Settings</a></li></ul></li></ul></div></div>"
        '<div id="wpcontent"><div id="wpadminbar" class="nojq" role="navigation">'
        '<ul id="wp-admin-bar-top-secondary"><li id="wp-admin-bar-my-account">'
        f'<a class="ab-item" href="/wp-admin/profile.php">Howdy, <span class="display-name">'
        f"{esc(user.display_name)}</span></a></li></ul></div>"
        f'<div id="wpbody" role="main"><div id="wpbody-content">{content}</div></div></div></div>'
        f"{scripts}",
        status=status,
        body_class="wp-admin wp-core-ui no-js woocommerce_page_wc-settings",
    )


def _settings_wrap(inner: str, *, section: str = "keys") -> str:
    tabs = "".join(
        f'<a href="/wp-admin/admin.php?page=wc-settings&amp;tab={tab}" class="nav-tab'
        f'{" nav-tab-active" if tab == "advanced" and section else ""}">{label}</a>'
        for tab, label in (
            ("general", "General"),
            ("products", "Products"),
            ("shipping", "Shipping"),
            ("checkout", "Payments"),
            ("account", "Accounts &amp; Privacy"),
            ("email", "Emails"),
            ("advanced", "Advanced"),
        )
    )
    sections = (
        '<ul class="subsubsub">'
        '<li><a href="/wp-admin/admin.php?page=wc-settings&amp;tab=advanced&amp;section=">'
        "Page setup</a> | </li>"
        f'<li><a href="{KEYS_PATH}" class="current">REST API</a> | </li>'
        '<li><a href="/wp-admin/admin.php?page=wc-settings&amp;tab=advanced&amp;section=webhooks">'
        'Webhooks</a></li></ul><br class="clear">'
    )
    return (
        '<div class="wrap woocommerce"><form method="post" id="mainform" action="" '
        'enctype="multipart/form-data"><nav class="nav-tab-wrapper woo-nav-tab-wrapper">'
        f'{tabs}</nav><h1 class="screen-reader-text">Advanced</h1>{sections}{inner}'
        "</form></div>"
    )


def _key_form(
    site: WooCommerceSite, user: WpUser, key: ApiKey | None, *, nonce: str, revoke_nonce: str
) -> str:
    changed = site.failures.changed_layout
    ids = (
        {
            "description": "api_key_description",
            "user": "api_key_owner",
            "permissions": "api_key_access",
            "button": "api_generate_key",
        }
        if changed
        else {
            "description": "key_description",
            "user": "key_user",
            "permissions": "key_permissions",
            "button": "update_api_key",
        }
    )
    selected_user = key.user_id if key else user.id
    options = "".join(
        f'<option value="{u.id}"{" selected" if u.id == selected_user else ""}>'
        f"{esc(u.login)} (#{u.id} &ndash; {esc(u.email)})</option>"
        for u in site.users.values()
    )
    selected_permissions = key.permissions if key else "read"
    permission_options = "".join(
        f'<option value="{value}"{" selected" if value == selected_permissions else ""}>'
        f"{label}</option>"
        for value, label in PERMISSION_LABELS.items()
    )
    key_id = key.key_id if key else 0
    extra_rows = ""
    actions = (
        f'<input type="submit" name="{ids["button"]}" id="{ids["button"]}" '
        'class="button button-primary" value="Generate API key">'
    )
    if key is not None:
        extra_rows = (
            '<tr valign="top"><th scope="row" class="titledesc">Consumer key ending in</th>'
            f'<td class="forminp"><code>&hellip;{esc(key.truncated_key)}</code></td></tr>'
        )
        actions = (
            f'<input type="submit" name="{ids["button"]}" id="{ids["button"]}" '
            'class="button button-primary" value="Save changes">'
            f' <a style="color: #a00; text-decoration: none; margin-left: 10px;" '
            f'href="{KEYS_PATH}&amp;revoke-key={key.key_id}&amp;_wpnonce={revoke_nonce}">'
            "Revoke key</a>"
        )
    config = json.dumps(
        {
            "ajax_url": "/wp-admin/admin-ajax.php",
            "update_api_nonce": nonce,
            "ids": ids,
            "clipboard_failed": "Copying to clipboard failed. Please press Ctrl/Cmd+C to copy.",
        }
    )
    return (
        f'<div id="key-fields" class="settings-panel"><h2>Key details</h2>'
        f'<input type="hidden" id="key_id" value="{key_id}">'
        '<table id="api-keys-options" class="form-table"><tbody>'
        '<tr valign="top"><th scope="row" class="titledesc">'
        f'<label for="{ids["description"]}">Description</label></th><td class="forminp">'
        f'<input id="{ids["description"]}" type="text" class="input-text regular-input" '
        f'value="{esc(key.description) if key else ""}" maxlength="200"></td></tr>'
        '<tr valign="top"><th scope="row" class="titledesc">'
        f'<label for="{ids["user"]}">User</label></th><td class="forminp">'
        f'<select class="wc-customer-search" id="{ids["user"]}" '
        'data-placeholder="Search for a user&hellip;" data-allow_clear="true">'
        f"{options}</select></td></tr>"
        '<tr valign="top"><th scope="row" class="titledesc">'
        f'<label for="{ids["permissions"]}">Permissions</label></th><td class="forminp">'
        f'<select id="{ids["permissions"]}" class="wc-enhanced-select">{permission_options}'
        f"</select></td></tr>{extra_rows}</tbody></table>"
        f'<p class="submit">{actions}</p></div>'
        '<script type="text/template" id="tmpl-api-keys-template">'
        '<p id="copy-error"></p><table class="form-table"><tbody>'
        '<tr valign="top"><th scope="row" class="titledesc">Consumer key</th>'
        '<td class="forminp"><input id="key_consumer_key" type="text" '
        'value="{{ data.consumer_key }}" size="55" readonly="readonly"> '
        '<button type="button" class="button-secondary copy-key" data-tip="Copied!">Copy'
        "</button></td></tr>"
        '<tr valign="top"><th scope="row" class="titledesc">Consumer secret</th>'
        '<td class="forminp"><input id="key_consumer_secret" type="text" '
        'value="{{ data.consumer_secret }}" size="55" readonly="readonly"> '
        '<button type="button" class="button-secondary copy-secret" data-tip="Copied!">Copy'
        "</button></td></tr></tbody></table></script>"
        f"<script>var woocommerce_admin_api_keys = {config};</script>"
    )


# The behaviour of WooCommerce's api-keys.js, without jQuery: the button never submits the
# surrounding form; it posts to admin-ajax.php and renders the keys from the template.
_KEYS_SCRIPT = """
<script>
(function () {
  var cfg = window.woocommerce_admin_api_keys;
  var panel = document.getElementById('key-fields');
  var button = document.getElementById(cfg.ids.button);
  if (!panel || !button) return;
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function notice(kind, message) {
    var old = panel.querySelector('.wc-api-message');
    if (old) old.remove();
    var div = document.createElement('div');
    div.className = 'wc-api-message ' + kind;
    div.innerHTML = '<p>' + message + '</p>';
    panel.querySelector('h2, h3').appendChild(div);
  }
  button.addEventListener('click', function (event) {
    event.preventDefault();
    button.disabled = true;
    panel.classList.add('blockUI');
    var body = new URLSearchParams({
      action: 'woocommerce_update_api_key',
      security: cfg.update_api_nonce,
      key_id: document.getElementById('key_id').value,
      description: document.getElementById(cfg.ids.description).value,
      user: document.getElementById(cfg.ids.user).value,
      permissions: document.getElementById(cfg.ids.permissions).value
    });
    fetch(cfg.ajax_url, {method: 'POST', body: body, credentials: 'same-origin'})
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (response) {
        panel.classList.remove('blockUI');
        button.disabled = false;
        if (!response.success) { notice('error', response.data.message); return; }
        var data = response.data;
        notice('updated', data.message);
        if (data.consumer_key.length > 0 && data.consumer_secret.length > 0) {
          document.getElementById('api-keys-options').remove();
          var submit = panel.querySelector('p.submit');
          submit.innerHTML = data.revoke_url;
          var tpl = document.getElementById('tmpl-api-keys-template').innerHTML
            .replace('{{ data.consumer_key }}', escapeHtml(data.consumer_key))
            .replace('{{ data.consumer_secret }}', escapeHtml(data.consumer_secret));
          var holder = document.createElement('div');
          holder.innerHTML = tpl;
          while (holder.firstChild) submit.parentNode.insertBefore(holder.firstChild, submit);
        }
      })
      .catch(function () {
        panel.classList.remove('blockUI');
        button.disabled = false;
        notice('error', 'There was an error generating your API Key.');
      });
  });
})();
</script>
"""

"""Shopify: API credentials through the Dev Dashboard, or a legacy custom app in the admin.

Since 1 January 2026 stores cannot create new legacy custom apps, so the default flow
(``config.flow == "dev_dashboard"``) builds a Dev Dashboard app and the durable credential
is its **client ID and client secret**; access tokens come from the client-credentials
grant and expire after 24 hours (``token_refresh`` asks for a new one, without a browser).

Credentials Secret (``spec.credentialsSecretRef``): ``username`` is the Shopify account
email, ``password`` its password. Accounts with two-step authentication or a captcha
cannot be driven unattended (``InteractiveLoginRequired``).

Result Secret keys:
- dev_dashboard: ``client_id``, ``client_secret``, ``access_token``,
  ``access_token_expires_at`` (ISO 8601, UTC), ``scopes`` (comma-separated), ``app_name``,
  ``app_url`` (the app's Dev Dashboard page, used by rotation), ``store_url``, ``flow``.
- legacy_admin: ``access_token`` (``shpat_…``, does not expire), ``scopes``, ``app_name``,
  ``store_url``, ``flow``.

Selectors are accessible names (roles and labels) rather than generated class names, the
way Shopify's own UI is built, so they follow the visible flow the docs describe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import Locator, Page

from aop_agents.agents.base import (
    Agent,
    AgentContext,
    AgentError,
    AgentResult,
    InteractiveLoginRequired,
    InvalidConfig,
    InvalidCredentials,
    StoreTimeout,
    StoreUnreachable,
    UnexpectedPage,
)
from aop_agents.browser import (
    PageFlow,
    StoreLogin,
    classify_http_status,
    clickable,
    coerce_config,
    field_labelled,
    is_masked,
    run_with_page,
    safe_url,
    text_of,
)
from aop_contracts.configs import ShopifyConfig
from aop_contracts.models import SERVICE_OPERATIONS, OperationType, Service

log = logging.getLogger(__name__)

LEGACY_FLOW = "legacy_admin"
DEV_DASHBOARD_FLOW = "dev_dashboard"


# -- pure pieces (unit-tested) -------------------------------------------------------------


@dataclass(frozen=True)
class TokenGrant:
    """What the client-credentials grant returned."""

    access_token: str
    scopes: tuple[str, ...]
    expires_at: datetime


def parse_token_response(
    status: int, body: Mapping[str, Any] | None, *, now: datetime
) -> TokenGrant | AgentError:
    """The grant, or the typed error for a refused/failed ``/admin/oauth/access_token``."""
    error_code = str(body.get("error", "")) if body else ""
    if status == 401 or error_code == "invalid_client":
        return InvalidCredentials(
            "the store rejected the app's client ID/secret (revoked or rotated elsewhere?)"
        )
    if status >= 500 or status == 429:
        error = classify_http_status(status, step="request_token")
        assert error is not None
        return error
    if status != 200 or body is None:
        detail = f" ({error_code})" if error_code else ""
        return AgentError(
            f"the store refused the client-credentials grant: HTTP {status}{detail}",
            reason="TokenRequestRejected",
            permanent=400 <= status < 500,
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        return UnexpectedPage("the token response has no access_token")
    try:
        expires_in = int(body.get("expires_in", 86399))
    except (TypeError, ValueError):
        return UnexpectedPage("the token response has a malformed expires_in")
    scopes = tuple(s for s in str(body.get("scope", "")).split(",") if s)
    return TokenGrant(token, scopes, now + timedelta(seconds=expires_in))


@dataclass(frozen=True)
class RotationPlan:
    """What to do with the client secrets found on the app's Settings page."""

    rotate: bool
    keep: str | None = None
    revoke: str | None = None


def plan_rotation(current: list[str], old: str) -> RotationPlan:
    """Decide from the secrets shown (newest first) and the one we hold.

    Rotation is retried after partial failures, so every intermediate state is accepted:
    only ours → generate a new one; ours plus a newer one → keep the newer, revoke ours;
    only one that is not ours → an earlier attempt already finished, keep it.
    """
    if not current:
        raise UnexpectedPage("the app's Settings page shows no client secret")
    if old in current:
        others = [s for s in current if s != old]
        if not others:
            return RotationPlan(rotate=True)
        return RotationPlan(rotate=False, keep=others[0], revoke=old)
    if len(current) == 1:
        return RotationPlan(rotate=False, keep=current[0])
    raise AgentError(
        "the app has several client secrets and none is the one on record; rotate it by hand",
        reason="RotationConflict",
        permanent=True,
    )


def summarize(
    *, app_name: str, scopes: list[str] | tuple[str, ...], client_id: str | None = None
) -> str:
    """``status.result.summary``: what was made, with no secret in it."""
    parts = [f"app {app_name}", f"scopes {','.join(scopes)}"]
    if client_id:
        parts.append(f"client id …{client_id[-4:]}")
    return ", ".join(parts)


def host_pattern(store_url: str) -> re.Pattern[str]:
    """Matches the store's domain as a whole word in a store picker."""
    host = urlsplit(store_url).netloc.lower()
    return re.compile(rf"(?<![\w.-]){re.escape(host)}(?![\w.:-])", re.IGNORECASE)


# -- HTTP: the client-credentials grant -----------------------------------------------------


async def request_access_token(
    store_url: str, client_id: str, client_secret: str, *, timeout_seconds: float
) -> TokenGrant:
    """``POST {store}/admin/oauth/access_token`` (form-encoded client-credentials grant)."""
    url = f"{store_url.rstrip('/')}/admin/oauth/access_token"
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as http,
            http.post(url, data=form, headers={"Accept": "application/json"}) as response,
        ):
            status = response.status
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
    except TimeoutError as e:
        raise StoreTimeout(f"the token endpoint of {safe_url(url)} did not answer in time") from e
    except aiohttp.ClientConnectionError as e:
        raise StoreUnreachable(f"store unreachable: {safe_url(url)}") from e
    result = parse_token_response(
        status, body if isinstance(body, dict) else None, now=datetime.now(UTC)
    )
    if isinstance(result, AgentError):
        raise result
    return result


# -- page helpers -----------------------------------------------------------------------------


async def sign_in(flow: PageFlow, login: StoreLogin, targets: Mapping[str, Locator]) -> str:
    """Drive Shopify's login (email page, password page, maybe two-step) until a target shows.

    Returns the name of the target reached. A browser already signed in (single sign-on)
    goes straight through.
    """
    page = flow.page
    email = page.locator("#account_email, input[name='account[email]'], input[type=email]")
    password = page.locator(
        "#account_password, input[name='account[password]'], "
        "input[type=password][autocomplete=current-password]"
    )
    states: dict[str, Locator] = {
        **targets,
        "two_factor": page.locator(
            "#account_tfa_code, input[autocomplete=one-time-code], input[name=tfa_code]"
        ),
        "captcha": page.locator(
            "iframe[src*=hcaptcha], iframe[src*=recaptcha], .h-captcha, .g-recaptcha"
        ),
        "error": page.locator("[role=alert], .validation-error").filter(has_text=re.compile(r"\S")),
        "password": password,
        "email": email,
    }
    emails = passwords = 0
    while True:
        state = await flow.wait_for_any(states)
        if state in targets:
            return state
        if state == "two_factor":
            raise InteractiveLoginRequired("Shopify asked for a two-step authentication code")
        if state == "captcha":
            raise InteractiveLoginRequired("Shopify asked to solve a captcha")
        if state == "error":
            raise InvalidCredentials("Shopify rejected the login (email or password)")
        if state == "password":
            if passwords:
                raise InvalidCredentials("Shopify asked for the password again")
            if await email.first.is_visible() and not await email.first.input_value():
                await email.first.fill(login.username)
            await flow.fill_secret(password.first, login.password)
            await flow.submit(password.first, press="Enter")
            passwords += 1
        else:
            if emails >= 2:
                raise UnexpectedPage("Shopify's login kept asking for the email")
            await email.first.fill(login.username)
            await flow.submit(email.first, press="Enter")
            emails += 1


async def reveal_secrets(flow: PageFlow, label: str) -> tuple[list[Locator], list[str]]:
    """Reveal every client secret on the app's Settings page; (groups, values) newest first."""
    groups = flow.page.get_by_role("group", name=re.compile(rf"^{re.escape(label)}\b", re.I))
    found = await groups.all()
    values = []
    for group in found:
        field = group.locator("input")
        if is_masked(await field.first.input_value()):
            await group.get_by_role("button", name=re.compile(r"^(reveal|show)\b", re.I)).click()
        values.append(
            await flow.wait_for_value(field, lambda v: not is_masked(v), what="a revealed secret")
        )
    return found, values


def _result(
    config: ShopifyConfig,
    *,
    client_id: str,
    client_secret: str,
    grant: TokenGrant,
    app_url: str,
    app_name: str,
) -> AgentResult:
    scopes = list(grant.scopes) or list(config.scopes)
    return AgentResult(
        secret_data={
            "client_id": client_id,
            "client_secret": client_secret,
            "access_token": grant.access_token,
            "access_token_expires_at": grant.expires_at.isoformat(timespec="seconds"),
            "scopes": ",".join(scopes),
            "app_name": app_name,
            "app_url": app_url,
            "store_url": config.store_url,
            "flow": DEV_DASHBOARD_FLOW,
        },
        summary=summarize(app_name=app_name, scopes=scopes, client_id=client_id),
    )


class ShopifyAgent(Agent):
    """Dev Dashboard apps (create, rotate, refresh the token) and legacy custom apps."""

    service = Service.SHOPIFY
    operations = SERVICE_OPERATIONS[Service.SHOPIFY]
    steps = (
        "sign_in",
        "open_app",
        "create_app",
        "select_scopes",
        "release_version",
        "install_app",
        "read_credentials",
        "rotate_secret",
        "request_token",
        "revoke_old_secret",
        "open_develop_apps",
        "configure_scopes",
        "reveal_token",
        "done",
    )

    def uses_browser(self, operation: OperationType) -> bool:
        return operation is not OperationType.TOKEN_REFRESH

    async def run(self, ctx: AgentContext) -> AgentResult:
        config = coerce_config(ctx.config, ShopifyConfig)
        operation = OperationType(ctx.operation)
        if operation not in self.operations:
            raise AgentError(
                f"shopify has no operation {operation}", reason="UnknownService", permanent=True
            )
        if operation is OperationType.TOKEN_REFRESH:
            return await self._token_refresh(ctx, config)
        login = StoreLogin.from_credentials(ctx.credentials)
        if config.flow == LEGACY_FLOW:
            if operation is not OperationType.API_CREDENTIAL_GENERATION:
                raise InvalidConfig(
                    f"{operation} needs a Dev Dashboard app; legacy custom app tokens are "
                    "revealed once and cannot be rotated from the admin"
                )

            async def legacy(flow: PageFlow) -> AgentResult:
                return await self._legacy(flow, config, login)

            body = legacy
        elif operation is OperationType.CREDENTIAL_ROTATION:
            previous = ctx.previous_result or {}

            async def rotate(flow: PageFlow) -> AgentResult:
                return await self._rotate(flow, config, login, previous)

            body = rotate
        else:

            async def generate(flow: PageFlow) -> AgentResult:
                return await self._generate(flow, config, login)

            body = generate
        return await run_with_page(
            ctx,
            body,
            headless=config.headless,
            timeout_seconds=config.timeout_seconds,
            redact=(login.password,),
        )

    # -- token_refresh ---------------------------------------------------------------------

    async def _token_refresh(self, ctx: AgentContext, config: ShopifyConfig) -> AgentResult:
        previous = dict(ctx.previous_result or {})
        client_id, client_secret = previous.get("client_id"), previous.get("client_secret")
        if not client_id or not client_secret:
            raise InvalidConfig(
                "token_refresh needs the client_id and client_secret of an earlier "
                "dev_dashboard api_credential_generation in the result Secret"
            )
        await ctx.progress(20, "Requesting a new access token", "request_token")
        grant = await request_access_token(
            config.store_url, client_id, client_secret, timeout_seconds=config.timeout_seconds
        )
        previous.update(
            access_token=grant.access_token,
            access_token_expires_at=grant.expires_at.isoformat(timespec="seconds"),
            scopes=",".join(grant.scopes) or previous.get("scopes", ""),
        )
        await ctx.progress(100, "Access token renewed", "done")
        return AgentResult(
            secret_data=previous,
            summary=f"access token renewed for client id …{client_id[-4:]}, expires "
            f"{grant.expires_at.isoformat(timespec='minutes')}",
        )

    # -- Dev Dashboard: create -------------------------------------------------------------

    async def _generate(
        self, flow: PageFlow, config: ShopifyConfig, login: StoreLogin
    ) -> AgentResult:
        page = flow.page
        await flow.enter("sign_in", 5, "Signing in to the Dev Dashboard")
        await flow.goto(f"{config.dev_dashboard_url.rstrip('/')}/dashboard")
        await sign_in(flow, login, {"apps": _apps_heading(page)})

        await flow.enter("create_app", 15, f"Creating app {config.app_name}")
        await self._open_or_create_app(flow, config.app_name)

        await flow.enter("select_scopes", 30, f"Selecting scopes {','.join(config.scopes)}")
        await self._select_scopes(flow, config.scopes)

        await flow.enter("release_version", 40, "Releasing a version")
        app_url = await self._release(flow)

        await flow.enter("install_app", 50, "Installing the app on the store")
        await self._install(flow, login, config)

        await flow.enter("read_credentials", 70, "Reading the client ID and secret")
        client_id = await self._open_settings(flow, app_url)
        _, secrets = await reveal_secrets(flow, "Client secret")
        client_secret = secrets[0]

        await flow.enter("request_token", 85, "Requesting an access token")
        grant = await request_access_token(
            config.store_url, client_id, client_secret, timeout_seconds=config.timeout_seconds
        )
        await flow.enter("done", 100, "Credentials created")
        return _result(
            config,
            client_id=client_id,
            client_secret=client_secret,
            grant=grant,
            app_url=app_url,
            app_name=config.app_name,
        )

    async def _open_or_create_app(self, flow: PageFlow, name: str) -> None:
        page = flow.page
        create = clickable(page, "Create app")
        await flow.wait_for_any({"apps": create})
        existing = page.get_by_role("link", name=name, exact=True)
        if await existing.count():
            # A retried job finds the app its earlier attempt made; reuse it.
            log.info("Dev Dashboard app already exists; reusing it")
            await flow.submit(existing.first)
            await flow.wait_for_any({"app": _app_link(page, "Versions")})
            await flow.submit(_app_link(page, "Versions"))
            return
        await flow.submit(create)
        name_field = field_labelled(page, "App name")
        start = clickable(page, "Start from Dev Dashboard")
        if await flow.wait_for_any({"name": name_field, "start": start}) == "start":
            await start.click()
            await flow.wait_for_any({"name": name_field})
        await name_field.fill(name)
        await flow.submit(page.get_by_role("button", name="Create", exact=True))
        state = await flow.wait_for_any(
            {"version": clickable(page, "Select scopes"), "error": page.get_by_role("alert")}
        )
        if state == "error":
            raise AgentError(
                f"the Dev Dashboard refused the app: {await text_of(page.get_by_role('alert'))}",
                reason="AppRejected",
                permanent=True,
            )

    async def _select_scopes(self, flow: PageFlow, scopes: list[str]) -> None:
        page = flow.page
        select = clickable(page, "Select scopes")
        await flow.wait_for_any({"version": select})
        await select.click()
        picker = page.get_by_role("dialog", name=re.compile("scopes", re.I))
        await flow.wait_for_any({"picker": picker.get_by_role("checkbox")})
        offered: dict[str, Locator] = {}
        for box in await picker.get_by_role("checkbox").all():
            label = await box.evaluate(
                "e => ((e.labels && e.labels[0] && e.labels[0].innerText) || e.value || '').trim()"
            )
            offered[str(label)] = box
        missing = [s for s in scopes if s not in offered]
        if missing:
            raise InvalidConfig(f"the Dev Dashboard does not offer the scopes {','.join(missing)}")
        for label, box in offered.items():
            await box.set_checked(label in scopes)
        await clickable(picker, "Done").click()

    async def _release(self, flow: PageFlow) -> str:
        """Release the version; returns the app's home URL in the Dev Dashboard."""
        page = flow.page
        await page.get_by_role("button", name="Release", exact=True).click()
        dialog = page.get_by_role("dialog", name=re.compile("release", re.I))
        confirm = dialog.get_by_role("button", name="Release", exact=True)
        await flow.wait_for_any({"confirm": confirm})
        await flow.submit(confirm)
        state = await flow.wait_for_any(
            {"released": clickable(page, "Install app"), "error": page.get_by_role("alert")}
        )
        if state == "error":
            raise InvalidConfig(
                f"the Dev Dashboard refused the version: {await text_of(page.get_by_role('alert'))}"
            )
        return safe_url(page.url)

    async def _install(self, flow: PageFlow, login: StoreLogin, config: ShopifyConfig) -> None:
        page = flow.page
        await flow.submit(clickable(page, "Install app"))
        domain = host_pattern(config.store_url)
        store_row = (
            page.get_by_role("listitem").or_(page.get_by_role("row")).filter(has_text=domain)
        )
        picker = page.get_by_text(re.compile(r"select a store", re.I))
        state = await flow.wait_for_any({"store": store_row, "picker": picker})
        if state == "picker" and not await store_row.count():
            raise AgentError(
                f"the store {urlsplit(config.store_url).netloc} is not in the Dev "
                "Dashboard's organization (client-credentials only work for its own stores)",
                reason="StoreNotInOrganization",
                permanent=True,
            )
        await flow.submit(clickable(store_row.first, "Install"))
        permissions = page.get_by_role("dialog").get_by_role("button", name="Install", exact=True)
        installed = page.get_by_role("status").filter(has_text=re.compile(r"\binstalled\b", re.I))
        # The store admin may ask to sign in again (its own session).
        state = await sign_in(flow, login, {"permissions": permissions, "installed": installed})
        if state == "permissions":
            await flow.submit(permissions)
            await flow.wait_for_any({"installed": installed})

    async def _open_settings(self, flow: PageFlow, app_url: str) -> str:
        """Open the app's Settings page; returns the Client ID."""
        page = flow.page
        await flow.goto(app_url)
        settings = _app_link(page, "Settings")
        await flow.wait_for_any({"app": settings})
        await flow.submit(settings)
        client_id_field = field_labelled(page, "Client ID")
        await flow.wait_for_any({"settings": client_id_field})
        client_id = (await client_id_field.input_value()).strip()
        if not client_id:
            raise UnexpectedPage("the app's Settings page shows an empty Client ID")
        return client_id

    # -- Dev Dashboard: rotate ------------------------------------------------------------

    async def _rotate(
        self,
        flow: PageFlow,
        config: ShopifyConfig,
        login: StoreLogin,
        previous: Mapping[str, str],
    ) -> AgentResult:
        page = flow.page
        old_secret, old_client_id = previous.get("client_secret"), previous.get("client_id")
        if not old_secret or not old_client_id:
            raise InvalidConfig(
                "credential_rotation needs the client_id and client_secret of an earlier "
                "api_credential_generation in the result Secret"
            )
        app_name = previous.get("app_name") or config.app_name
        await flow.enter("sign_in", 5, "Signing in to the Dev Dashboard")
        await flow.goto(f"{config.dev_dashboard_url.rstrip('/')}/dashboard")
        await sign_in(flow, login, {"apps": _apps_heading(page)})

        await flow.enter("open_app", 20, f"Opening app {app_name}")
        app_url = previous.get("app_url") or ""
        if not app_url:
            link = page.get_by_role("link", name=app_name, exact=True)
            if not await link.count():
                raise AgentError(
                    f"no Dev Dashboard app named {app_name!r}", reason="AppNotFound", permanent=True
                )
            await flow.submit(link.first)
            await flow.wait_for_any({"app": _app_link(page, "Settings")})
            app_url = safe_url(page.url)
        client_id = await self._open_settings(flow, app_url)
        if client_id != old_client_id:
            raise AgentError(
                "the app's Client ID differs from the one on record",
                reason="AppNotFound",
                permanent=True,
            )

        await flow.enter("rotate_secret", 35, "Generating a new client secret")
        groups, current = await reveal_secrets(flow, "Client secret")
        plan = plan_rotation(current, old_secret)
        if plan.rotate:
            await clickable(page, "Rotate").click()
            dialog = page.get_by_role("dialog", name=re.compile("new client secret", re.I))
            generate = dialog.get_by_role("button", name="Generate", exact=True)
            await flow.wait_for_any({"confirm": generate})
            await flow.submit(generate)
            await flow.wait_for_any({"settings": field_labelled(page, "Client ID")})
            groups, current = await reveal_secrets(flow, "Client secret")
            plan = plan_rotation(current, old_secret)
        assert plan.keep is not None
        new_secret = plan.keep

        await flow.enter("request_token", 60, "Requesting an access token with the new secret")
        grant = await request_access_token(
            config.store_url, client_id, new_secret, timeout_seconds=config.timeout_seconds
        )

        if plan.revoke is not None:
            await flow.enter("revoke_old_secret", 80, "Revoking the old client secret")
            group = groups[current.index(plan.revoke)]
            await group.get_by_role("button", name="Revoke", exact=True).click()
            dialog = page.get_by_role("dialog", name=re.compile("revoke", re.I))
            confirm = dialog.get_by_role("button", name="Revoke", exact=True)
            await flow.wait_for_any({"confirm": confirm})
            await flow.submit(confirm)
            await flow.wait_for_any({"settings": field_labelled(page, "Client ID")})
            _, remaining = await reveal_secrets(flow, "Client secret")
            if plan.revoke in remaining:
                raise UnexpectedPage("the old client secret is still listed after revoking it")

        await flow.enter("done", 100, "Client secret rotated")
        return _result(
            config,
            client_id=client_id,
            client_secret=new_secret,
            grant=grant,
            app_url=app_url,
            app_name=app_name,
        )

    # -- legacy custom app in the store admin ------------------------------------------------

    async def _legacy(
        self, flow: PageFlow, config: ShopifyConfig, login: StoreLogin
    ) -> AgentResult:
        page = flow.page
        await flow.enter("sign_in", 5, "Signing in to the store admin")
        await flow.goto(f"{config.store_url.rstrip('/')}/admin")
        settings = page.get_by_role("link", name="Settings", exact=True)
        await sign_in(flow, login, {"admin": settings})

        await flow.enter("open_develop_apps", 15, "Opening Settings, Apps and sales channels")
        await flow.submit(settings)
        apps = clickable(page, "Apps and sales channels")
        await flow.wait_for_any({"settings": apps})
        await flow.submit(apps)
        develop = clickable(page, "Develop apps")
        await flow.wait_for_any({"apps": develop})
        await flow.submit(develop)
        create = page.get_by_role("button", name="Create an app", exact=True)
        allow = clickable(page, "Allow custom app development")
        if await flow.wait_for_any({"create": create, "allow": allow}) == "allow":
            await flow.submit(allow)
            confirm = page.get_by_role("button", name="Allow custom app development", exact=True)
            await flow.wait_for_any({"confirm": confirm})
            await flow.submit(confirm)
            await flow.wait_for_any({"create": create})
        if not await create.is_enabled():
            raise AgentError(
                "this store cannot create legacy custom apps (Shopify stopped allowing new "
                "ones on 1 January 2026); use flow dev_dashboard",
                reason="LegacyCustomAppsUnavailable",
                permanent=True,
            )

        await flow.enter("create_app", 30, f"Creating custom app {config.app_name}")
        await create.click()
        dialog = page.get_by_role("dialog", name=re.compile("create an app", re.I))
        name_field = field_labelled(dialog, "App name")
        await flow.wait_for_any({"dialog": name_field})
        await name_field.fill(config.app_name)
        await flow.submit(dialog.get_by_role("button", name="Create app", exact=True))
        configure = clickable(page, "Configure Admin API scopes")
        state = await flow.wait_for_any(
            {"app": configure, "error": page.get_by_role("dialog").get_by_role("alert")}
        )
        if state == "error":
            message = await text_of(page.get_by_role("dialog").get_by_role("alert"))
            raise AgentError(
                f"the store refused the app: {message}", reason="AppRejected", permanent=True
            )

        await flow.enter("configure_scopes", 45, f"Configuring scopes {','.join(config.scopes)}")
        await flow.submit(configure)
        boxes = page.get_by_role("checkbox")
        await flow.wait_for_any({"scopes": boxes})
        offered: dict[str, Locator] = {}
        for box in await boxes.all():
            label = await box.evaluate(
                "e => ((e.labels && e.labels[0] && e.labels[0].innerText) || e.value || '').trim()"
            )
            offered[str(label)] = box
        missing = [s for s in config.scopes if s not in offered]
        if missing:
            raise InvalidConfig(f"the store does not offer the scopes {','.join(missing)}")
        for label, box in offered.items():
            await box.set_checked(label in config.scopes)
        await flow.submit(page.get_by_role("button", name="Save", exact=True))
        credentials_tab = page.get_by_role("link", name="API credentials", exact=True)
        await flow.wait_for_any(
            {"saved": page.get_by_role("status").filter(has_text=re.compile("saved", re.I))}
        )

        await flow.enter("install_app", 65, "Installing the app")
        await flow.submit(credentials_tab)
        install = page.get_by_role("button", name="Install app", exact=True)
        reveal = clickable(page, "Reveal token once")
        if await flow.wait_for_any({"install": install, "reveal": reveal}) == "install":
            await install.click()
            confirm = page.get_by_role("dialog").get_by_role("button", name="Install", exact=True)
            await flow.wait_for_any({"confirm": confirm})
            await flow.submit(confirm)
            await flow.wait_for_any({"reveal": reveal})

        await flow.enter("reveal_token", 85, "Revealing the Admin API access token")
        await reveal.click()
        token = await flow.wait_for_value(
            field_labelled(page, "Admin API access token"),
            lambda v: not is_masked(v),
            what="the revealed access token",
        )
        await flow.enter("done", 100, "Access token created")
        return AgentResult(
            secret_data={
                "access_token": token,
                "scopes": ",".join(config.scopes),
                "app_name": config.app_name,
                "store_url": config.store_url,
                "flow": LEGACY_FLOW,
            },
            summary=f"legacy custom app {config.app_name}, scopes {','.join(config.scopes)}",
        )


def _apps_heading(page: Page) -> Locator:
    return page.get_by_role("heading", name="Apps", exact=True)


def _app_link(page: Page, name: str) -> Locator:
    return page.get_by_role("link", name=name, exact=True)

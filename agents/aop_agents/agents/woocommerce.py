"""WooCommerce: REST API keys created (and rotated) in the WordPress admin.

Flow: ``/wp-login.php`` → WooCommerce > Settings > Advanced > REST API
(``admin.php?page=wc-settings&tab=advanced&section=keys``) → ``&create-key=1`` → fill
``#key_description``, keep ``#key_user`` (the logged-in user), set ``#key_permissions`` →
``input#update_api_key`` (the page's script posts to ``admin-ajax.php``) → read the keys,
shown once, from ``#key_consumer_key`` / ``#key_consumer_secret``.

Credentials Secret (``spec.credentialsSecretRef``): ``username`` (WordPress user name or
email) and ``password`` of a user who may manage WooCommerce. A two-factor prompt after
the password is ``InteractiveLoginRequired``.

Result Secret keys: ``consumer_key``, ``consumer_secret``, ``key_id``, ``permissions``,
``description``, ``store_url``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urljoin, urlsplit

from playwright.async_api import Page

from aop_agents.agents.base import (
    Agent,
    AgentContext,
    AgentError,
    AgentResult,
    InteractiveLoginRequired,
    InvalidConfig,
    InvalidCredentials,
    UnexpectedPage,
)
from aop_agents.browser import (
    PageFlow,
    StoreLogin,
    coerce_config,
    run_with_page,
    text_of,
)
from aop_contracts.configs import WooCommerceConfig
from aop_contracts.models import SERVICE_OPERATIONS, OperationType, Service

log = logging.getLogger(__name__)

KEYS_PAGE = "wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys"
CONSUMER_KEY = re.compile(r"^ck_[0-9a-f]{40}$")
CONSUMER_SECRET = re.compile(r"^cs_[0-9a-f]{40}$")


# -- pure pieces (unit-tested) -------------------------------------------------------------


def classify_login_error(text: str) -> AgentError:
    """The typed error for the text of WordPress's ``#login_error`` box."""
    lowered = text.lower()
    if "cookies are blocked" in lowered:
        return UnexpectedPage("WordPress says the browser blocks cookies")
    if any(w in lowered for w in ("too many", "locked", "try again in", "temporarily")):
        return AgentError("WordPress is throttling logins; retry later", reason="LoginThrottled")
    # "incorrect password", "not registered", "empty", "invalid username", …: retrying the
    # same login would only risk a lockout.
    return InvalidCredentials("WordPress rejected the login (username or password)")


def key_id_from_href(href: str) -> str | None:
    """The key id in a ``…&revoke-key=ID&_wpnonce=…`` link."""
    values = parse_qs(urlsplit(href).query).get("revoke-key")
    return values[0] if values and values[0].isdigit() else None


def summarize(consumer_key: str, permissions: str) -> str:
    """``status.result.summary``: WooCommerce's own "ending in" form of the key."""
    return f"key …{consumer_key[-7:]}, permissions {permissions}"


def keys_url(store_url: str) -> str:
    return urljoin(store_url.rstrip("/") + "/", KEYS_PAGE)


# -- the agent ------------------------------------------------------------------------------


class WooCommerceAgent(Agent):
    """Creates REST API keys; rotation revokes the key on record, then creates a new one."""

    service = Service.WOOCOMMERCE
    operations = SERVICE_OPERATIONS[Service.WOOCOMMERCE]
    steps = ("sign_in", "revoke_old_key", "create_key", "read_key", "done")

    async def run(self, ctx: AgentContext) -> AgentResult:
        config = coerce_config(ctx.config, WooCommerceConfig)
        operation = OperationType(ctx.operation)
        if operation not in self.operations:
            raise AgentError(
                f"woocommerce has no operation {operation}",
                reason="UnknownService",
                permanent=True,
            )
        login = StoreLogin.from_credentials(ctx.credentials)
        old_key_id: str | None = None
        if operation is OperationType.CREDENTIAL_ROTATION:
            old_key_id = (ctx.previous_result or {}).get("key_id")
            if not old_key_id:
                raise InvalidConfig(
                    "credential_rotation needs the key_id of an earlier "
                    "api_credential_generation in the result Secret"
                )

        async def body(flow: PageFlow) -> AgentResult:
            await self._sign_in(flow, config, login)
            revoked = ""
            if old_key_id is not None:
                await flow.enter("revoke_old_key", 30, f"Revoking key {old_key_id}")
                found = await self._revoke(flow, config, old_key_id)
                revoked = f", revoked key {old_key_id}" if found else ""
            result = await self._create_key(flow, config)
            result.summary += revoked
            await flow.enter("done", 100, "API key ready")
            return result

        return await run_with_page(
            ctx,
            body,
            headless=config.headless,
            timeout_seconds=config.timeout_seconds,
            redact=(login.password,),
        )

    async def _sign_in(self, flow: PageFlow, config: WooCommerceConfig, login: StoreLogin) -> None:
        page = flow.page
        await flow.enter("sign_in", 10, "Signing in to WordPress")
        await flow.goto(urljoin(config.store_url.rstrip("/") + "/", "wp-login.php"))
        form = page.locator("#loginform #user_login")
        await flow.wait_for_any({"login": form})
        await page.locator("#user_login").fill(login.username)
        await flow.fill_secret(page.locator("#user_pass"), login.password)
        await flow.submit(page.locator("#wp-submit"))
        states = {
            # Two-factor plugins interpose their own form, often reusing id="loginform".
            "two_factor": page.locator(
                "#authcode, input[name=authcode], input[autocomplete=one-time-code], "
                "form[action*=validate_2fa], form[action*=two-factor]"
            ),
            "error": page.locator("#login_error"),
            "admin": page.locator("#wpadminbar"),
            "confirm_email": page.locator("#correct-admin-email"),
        }
        state = await flow.wait_for_any(states)
        if state == "confirm_email":
            # WordPress asks every six months whether the admin email is still right.
            await flow.submit(page.locator("#correct-admin-email"))
            state = await flow.wait_for_any(states)
        if state == "two_factor":
            raise InteractiveLoginRequired("WordPress asked for a two-factor code")
        if state == "error":
            raise classify_login_error(await text_of(page.locator("#login_error")))
        if state != "admin":
            raise UnexpectedPage(f"WordPress showed {state!r} after the login")

    async def _revoke(self, flow: PageFlow, config: WooCommerceConfig, key_id: str) -> bool:
        """Revoke key ``key_id``; False when it is already gone (an earlier attempt did it)."""
        page = flow.page
        await flow.goto(keys_url(config.store_url))
        while True:
            await self._wait_for_keys_list(flow)
            link = await self._revoke_link(page, key_id)
            if link is not None:
                break
            next_page = page.locator(".tablenav-pages a.next-page")
            if not await next_page.count():
                log.info("key %s is not listed any more; treating it as revoked", key_id)
                return False
            await flow.submit(next_page.first)
        await flow.goto(urljoin(page.url, link))
        await self._wait_for_keys_list(flow)
        if await self._revoke_link(page, key_id) is not None:
            raise UnexpectedPage(f"key {key_id} is still listed after revoking it")
        return True

    async def _wait_for_keys_list(self, flow: PageFlow) -> None:
        page = flow.page
        await flow.wait_for_any(
            {
                "keys": page.locator("table.wp-list-table"),
                "empty": page.locator(".woocommerce-BlankState"),
            }
        )

    async def _revoke_link(self, page: Page, key_id: str) -> str | None:
        for link in await page.locator("table.wp-list-table a[href*='revoke-key=']").all():
            href = await link.get_attribute("href") or ""
            if key_id_from_href(href) == key_id:
                return href
        return None

    async def _create_key(self, flow: PageFlow, config: WooCommerceConfig) -> AgentResult:
        page = flow.page
        await flow.enter("create_key", 50, "Generating a REST API key")
        await flow.goto(keys_url(config.store_url) + "&create-key=1")
        description = page.locator("#key-fields #key_description")
        await flow.wait_for_any({"form": description})
        await description.fill(config.description)
        # #key_user stays on its default: the logged-in user.
        await page.locator("#key_permissions").select_option(config.permissions)
        await page.locator("input#update_api_key").click()
        state = await flow.wait_for_any(
            {
                "created": page.locator("#key_consumer_key"),
                "error": page.locator("#key-fields .wc-api-message.error"),
            }
        )
        if state == "error":
            message = await text_of(page.locator("#key-fields .wc-api-message.error"))
            raise AgentError(
                f"WooCommerce refused the key: {message}", reason="KeyRejected", permanent=True
            )

        await flow.enter("read_key", 80, "Reading the new key")
        consumer_key = (await page.locator("#key_consumer_key").input_value()).strip()
        consumer_secret = (await page.locator("#key_consumer_secret").input_value()).strip()
        if not CONSUMER_KEY.match(consumer_key) or not CONSUMER_SECRET.match(consumer_secret):
            raise UnexpectedPage("the generated key does not look like a WooCommerce key")
        key_id = None
        for link in await page.locator("#key-fields a[href*='revoke-key=']").all():
            key_id = key_id_from_href(await link.get_attribute("href") or "")
            if key_id:
                break
        if key_id is None:
            # The secret is shown only once: never fail after reading it. The keys list
            # names the key by its last 7 characters, which is enough to find its id.
            key_id = await self._find_key_id(flow, config, consumer_key)
        return AgentResult(
            secret_data=_secret_data(config, consumer_key, consumer_secret, key_id or ""),
            summary=summarize(consumer_key, config.permissions),
        )

    async def _find_key_id(
        self, flow: PageFlow, config: WooCommerceConfig, consumer_key: str
    ) -> str | None:
        page = flow.page
        try:
            await flow.goto(keys_url(config.store_url))
            await self._wait_for_keys_list(flow)
            row = page.locator("table.wp-list-table tr").filter(has_text=consumer_key[-7:])
            link = row.locator("a[href*='revoke-key=']")
            if await link.count():
                return key_id_from_href(await link.first.get_attribute("href") or "")
        except AgentError:
            log.warning("could not look up the id of the new key", exc_info=True)
        return None


def _secret_data(
    config: WooCommerceConfig, consumer_key: str, consumer_secret: str, key_id: str
) -> dict[str, str]:
    return {
        "consumer_key": consumer_key,
        "consumer_secret": consumer_secret,
        "key_id": key_id,
        "permissions": config.permissions,
        "description": config.description,
        "store_url": config.store_url,
    }

"""The Shopify agent against the fake accounts/Dev Dashboard/store admin, in real Chromium."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from tests.sites.shopify import ClientSecret, ShopifySite

from aop_agents.agents.base import (
    AgentContext,
    AgentError,
    InteractiveLoginRequired,
    InvalidConfig,
    InvalidCredentials,
    StoreUnreachable,
    UnexpectedPage,
)
from aop_agents.agents.shopify import ShopifyAgent
from aop_agents.browser import artifacts_of
from aop_contracts.configs import ShopifyConfig
from aop_contracts.models import OperationType, Service

pytestmark = pytest.mark.integration

CREATE = OperationType.API_CREDENTIAL_GENERATION
ROTATE = OperationType.CREDENTIAL_ROTATION
REFRESH = OperationType.TOKEN_REFRESH


@pytest.fixture
def shop_ctx(make_ctx: Callable[..., AgentContext]) -> Callable[..., AgentContext]:
    """A context for ``site`` with its real login unless told otherwise."""

    def make(
        site: ShopifySite,
        operation: OperationType = CREATE,
        *,
        password: str | None = None,
        previous: dict[str, str] | None = None,
        without_browser: bool = False,
        **config: Any,
    ) -> AgentContext:
        config.setdefault("timeout_seconds", 10)
        config.setdefault("store_url", site.store_url)
        config.setdefault("dev_dashboard_url", site.dev_dashboard_url)
        return make_ctx(
            Service.SHOPIFY,
            operation,
            ShopifyConfig(**config),
            {"username": site.email, "password": password or site.password},
            previous=previous,
            without_browser=without_browser,
        )

    return make


async def _shop_api(site: ShopifySite, token: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{site.store_url}/admin/api/2026-01/shop.json",
            headers={"X-Shopify-Access-Token": token},
        ) as response,
    ):
        return response.status


async def test_dev_dashboard_returns_exactly_what_the_site_issued(
    shopify_site: ShopifySite,
    shop_ctx: Callable[..., AgentContext],
    progress_of: Callable[[AgentContext], Any],
) -> None:
    ctx = shop_ctx(shopify_site, app_name="erp-sync", scopes=["read_products", "write_orders"])
    result = await ShopifyAgent().run(ctx)

    [app] = shopify_site.apps.values()
    [secret] = app.active_secrets
    token = shopify_site.tokens[-1]
    data = result.secret_data
    assert app.name == "erp-sync"
    assert app.active_version is not None
    assert app.active_version.scopes == ["read_products", "write_orders"]
    assert app.installs == {shopify_site.store_domain: ["read_products", "write_orders"]}
    assert data["client_id"] == app.client_id
    assert data["client_secret"] == secret.value and secret.value.startswith("shpss_")
    assert secret.reveals >= 1  # read by revealing it, as a person would
    assert data["access_token"] == token.token and token.token.startswith("shpat_")
    assert token.client_id == app.client_id and token.expires_at is not None
    expires = datetime.fromisoformat(data["access_token_expires_at"])
    assert abs(expires - token.expires_at) < timedelta(seconds=5)
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    assert data["scopes"] == "read_products,write_orders"
    assert data["app_url"].startswith(shopify_site.dev_dashboard_url)
    assert result.summary == (
        f"app erp-sync, scopes read_products,write_orders, client id …{app.client_id[-4:]}"
    )
    assert secret.value not in result.summary and token.token not in result.summary
    assert await _shop_api(shopify_site, data["access_token"]) == 200
    progress = progress_of(ctx)
    assert progress.steps == [
        "sign_in",
        "create_app",
        "select_scopes",
        "release_version",
        "install_app",
        "read_credentials",
        "request_token",
        "done",
    ]
    assert progress.percents == sorted(progress.percents)


async def test_retry_reuses_the_app_an_earlier_attempt_created(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    first = await ShopifyAgent().run(shop_ctx(shopify_site))
    second = await ShopifyAgent().run(shop_ctx(shopify_site))
    assert len(shopify_site.apps) == 1
    assert second.secret_data["client_id"] == first.secret_data["client_id"]


async def test_single_origin_site_works_too(
    make_shopify_site: Callable[..., Awaitable[ShopifySite]],
    shop_ctx: Callable[..., AgentContext],
) -> None:
    site = await make_shopify_site(single_origin=True)
    assert site.store_url == site.dev_dashboard_url
    result = await ShopifyAgent().run(shop_ctx(site))
    assert result.secret_data["access_token"] == site.tokens[-1].token


async def test_legacy_flow_reveals_the_token_once(
    make_shopify_site: Callable[..., Awaitable[ShopifySite]],
    shop_ctx: Callable[..., AgentContext],
) -> None:
    site = await make_shopify_site(allow_legacy_custom_apps=True)
    result = await ShopifyAgent().run(
        shop_ctx(site, flow="legacy_admin", app_name="legacy-sync", scopes=["read_orders"])
    )
    [app] = site.legacy_apps.values()
    assert site.custom_app_development_enabled  # "Allow custom app development" was clicked
    assert app.name == "legacy-sync" and app.scopes == ["read_orders"] and app.installed
    assert result.secret_data["access_token"] == app.access_token
    assert app.access_token is not None and app.access_token.startswith("shpat_")
    assert app.token_revealed_at is not None
    assert result.secret_data["scopes"] == "read_orders"
    assert result.secret_data["flow"] == "legacy_admin"
    assert "access_token_expires_at" not in result.secret_data
    assert await _shop_api(site, app.access_token) == 200
    # Custom app names are unique in a store: running again with the same name is refused.
    with pytest.raises(AgentError) as caught:
        await ShopifyAgent().run(
            shop_ctx(site, flow="legacy_admin", app_name="legacy-sync", scopes=["read_orders"])
        )
    assert caught.value.reason == "AppRejected" and caught.value.permanent


async def test_legacy_flow_blocked_since_2026_is_permanent(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    with pytest.raises(AgentError) as caught:
        await ShopifyAgent().run(shop_ctx(shopify_site, flow="legacy_admin"))
    assert caught.value.reason == "LegacyCustomAppsUnavailable"
    assert caught.value.permanent
    assert "dev_dashboard" in str(caught.value)
    assert not shopify_site.legacy_apps


async def test_rotation_revokes_the_old_secret(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    first = await ShopifyAgent().run(shop_ctx(shopify_site))
    second = await ShopifyAgent().run(shop_ctx(shopify_site, ROTATE, previous=first.secret_data))

    [app] = shopify_site.apps.values()
    old = next(s for s in app.secrets if s.value == first.secret_data["client_secret"])
    new = next(s for s in app.secrets if s.value == second.secret_data["client_secret"])
    assert old.revoked and not new.revoked and old is not new
    assert app.active_secrets == [new]
    assert second.secret_data["client_id"] == first.secret_data["client_id"]
    assert second.secret_data["access_token"] == shopify_site.tokens[-1].token
    assert second.secret_data["access_token"] != first.secret_data["access_token"]
    # The old secret no longer gets tokens.
    with pytest.raises(InvalidCredentials):
        await ShopifyAgent().run(
            shop_ctx(shopify_site, REFRESH, previous=first.secret_data, without_browser=True)
        )


async def test_rotation_resumes_after_a_partial_attempt(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    first = await ShopifyAgent().run(shop_ctx(shopify_site))
    [app] = shopify_site.apps.values()
    # An earlier attempt generated a secret, then died before revoking the old one.
    app.secrets.append(ClientSecret(99999, "shpss_" + "a" * 32, datetime.now(UTC)))
    second = await ShopifyAgent().run(shop_ctx(shopify_site, ROTATE, previous=first.secret_data))
    assert second.secret_data["client_secret"] == "shpss_" + "a" * 32
    assert [s.value for s in app.active_secrets] == ["shpss_" + "a" * 32]


async def test_token_refresh_needs_no_browser(
    shopify_site: ShopifySite,
    shop_ctx: Callable[..., AgentContext],
    progress_of: Callable[[AgentContext], Any],
) -> None:
    agent = ShopifyAgent()
    assert not agent.uses_browser(REFRESH) and agent.uses_browser(CREATE)
    first = await agent.run(shop_ctx(shopify_site))
    ctx = shop_ctx(shopify_site, REFRESH, previous=first.secret_data, without_browser=True)
    refreshed = await agent.run(ctx)
    token = shopify_site.tokens[-1]
    assert refreshed.secret_data["access_token"] == token.token != first.secret_data["access_token"]
    assert refreshed.secret_data["client_secret"] == first.secret_data["client_secret"]
    assert datetime.fromisoformat(refreshed.secret_data["access_token_expires_at"]) > datetime.now(
        UTC
    ) + timedelta(hours=23)
    assert token.token not in refreshed.summary
    assert progress_of(ctx).steps == ["request_token", "done"]
    assert await _shop_api(shopify_site, token.token) == 200


async def test_token_refresh_without_a_previous_result_is_invalid_config(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    with pytest.raises(InvalidConfig):
        await ShopifyAgent().run(shop_ctx(shopify_site, REFRESH, without_browser=True))


async def test_wrong_password_is_invalid_credentials(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        await ShopifyAgent().run(shop_ctx(shopify_site, password="hunter2-wrong"))
    assert caught.value.permanent
    assert "hunter2-wrong" not in str(caught.value)
    assert not shopify_site.apps


async def test_two_step_prompt_is_interactive_login_required(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    shopify_site.failures.two_factor = True
    with pytest.raises(InteractiveLoginRequired):
        await ShopifyAgent().run(shop_ctx(shopify_site))


async def test_503_twice_is_transient_then_succeeds(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    shopify_site.failures.unavailable_first = 2
    for _ in range(2):
        with pytest.raises(AgentError) as caught:
            await ShopifyAgent().run(shop_ctx(shopify_site))
        assert caught.value.reason == "StoreUnavailable" and not caught.value.permanent
    result = await ShopifyAgent().run(shop_ctx(shopify_site))
    assert result.secret_data["access_token"] == shopify_site.tokens[-1].token


async def test_slow_settings_page_within_the_timeout_succeeds(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    shopify_site.failures.slow_seconds = 1.5
    result = await ShopifyAgent().run(shop_ctx(shopify_site, timeout_seconds=6))
    assert result.secret_data["client_id"] == next(iter(shopify_site.apps.values())).client_id


async def test_changed_layout_is_unexpected_page_with_artifacts(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext]
) -> None:
    shopify_site.failures.changed_layout = True
    with pytest.raises(UnexpectedPage) as caught:
        await ShopifyAgent().run(shop_ctx(shopify_site, timeout_seconds=3))
    assert not caught.value.permanent and "create_app" in str(caught.value)
    artifacts = artifacts_of(caught.value)
    assert artifacts is not None
    assert (artifacts / "page-0.png").exists()
    html = (artifacts / "page-0.html").read_text()
    assert "New app" in html and shopify_site.password not in html


async def test_unreachable_dev_dashboard_is_store_unreachable(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext], unused_port: int
) -> None:
    with pytest.raises(StoreUnreachable):
        await ShopifyAgent().run(
            shop_ctx(shopify_site, dev_dashboard_url=f"http://127.0.0.1:{unused_port}")
        )


async def test_unreachable_store_token_endpoint_is_store_unreachable(
    shopify_site: ShopifySite, shop_ctx: Callable[..., AgentContext], unused_port: int
) -> None:
    previous = {"client_id": "abc", "client_secret": "shpss_" + "b" * 32}
    with pytest.raises(StoreUnreachable):
        await ShopifyAgent().run(
            shop_ctx(
                shopify_site,
                REFRESH,
                previous=previous,
                without_browser=True,
                store_url=f"http://127.0.0.1:{unused_port}",
            )
        )

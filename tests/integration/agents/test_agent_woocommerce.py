"""The WooCommerce agent against the fake WordPress admin, in real Chromium."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from tests.sites.woocommerce import WooCommerceSite

from aop_agents.agents.base import (
    AgentContext,
    AgentError,
    InteractiveLoginRequired,
    InvalidCredentials,
    StoreTimeout,
    StoreUnreachable,
    UnexpectedPage,
)
from aop_agents.agents.woocommerce import WooCommerceAgent
from aop_agents.browser import artifacts_of
from aop_contracts.configs import WooCommerceConfig
from aop_contracts.models import OperationType, Service

pytestmark = pytest.mark.integration

CREATE = OperationType.API_CREDENTIAL_GENERATION
ROTATE = OperationType.CREDENTIAL_ROTATION


@pytest.fixture
def woo_ctx(make_ctx: Callable[..., AgentContext]) -> Callable[..., AgentContext]:
    """A context for ``site`` with its real login unless told otherwise."""

    def make(
        site: WooCommerceSite,
        operation: OperationType = CREATE,
        *,
        password: str | None = None,
        previous: dict[str, str] | None = None,
        **config: Any,
    ) -> AgentContext:
        config.setdefault("timeout_seconds", 10)
        return make_ctx(
            Service.WOOCOMMERCE,
            operation,
            WooCommerceConfig(store_url=site.url, **config),
            {"username": site.username, "password": password or site.password},
            previous=previous,
        )

    return make


async def _rest_status(site: WooCommerceSite, key: str, secret: str) -> int:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{site.url}/wp-json/wc/v3/system_status", headers={"Authorization": f"Basic {token}"}
        ) as response,
    ):
        return response.status


async def test_create_returns_exactly_the_issued_key(
    woo_site: WooCommerceSite,
    woo_ctx: Callable[..., AgentContext],
    progress_of: Callable[[AgentContext], Any],
) -> None:
    ctx = woo_ctx(woo_site, permissions="read", description="erp sync")
    result = await WooCommerceAgent().run(ctx)

    [issued] = woo_site.keys.values()
    assert result.secret_data["consumer_key"] == issued.consumer_key
    assert result.secret_data["consumer_secret"] == issued.consumer_secret
    assert result.secret_data["key_id"] == str(issued.key_id)
    assert result.secret_data["permissions"] == issued.permissions == "read"
    assert issued.description == "erp sync"
    assert issued.user_id == 1  # #key_user left on the logged-in user
    assert result.summary == f"key …{issued.consumer_key[-7:]}, permissions read"
    assert issued.consumer_secret not in result.summary
    assert await _rest_status(woo_site, issued.consumer_key, issued.consumer_secret) == 200
    progress = progress_of(ctx)
    assert progress.steps == ["sign_in", "create_key", "read_key", "done"]
    assert progress.percents == sorted(progress.percents) and progress.percents[-1] == 100
    # The button posted through admin-ajax.php, as the real page's script does.
    assert any(r.startswith("POST /wp-admin/admin-ajax.php") for r in woo_site.failures.requests)


async def test_rotation_revokes_the_old_key_and_creates_a_new_one(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    first = await WooCommerceAgent().run(woo_ctx(woo_site))
    second = await WooCommerceAgent().run(woo_ctx(woo_site, ROTATE, previous=first.secret_data))

    old = woo_site.keys[int(first.secret_data["key_id"])]
    new = woo_site.keys[int(second.secret_data["key_id"])]
    assert old.revoked and not new.revoked
    assert second.secret_data["consumer_key"] == new.consumer_key != old.consumer_key
    assert second.secret_data["consumer_secret"] == new.consumer_secret
    assert f"revoked key {old.key_id}" in second.summary
    assert await _rest_status(woo_site, old.consumer_key, old.consumer_secret) == 401
    assert await _rest_status(woo_site, new.consumer_key, new.consumer_secret) == 200


async def test_rotation_after_the_old_key_is_already_gone(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    # A retried rotation whose first attempt revoked the key but failed afterwards.
    first = await WooCommerceAgent().run(woo_ctx(woo_site))
    woo_site.keys[int(first.secret_data["key_id"])].revoked_at = datetime.now(UTC)
    second = await WooCommerceAgent().run(woo_ctx(woo_site, ROTATE, previous=first.secret_data))
    assert len(woo_site.active_keys) == 1
    assert woo_site.active_keys[0].consumer_key == second.secret_data["consumer_key"]
    assert "revoked" not in second.summary


async def test_admin_email_confirmation_screen_is_passed(
    make_woo_site: Callable[..., Awaitable[WooCommerceSite]],
    woo_ctx: Callable[..., AgentContext],
) -> None:
    site = await make_woo_site(admin_email_check=True)
    result = await WooCommerceAgent().run(woo_ctx(site))
    assert result.secret_data["consumer_key"] == site.active_keys[0].consumer_key


async def test_wrong_password_is_invalid_credentials(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        await WooCommerceAgent().run(woo_ctx(woo_site, password="not-the-password"))
    assert caught.value.permanent
    assert "not-the-password" not in str(caught.value)
    assert not woo_site.keys


async def test_changed_store_password_is_invalid_credentials(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    woo_site.failures.wrong_password = True
    with pytest.raises(InvalidCredentials):
        await WooCommerceAgent().run(woo_ctx(woo_site))


async def test_two_factor_prompt_is_interactive_login_required(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    woo_site.failures.two_factor = True
    with pytest.raises(InteractiveLoginRequired) as caught:
        await WooCommerceAgent().run(woo_ctx(woo_site))
    assert caught.value.permanent
    assert not woo_site.keys


async def test_503_twice_is_transient_then_succeeds(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    woo_site.failures.unavailable_first = 2
    for _ in range(2):
        with pytest.raises(AgentError) as caught:
            await WooCommerceAgent().run(woo_ctx(woo_site))
        assert caught.value.reason == "StoreUnavailable"
        assert not caught.value.permanent
    result = await WooCommerceAgent().run(woo_ctx(woo_site))
    assert result.secret_data["consumer_key"] == woo_site.active_keys[0].consumer_key


async def test_slow_page_within_the_timeout_succeeds(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    woo_site.failures.slow_seconds = 1.5
    started = time.monotonic()
    result = await WooCommerceAgent().run(woo_ctx(woo_site, timeout_seconds=6))
    assert time.monotonic() - started >= 1.5
    assert result.secret_data["consumer_key"] == woo_site.active_keys[0].consumer_key


async def test_slow_page_beyond_the_timeout_is_store_timeout(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    woo_site.failures.slow_seconds = 4
    with pytest.raises(StoreTimeout) as caught:
        await WooCommerceAgent().run(woo_ctx(woo_site, timeout_seconds=1.5))
    assert not caught.value.permanent
    assert "create_key" in str(caught.value)


async def test_changed_layout_is_unexpected_page_with_artifacts(
    woo_site: WooCommerceSite, woo_ctx: Callable[..., AgentContext]
) -> None:
    woo_site.failures.changed_layout = True
    with pytest.raises(UnexpectedPage) as caught:
        await WooCommerceAgent().run(woo_ctx(woo_site, timeout_seconds=3))
    assert not caught.value.permanent
    assert "create_key" in str(caught.value)
    artifacts = artifacts_of(caught.value)
    assert artifacts is not None and artifacts.is_dir()
    html = (artifacts / "page-0.html").read_text()
    assert 'id="api_key_description"' in html  # the page as the agent saw it
    assert woo_site.password not in html
    assert (artifacts / "page-0.png").stat().st_size > 1000
    assert "UnexpectedPage" in (artifacts / "error.txt").read_text()


async def test_unreachable_store_is_store_unreachable(
    woo_ctx: Callable[..., AgentContext], unused_port: int
) -> None:
    site = WooCommerceSite(port=unused_port)  # never started: nothing listens there
    with pytest.raises(StoreUnreachable) as caught:
        await WooCommerceAgent().run(woo_ctx(site))
    assert not caught.value.permanent
    assert "ERR_CONNECTION_REFUSED" in str(caught.value)

"""Fixtures for running the agents directly: a real Chromium pool and the fake stores.

Each test gets fresh sites on free loopback ports (stopped at teardown); the browser pool
is shared by the session, as a worker shares it between jobs.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aop_agents.agents.base import AgentContext
from aop_agents.browser import DEFAULT_CHROMIUM_PATH, BrowserPool, BrowserSettings
from aop_contracts.models import OperationType, Service

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # the sites live in tests/sites, outside the source roots
    sys.path.insert(0, str(ROOT))

from tests.sites.shopify import ShopifySite  # noqa: E402
from tests.sites.woocommerce import WooCommerceSite  # noqa: E402


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary the pool drives; skips the browser tests when it is missing."""
    path = os.environ.get("AOP_CHROMIUM_PATH", DEFAULT_CHROMIUM_PATH)
    if not os.access(path, os.X_OK):
        pytest.skip(f"Chromium binary {path} not found (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
async def browser_pool(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BrowserPool]:
    """One pool for the session, like a worker process's."""
    pool = BrowserPool(
        settings=BrowserSettings(
            executable_path=chromium_path, artifacts_dir=tmp_path_factory.mktemp("artifacts")
        )
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def make_pool(
    chromium_path: str, tmp_path: Path
) -> AsyncIterator[Callable[..., BrowserPool]]:
    """Pools of a test's own (crash, artifact cap), closed at teardown."""
    pools: list[BrowserPool] = []

    def make(**settings: Any) -> BrowserPool:
        settings.setdefault("executable_path", chromium_path)
        settings.setdefault("artifacts_dir", tmp_path / "artifacts")
        pool = BrowserPool(settings=BrowserSettings(**settings))
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


@pytest.fixture
async def make_shopify_site() -> AsyncIterator[Callable[..., Awaitable[ShopifySite]]]:
    """Start Shopify sites with the given options; all stopped at teardown."""
    sites: list[ShopifySite] = []

    async def make(**options: Any) -> ShopifySite:
        site = await ShopifySite(**options).start()
        sites.append(site)
        return site

    yield make
    for site in sites:
        await site.stop()


@pytest.fixture
async def shopify_site(make_shopify_site: Callable[..., Awaitable[ShopifySite]]) -> ShopifySite:
    return await make_shopify_site()


@pytest.fixture
async def make_woo_site() -> AsyncIterator[Callable[..., Awaitable[WooCommerceSite]]]:
    sites: list[WooCommerceSite] = []

    async def make(**options: Any) -> WooCommerceSite:
        site = await WooCommerceSite(**options).start()
        sites.append(site)
        return site

    yield make
    for site in sites:
        await site.stop()


@pytest.fixture
async def woo_site(make_woo_site: Callable[..., Awaitable[WooCommerceSite]]) -> WooCommerceSite:
    return await make_woo_site()


@dataclass
class ProgressRecorder:
    """Stands in for the worker's progress reporter."""

    events: list[tuple[int, str, str]] = field(default_factory=list)

    async def __call__(self, percent: int, message: str, step: str) -> None:
        self.events.append((percent, message, step))

    @property
    def steps(self) -> list[str]:
        return [step for _, _, step in self.events]

    @property
    def percents(self) -> list[int]:
        return [percent for percent, _, _ in self.events]


CtxFactory = Callable[..., AgentContext]


@pytest.fixture
def make_ctx(browser_pool: BrowserPool) -> CtxFactory:
    """Build the ``AgentContext`` a worker would (with a fresh progress recorder)."""

    def make(
        service: Service,
        operation: OperationType,
        config: BaseModel,
        credentials: Mapping[str, str],
        *,
        previous: Mapping[str, str] | None = None,
        pool: BrowserPool | None = None,
        without_browser: bool = False,
        label: str = "test-ns/test-op",
    ) -> AgentContext:
        return AgentContext(
            service=service,
            operation=operation,
            config=config,
            credentials=dict(credentials),
            previous_result=dict(previous) if previous is not None else None,
            progress=ProgressRecorder(),
            browser=None if without_browser else (pool or browser_pool),
            label=label,
        )

    return make


def recorder(ctx: AgentContext) -> ProgressRecorder:
    assert isinstance(ctx.progress, ProgressRecorder)
    return ctx.progress


@pytest.fixture
def progress_of() -> Callable[[AgentContext], ProgressRecorder]:
    return recorder

"""Fixtures for the agents driven through the whole product: the fake stores, served from a
thread of their own, and an operator plus a browser-capable worker.

The stores are served from a background thread (``live_sites``) because the tests are
synchronous: they poll the API server with kubectl while the real processes work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_manifests import consent, queue
from live_sites import LiveSite, SiteLoop

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # the sites live in tests/sites, outside the source roots
    sys.path.insert(0, str(ROOT))

from tests.sites.shopify import ShopifySite  # noqa: E402
from tests.sites.woocommerce import WooCommerceSite  # noqa: E402


@pytest.fixture(scope="session")
def site_loop() -> Iterator[SiteLoop]:
    loop = SiteLoop()
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def make_shopify_site(site_loop: SiteLoop) -> Iterator[Callable[..., LiveSite[ShopifySite]]]:
    """Start fake Shopify sites (accounts, Dev Dashboard, store) with the given options."""
    sites: list[LiveSite[ShopifySite]] = []

    def make(**options: Any) -> LiveSite[ShopifySite]:
        live = LiveSite(site_loop.run(ShopifySite(**options).start()), site_loop)
        sites.append(live)
        return live

    yield make
    for live in sites:
        site_loop.run(live.site.stop())


@pytest.fixture
def shopify(make_shopify_site: Callable[..., LiveSite[ShopifySite]]) -> LiveSite[ShopifySite]:
    return make_shopify_site()


@pytest.fixture
def make_woo_site(site_loop: SiteLoop) -> Iterator[Callable[..., LiveSite[WooCommerceSite]]]:
    """Start fake WordPress + WooCommerce stores with the given options."""
    sites: list[LiveSite[WooCommerceSite]] = []

    def make(**options: Any) -> LiveSite[WooCommerceSite]:
        live = LiveSite(site_loop.run(WooCommerceSite(**options).start()), site_loop)
        sites.append(live)
        return live

    yield make
    for live in sites:
        site_loop.run(live.site.stop())


@pytest.fixture
def woo(make_woo_site: Callable[..., LiveSite[WooCommerceSite]]) -> LiveSite[WooCommerceSite]:
    return make_woo_site()


@pytest.fixture
def browser_env(chromium: str, tmp_path: Path) -> dict[str, str]:
    """What a worker needs to drive Chromium here: the real binary and an artifacts folder."""
    return {"AOP_CHROMIUM_PATH": chromium, "AOP_ARTIFACTS_DIR": str(tmp_path / "artifacts")}


@pytest.fixture
def stack(procs: Any, kube: Any, browser_env: dict[str, str]) -> Callable[..., tuple[Any, Any]]:
    """``stack(concurrency=2)``: the default queue, the acme consent for both stores, the
    operator and one browser-capable worker; returns the (operator, worker) processes."""

    def start(concurrency: int = 2) -> tuple[Any, Any]:
        kube.apply(queue(), consent())
        operator = procs.operator()
        worker = procs.worker("default", concurrency, **browser_env)
        return operator, worker

    return start

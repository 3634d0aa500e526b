"""BrowserPool on the real Chromium: isolation, crash recovery, artifacts, fallbacks."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.sites.woocommerce import WooCommerceSite

from aop_agents.agents.base import AgentContext
from aop_agents.agents.woocommerce import WooCommerceAgent
from aop_agents.browser import BrowserPool, BrowserUnavailable, artifacts_of
from aop_contracts.configs import WooCommerceConfig
from aop_contracts.models import OperationType, Service

pytestmark = pytest.mark.integration


def _chromium_main_pids(executable: str) -> set[int]:
    """Browser (not renderer/GPU) processes of this Chromium that descend from this test."""
    me = os.getpid()
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == me:
                return True
        return False

    return {
        pid
        for pid, cmd in commands.items()
        if cmd.startswith(executable) and "--type=" not in cmd and descends(pid)
    }


async def test_contexts_are_isolated_and_closed(
    browser_pool: BrowserPool, woo_site: WooCommerceSite
) -> None:
    """Two jobs at the same time in one pool: one signs in, the other sees no cookie."""
    signed_in = asyncio.Event()
    seen: dict[str, Any] = {}

    async def first() -> None:
        async with browser_pool.context(label="t/first") as page:
            await page.goto(f"{woo_site.url}/wp-login.php")
            await page.fill("#user_login", woo_site.username)
            await page.fill("#user_pass", woo_site.password)
            await page.click("#wp-submit")
            await page.wait_for_selector("#wpadminbar")
            seen["first_cookies"] = {c["name"] for c in await page.context.cookies()}
            signed_in.set()
            await asyncio.wait_for(seen_second.wait(), 10)
            seen["first_page"] = page

    seen_second = asyncio.Event()

    async def second() -> None:
        async with browser_pool.context(label="t/second") as page:
            await asyncio.wait_for(signed_in.wait(), 10)
            await page.goto(f"{woo_site.url}/wp-admin/")
            seen["second_url"] = page.url
            seen["second_cookies"] = {c["name"] for c in await page.context.cookies()}
            seen_second.set()

    await asyncio.gather(first(), second())
    assert woo_site.sessions.cookie in seen["first_cookies"]
    assert woo_site.sessions.cookie not in seen["second_cookies"]
    assert "/wp-login.php" in seen["second_url"]  # sent to log in: no shared session
    assert seen["first_page"].is_closed()  # the context was closed on exit


async def test_two_agent_jobs_at_once_share_no_cookies(
    browser_pool: BrowserPool,
    make_woo_site: Callable[..., Awaitable[WooCommerceSite]],
    make_ctx: Callable[..., AgentContext],
) -> None:
    site = await make_woo_site()

    def ctx(description: str) -> AgentContext:
        return make_ctx(
            Service.WOOCOMMERCE,
            OperationType.API_CREDENTIAL_GENERATION,
            WooCommerceConfig(store_url=site.url, description=description, timeout_seconds=15),
            {"username": site.username, "password": site.password},
        )

    a, b = await asyncio.gather(
        WooCommerceAgent().run(ctx("job a")), WooCommerceAgent().run(ctx("job b"))
    )
    assert {a.secret_data["consumer_key"], b.secret_data["consumer_key"]} == {
        k.consumer_key for k in site.keys.values()
    }
    # Each job signed in for itself: two logins, two server-side sessions.
    assert sum(r.startswith("POST /wp-login.php") for r in site.failures.requests) == 2
    assert len(site.sessions.data) == 2


async def test_relaunches_chromium_after_it_crashed(
    make_pool: Callable[..., BrowserPool], chromium_path: str
) -> None:
    before = _chromium_main_pids(chromium_path)
    pool = make_pool()
    gone = asyncio.Event()
    async with pool.context(label="t/crash") as page:
        await page.set_content("<p>alive</p>")
        browser = page.context.browser
        assert browser is not None
        browser.on("disconnected", lambda _: gone.set())
    assert pool.launches == 1 and pool.connected
    [pid] = _chromium_main_pids(chromium_path) - before
    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(gone.wait(), 10)
    assert not pool.connected
    async with pool.context(label="t/after-crash") as page:
        await page.set_content("<p>alive again</p>")
        assert await page.inner_text("p") == "alive again"
    assert pool.launches == 2


async def test_failure_artifacts_are_redacted_and_capped(
    make_pool: Callable[..., BrowserPool], tmp_path: Path
) -> None:
    artifacts = tmp_path / "capped"
    pool = make_pool(artifacts_dir=artifacts, artifacts_max_bytes=1)
    secret = "shpat_" + "f" * 32
    password = "my store password 123"
    made: list[Path] = []
    for attempt in range(2):
        with pytest.raises(RuntimeError) as caught:
            async with pool.context(label="ns/job", redact=[password]) as page:
                await page.set_content(
                    f'<p id="token">{secret}</p><input id="pw" value="{password}">'
                    f'<input type="password" id="pass"><p>{password}</p>'
                )
                await page.fill("#pass", password)
                raise RuntimeError(f"boom {attempt}")
        path = artifacts_of(caught.value)
        assert path is not None and path.is_dir() and path.parent == artifacts
        assert any("browser artifacts" in note for note in caught.value.__notes__)
        html = (path / "page-0.html").read_text()
        assert secret not in html and password not in html and "[redacted]" in html
        assert (path / "page-0.png").stat().st_size > 0
        assert "boom" in (path / "error.txt").read_text()
        made.append(path)
    # The cap is tiny: the older failure was deleted, the newest is always kept.
    assert not made[0].exists() and made[1].exists()
    assert [p.name for p in artifacts.iterdir()] == [made[1].name]


async def test_headed_request_without_display_runs_headless(
    make_pool: Callable[..., BrowserPool],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    pool = make_pool()
    with caplog.at_level(logging.INFO, logger="aop_agents.browser"):
        async with pool.context(headless=False, label="t/headed") as page:
            await page.set_content("<p>ok</p>")
    assert any("no display" in r.getMessage() for r in caplog.records)


async def test_missing_chromium_is_browser_unavailable(
    make_pool: Callable[..., BrowserPool],
) -> None:
    pool = make_pool(executable_path="/nonexistent/chromium")
    with pytest.raises(BrowserUnavailable) as caught:
        async with pool.context(label="t/missing"):
            pass
    assert not caught.value.permanent
    assert "/nonexistent/chromium" in str(caught.value)

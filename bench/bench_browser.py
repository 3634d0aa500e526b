"""Browser benchmarks: what a job pays for its browser, and each agent's happy path.

- ``context_shared_browser``: a fresh context + page in the worker's already running
  Chromium, closed again (what every job pays with ``BrowserPool``);
- ``launch_per_job``: launching Chromium, opening a context + page, closing it all (what
  every job would pay without the pool);
- ``agent_*``: one agent run against a fresh test site, in the shared browser.

Prints a table (median and worst of N runs, in milliseconds) and writes JSON to
``bench/results/browser.json``. Run: ``uv run python bench/bench_browser.py --runs 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the test sites live in tests/sites
    sys.path.insert(0, str(ROOT))

from tests.sites.shopify import ShopifySite  # noqa: E402
from tests.sites.woocommerce import WooCommerceSite  # noqa: E402

from aop_agents.agents.base import AgentContext, AgentResult  # noqa: E402
from aop_agents.agents.shopify import ShopifyAgent  # noqa: E402
from aop_agents.agents.woocommerce import WooCommerceAgent  # noqa: E402
from aop_agents.browser import (  # noqa: E402
    CHROMIUM_ARGS,
    DEFAULT_CHROMIUM_PATH,
    BrowserPool,
    BrowserSettings,
)
from aop_contracts.configs import ShopifyConfig, WooCommerceConfig  # noqa: E402
from aop_contracts.models import OperationType, Service  # noqa: E402

log = logging.getLogger("bench.browser")

DEFAULT_OUT = ROOT / "bench" / "results" / "browser.json"


async def _no_progress(percent: int, message: str, step: str) -> None:
    return None


async def _timed(runs: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await once()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def _time_once(run: Awaitable[object]) -> float:
    started = time.perf_counter()
    await run
    return (time.perf_counter() - started) * 1000


async def bench_context_shared(pool: BrowserPool, runs: int) -> list[float]:
    async def once() -> None:
        async with pool.context(label="bench/context"):
            pass

    return await _timed(runs, once)


async def bench_launch_per_job(chromium: str, runs: int) -> list[float]:
    async with async_playwright() as playwright:

        async def once() -> None:
            browser = await playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--headless", *CHROMIUM_ARGS]
            )
            context = await browser.new_context()
            await context.new_page()
            await context.close()
            await browser.close()

        return await _timed(runs, once)


def _context(
    pool: BrowserPool,
    service: Service,
    operation: OperationType,
    config: Any,
    credentials: dict[str, str],
    previous: dict[str, str] | None = None,
) -> AgentContext:
    return AgentContext(
        service=service,
        operation=operation,
        config=config,
        credentials=credentials,
        previous_result=previous,
        progress=_no_progress,
        browser=pool,
        label="bench/agent",
    )


async def bench_woocommerce(pool: BrowserPool, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        async with WooCommerceSite() as site:
            ctx = _context(
                pool,
                Service.WOOCOMMERCE,
                OperationType.API_CREDENTIAL_GENERATION,
                WooCommerceConfig(store_url=site.url),
                {"username": site.username, "password": site.password},
            )
            samples.append(await _time_once(WooCommerceAgent().run(ctx)))
    return samples


async def bench_shopify(pool: BrowserPool, runs: int, flow: str) -> list[float]:
    samples = []
    for _ in range(runs):
        async with ShopifySite(allow_legacy_custom_apps=True) as site:
            ctx = _context(
                pool,
                Service.SHOPIFY,
                OperationType.API_CREDENTIAL_GENERATION,
                ShopifyConfig(
                    store_url=site.store_url, dev_dashboard_url=site.dev_dashboard_url, flow=flow
                ),
                {"username": site.email, "password": site.password},
            )
            samples.append(await _time_once(ShopifyAgent().run(ctx)))
    return samples


async def bench_token_refresh(pool: BrowserPool, runs: int) -> list[float]:
    async with ShopifySite() as site:
        config = ShopifyConfig(store_url=site.store_url, dev_dashboard_url=site.dev_dashboard_url)
        credentials = {"username": site.email, "password": site.password}
        created: AgentResult = await ShopifyAgent().run(
            _context(
                pool, Service.SHOPIFY, OperationType.API_CREDENTIAL_GENERATION, config, credentials
            )
        )
        ctx = _context(
            pool, Service.SHOPIFY, OperationType.TOKEN_REFRESH, config, {}, created.secret_data
        )
        ctx.browser = None
        return await _timed(runs, lambda: ShopifyAgent().run(ctx))


def _stats(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(samples), 1),
        "worst_ms": round(max(samples), 1),
        "runs": len(samples),
        "samples_ms": [round(s, 1) for s in samples],
    }


async def run_benchmarks(runs: int, chromium: str) -> dict[str, Any]:
    """Run every measurement; the JSON-ready results."""
    with tempfile.TemporaryDirectory(prefix="aop-bench-artifacts-") as artifacts:
        pool = BrowserPool(
            settings=BrowserSettings(executable_path=chromium, artifacts_dir=Path(artifacts))
        )
        try:
            started = time.perf_counter()
            async with pool.context(label="bench/warmup") as page:
                version = page.context.browser.version if page.context.browser else "?"
            first_job_ms = (time.perf_counter() - started) * 1000
            results = {
                "context_shared_browser": _stats(await bench_context_shared(pool, runs)),
                "launch_per_job": _stats(await bench_launch_per_job(chromium, runs)),
                "agent_woocommerce_create": _stats(await bench_woocommerce(pool, runs)),
                "agent_shopify_dev_dashboard_create": _stats(
                    await bench_shopify(pool, runs, "dev_dashboard")
                ),
                "agent_shopify_legacy_create": _stats(
                    await bench_shopify(pool, runs, "legacy_admin")
                ),
                "agent_shopify_token_refresh": _stats(await bench_token_refresh(pool, runs)),
            }
        finally:
            await pool.close()
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "chromium": {"path": chromium, "version": version},
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "runs": runs,
        "first_job_with_launch_ms": round(first_job_ms, 1),
        "results": results,
    }


def render_table(report: dict[str, Any]) -> str:
    """A markdown table of the results."""
    lines = ["| measurement | median ms | worst ms | runs |", "|---|---:|---:|---:|"]
    for name, stats in report["results"].items():
        lines.append(f"| {name} | {stats['median_ms']} | {stats['worst_ms']} | {stats['runs']} |")
    lines.append(
        f"| first job incl. Chromium launch | {report['first_job_with_launch_ms']} | | 1 |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="runs per measurement")
    parser.add_argument(
        "--chromium", default=os.environ.get("AOP_CHROMIUM_PATH", DEFAULT_CHROMIUM_PATH)
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not os.access(args.chromium, os.X_OK):
        log.error("Chromium not found at %s", args.chromium)
        return 2
    report = asyncio.run(run_benchmarks(args.runs, args.chromium))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"Chromium {report['chromium']['version']}, {report['machine']}, {args.runs} runs\n")
    print(render_table(report))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

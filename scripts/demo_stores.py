"""Serve the local demo stores that examples/ point at, until SIGTERM.

Shopify (store admin, accounts and Dev Dashboard on one origin) on 127.0.0.1:8081 and
WooCommerce on 127.0.0.1:8082, with the demo logins of the example Secrets. They are the
same real-shaped sites the integration tests drive.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sites.shopify import ShopifySite
from sites.woocommerce import WooCommerceSite

log = logging.getLogger("demo_stores")


async def main() -> None:
    shopify = ShopifySite(
        email="demo@acme.example", password="demo-password", single_origin=True, port=8081
    )
    woo = WooCommerceSite(username="demo", password="demo-password", port=8082)
    await shopify.start()
    await woo.start()
    log.info("Shopify demo store on %s, WooCommerce on %s", shopify.store_url, woo.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await shopify.stop()
    await woo.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(main())

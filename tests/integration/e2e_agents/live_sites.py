"""The fake stores of ``tests/sites`` served from an event loop in a background thread.

The stores are aiohttp applications. The tests that use them are synchronous (they poll
the API server with kubectl while the real ``aop-operator`` and ``aop-worker`` work), so
the stores cannot share the test's thread; every look at a store's state goes through the
stores' loop (``LiveSite.call``) so a test never reads a dict a store is changing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class _Site(Protocol):
    @property
    def failures(self) -> Any: ...


S = TypeVar("S", bound=_Site)


class SiteLoop:
    """An event loop running in a daemon thread, for servers a sync test talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sites", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop (between two requests of the servers) and return its result."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class LiveSite(Generic[S]):
    """A started fake store and the loop it is served from."""

    site: S
    loop: SiteLoop

    def call(self, fn: Callable[[S], T]) -> T:
        """``fn(site)`` evaluated on the store's loop: read or change its state safely."""
        return self.loop.call(lambda: fn(self.site))

    def requests(self) -> list[str]:
        """Every request the store has seen so far, ``METHOD path?query``."""
        return self.call(lambda s: list(s.failures.requests))

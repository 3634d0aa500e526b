"""The operator's long-lived parts, built once at start-up and shared by every handler."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aop_operator.k8s import Kube
from aop_operator.operations import OperationReconciler
from aop_operator.queueing import QueueBackend
from aop_operator.queues import QueueController
from aop_operator.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    kube: Kube
    queues: QueueBackend
    operations: OperationReconciler
    controllers: dict[str, QueueController] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    @classmethod
    async def start(cls, settings: Settings) -> App:
        kube = await Kube.connect()
        queues = QueueBackend(settings.redis_url)
        app = cls(settings, kube, queues, OperationReconciler(kube, queues, settings))
        await app._serve_http()
        return app

    async def _serve_http(self) -> None:
        web_app = web.Application()
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "0.0.0.0", self.settings.http_port)
        await site.start()
        log.info("serving /healthz and /metrics on port %d", self.settings.http_port)

    async def _healthz(self, _request: web.Request) -> web.Response:
        # Alive means the event loop answers; Redis being down is reported by /readyz and
        # OperationQueue conditions, and is no reason to restart the operator.
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        ok = await self.queues.ping()
        return web.Response(text="ok\n" if ok else "redis unreachable\n", status=200 if ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def close(self) -> None:
        await self.operations.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.queues.close()
        await self.kube.close()

"""One OperationQueue at run time: its event stream, its status, pause and retention.

A kopf daemon per OperationQueue runs ``QueueController.run``. The queue's BullMQ event
stream drives everything that must react at once (an operation's status, the scaler);
a slower loop refreshes counts, applies ``spec.paused``, prunes old jobs and reports
Redis health, so nothing depends on an event having been seen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from aop_contracts import crd
from aop_contracts.models import QueueSpec
from aop_operator import metrics
from aop_operator.autoscaler import WorkerScaler
from aop_operator.k8s import Kube
from aop_operator.queueing import REDIS_ERRORS, QueueBackend
from aop_operator.reconcile import ConditionValue, merge_conditions

log = logging.getLogger(__name__)

#: Events that say something about one job and so about one operation.
JOB_EVENTS = frozenset(
    {
        "added",
        "waiting",
        "active",
        "progress",
        "completed",
        "failed",
        "delayed",
        "stalled",
        "removed",
        "retries-exhausted",
        "duplicated",
        "prioritized",
    }
)
#: Events after which the backlog may have changed (the scaler looks again).
BACKLOG_EVENTS = frozenset(
    {
        "added",
        "waiting",
        "active",
        "completed",
        "failed",
        "delayed",
        "removed",
        "drained",
        "paused",
        "resumed",
        "prioritized",
        "stalled",
    }
)

JobCallback = Callable[[str], None]


class QueueController:
    """Keeps one queue's Redis state and its OperationQueue's status in step."""

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kube: Kube,
        queues: QueueBackend,
        body: Mapping[str, Any],
        on_job: JobCallback,
        scaler: WorkerScaler | None = None,
        status_interval: float = 5.0,
        clean_interval: float = 60.0,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.kube = kube
        self.queues = queues
        self.body = body  # kopf's live view: always the latest OperationQueue
        self.on_job = on_job
        self.scaler = scaler
        self.status_interval = status_interval
        self.clean_interval = clean_interval
        self._poke = asyncio.Event()
        self._last_clean = 0.0
        self._last_status: dict[str, Any] = {}

    def spec(self) -> QueueSpec:
        try:
            return QueueSpec.model_validate(dict(self.body.get("spec") or {}))
        except ValidationError:
            return QueueSpec()

    def poke(self) -> None:
        """Refresh status now (spec changed)."""
        self._poke.set()

    async def run(self, stop: asyncio.Event) -> None:
        follower = asyncio.create_task(self._follow(stop), name=f"events:{self.name}")
        try:
            while not stop.is_set():
                await self._refresh()
                self._poke.clear()
                timeout = self.status_interval
                if self.scaler is not None and self.scaler.next_check is not None:
                    # A scale-down falls due before the next periodic refresh.
                    timeout = max(0.05, min(timeout, self.scaler.next_check - time.monotonic()))
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._poke.wait()),
                ]
                try:
                    await asyncio.wait(
                        waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)

    async def _follow(self, stop: asyncio.Event) -> None:
        async for event, fields in self.queues.follow_events(self.name, stop=stop):
            job_id = fields.get("jobId")
            if job_id and event in JOB_EVENTS:
                self.on_job(job_id)
            if event in BACKLOG_EVENTS:
                # The backlog may have changed: the scaler looks at once.
                self._poke.set()

    async def _refresh(self) -> None:
        spec = self.spec()
        status: dict[str, Any] = {}
        connected = await self.queues.ping()
        metrics.REDIS_UP.set(1 if connected else 0)
        now = datetime.now(UTC)
        if connected:
            try:
                if await self.queues.is_paused(self.name) != spec.paused:
                    await self.queues.set_paused(self.name, spec.paused)
                    log.info("queue %s %s", self.name, "paused" if spec.paused else "resumed")
                counts = await self.queues.counts(self.name)
                if time.monotonic() - self._last_clean > self.clean_interval:
                    self._last_clean = time.monotonic()
                    await self.queues.clean(
                        self.name,
                        spec.retention.completed_seconds,
                        spec.retention.failed_seconds,
                    )
                paused = await self.queues.is_paused(self.name)
            except REDIS_ERRORS as e:
                log.warning("queue %s: Redis call failed: %s", self.name, e)
                connected = False
            else:
                for state, value in counts.items():
                    metrics.QUEUE_JOBS.labels(queue=self.name, state=state).set(value)
                status.update(counts)
                status["paused"] = paused
        status["redisConnected"] = connected
        if connected and self.scaler is not None:
            try:
                status.update(
                    await self.scaler.reconcile(
                        spec,
                        str(self.body.get("metadata", {}).get("uid", "")),
                        bool(status.get("paused")),
                    )
                )
            except REDIS_ERRORS as e:
                log.warning("queue %s: scaler skipped, Redis call failed: %s", self.name, e)
            except ApiException as e:
                log.warning("queue %s: scaler skipped, API call failed: %s", self.name, e)
        current = dict(self.body.get("status") or {})
        wanted = [
            ConditionValue(
                "RedisConnected",
                "True" if connected else "False",
                "Connected" if connected else "Unreachable",
                "Redis answers" if connected else "Redis does not answer; jobs wait in etcd",
            ),
            ConditionValue(
                "Ready",
                "True" if connected and not spec.paused else "False",
                "Ready"
                if connected and not spec.paused
                else ("Paused" if spec.paused else "RedisDown"),
                "accepting and running jobs"
                if connected and not spec.paused
                else ("the queue is paused" if spec.paused else "Redis is unreachable"),
            ),
        ]
        status["conditions"] = merge_conditions(
            list(current.get("conditions") or []),
            wanted,
            now=now,
            generation=self.body.get("metadata", {}).get("generation"),
        )
        status["observedGeneration"] = self.body.get("metadata", {}).get("generation")
        if status == self._last_status:
            return
        self._last_status = status
        await self.kube.patch_status(crd.QUEUE_PLURAL, self.namespace, self.name, status)

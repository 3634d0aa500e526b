"""Keeps one queue's worker Deployment present, current and sized to the backlog.

Runs inside the queue's controller: every queue event that may change the backlog and
every periodic refresh ends in ``reconcile()``, which reads the load, asks the pure
``scaling`` functions, and patches ``spec.replicas`` only when the answer changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from aop_contracts.models import QueueSpec
from aop_operator import metrics
from aop_operator.k8s import Kube
from aop_operator.queueing import QueueBackend
from aop_operator.reconcile import iso
from aop_operator.scaling import (
    DELETION_COST,
    QueueLoad,
    Stabilizer,
    deletion_costs,
    desired_replicas,
    scale_message,
)
from aop_operator.settings import Settings
from aop_operator.workers import (
    TEMPLATE_HASH,
    build_worker_deployment,
    deployment_name,
    worker_selector,
)

log = logging.getLogger(__name__)

EventFn = Callable[[str, str], Awaitable[None]]


class WorkerScaler:
    def __init__(
        self,
        *,
        queue: str,
        namespace: str,
        kube: Kube,
        queues: QueueBackend,
        settings: Settings,
        event: EventFn,
    ) -> None:
        self.queue = queue
        self.namespace = namespace
        self.kube = kube
        self.queues = queues
        self.settings = settings
        self.event = event
        self._stabilizer: Stabilizer | None = None
        self._delay: float | None = None
        self.last_scale_time: datetime | None = None
        self.next_check: float | None = None

    async def reconcile(self, spec: QueueSpec, queue_uid: str, paused: bool) -> dict[str, Any]:
        """Apply the Deployment and the replicas; returns the ``workers`` status fields."""
        name = deployment_name(self.queue)
        load = await self.queues.load(self.queue)
        workers = spec.workers
        desired = desired_replicas(
            load,
            concurrency=workers.concurrency,
            min_replicas=workers.min_replicas,
            max_replicas=workers.max_replicas,
            paused=paused,
        )
        metrics.QUEUE_BACKLOG.labels(queue=self.queue).set(load.backlog)
        metrics.WORKERS_DESIRED.labels(queue=self.queue).set(desired)

        current = await self._read()
        enabled = self.settings.scaler_enabled and spec.scaling.enabled
        now = time.monotonic()
        if current is None:
            replicas = desired if enabled else workers.min_replicas
            body = build_worker_deployment(
                queue=self.queue,
                namespace=self.namespace,
                queue_uid=queue_uid,
                spec=workers,
                settings=self.settings,
                replicas=replicas,
            )
            await self.kube.apps.create_namespaced_deployment(self.namespace, body)  # type: ignore[arg-type]
            log.info("created Deployment %s with %d replicas", name, replicas)
            self._stabilizer = Stabilizer(
                spec.scaling.scale_down_delay_seconds, now=now, current=replicas
            )
            if replicas:
                await self._scaled(0, replicas, load, workers.concurrency)
            return self._status(replicas, 0)

        running = int(current.spec.replicas or 0)
        ready = int(current.status.ready_replicas or 0) if current.status else 0
        body = build_worker_deployment(
            queue=self.queue,
            namespace=self.namespace,
            queue_uid=queue_uid,
            spec=workers,
            settings=self.settings,
            replicas=running,
        )
        annotations = current.metadata.annotations or {}
        if annotations.get(TEMPLATE_HASH) != body["metadata"]["annotations"][TEMPLATE_HASH]:
            # spec.workers changed (image, env, resources…): the Deployment rolls its pods.
            await self.kube.apps.patch_namespaced_deployment(
                name,
                self.namespace,
                {
                    "metadata": {
                        "annotations": body["metadata"]["annotations"],
                        "labels": body["metadata"]["labels"],
                    },
                    "spec": {"template": body["spec"]["template"]},
                },
            )
            log.info("updated the pod template of Deployment %s", name)

        if not enabled:
            metrics.WORKERS_READY.labels(queue=self.queue).set(ready)
            return self._status(desired, ready)

        delay = float(spec.scaling.scale_down_delay_seconds)
        if self._stabilizer is None or self._delay != delay:
            self._stabilizer = Stabilizer(delay, now=now, current=running)
            self._delay = delay
        target = self._stabilizer.recommend(desired, now=now)
        wait = self._stabilizer.seconds_until_change(now=now)
        self.next_check = None if wait is None else now + wait + 0.05
        if target != running:
            if target < running:
                await self._spare_busy_pods(load.busy_pods)
            await self.kube.apps.patch_namespaced_deployment_scale(
                name, self.namespace, {"spec": {"replicas": target}}
            )
            await self._scaled(running, target, load, workers.concurrency)
        metrics.WORKERS_READY.labels(queue=self.queue).set(ready)
        return self._status(target, ready)

    async def _spare_busy_pods(self, busy: frozenset[str]) -> None:
        """Before a scale-down: busy pods get a high deletion cost, idle ones none, so the
        ReplicaSet removes idle pods first. Best effort: a job that starts between this
        and the scale-down drains on SIGTERM or is taken over after its lock expires."""
        selector = ",".join(f"{k}={v}" for k, v in worker_selector(self.queue).items())
        try:
            pods = await self.kube.core.list_namespaced_pod(self.namespace, label_selector=selector)
            current = {
                p.metadata.name: (p.metadata.annotations or {}).get(DELETION_COST)
                for p in pods.items
                if p.metadata.deletion_timestamp is None
            }
            for name, cost in deletion_costs(current, busy).items():
                await self.kube.core.patch_namespaced_pod(
                    name, self.namespace, {"metadata": {"annotations": {DELETION_COST: cost}}}
                )
        except ApiException as e:
            # Scaling goes on without the preference (a pod gone meanwhile, or RBAC
            # without pods/patch).
            log.warning("queue %s: could not mark busy pods before scale-down: %s", self.queue, e)

    async def _read(self) -> Any:
        try:
            return await self.kube.apps.read_namespaced_deployment(
                deployment_name(self.queue), self.namespace
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def _scaled(self, old: int, new: int, load: QueueLoad, concurrency: int) -> None:
        self.last_scale_time = datetime.now(UTC)
        metrics.SCALE_EVENTS.labels(queue=self.queue).inc()
        message = scale_message(old, new, load, concurrency)
        log.info("queue %s: %s", self.queue, message)
        await self.event("Scaled", message)

    def _status(self, desired: int, ready: int) -> dict[str, Any]:
        out: dict[str, Any] = {"workers": {"desired": desired, "ready": ready}}
        if self.last_scale_time is not None:
            out["lastScaleTime"] = iso(self.last_scale_time)
        return out

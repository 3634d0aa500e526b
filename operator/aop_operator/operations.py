"""Reconciling one AutonomousOperation: admission, enqueueing, mirroring, cancel, recovery.

Level-triggered: every trigger (kopf's create/update/resume, a queue event, the periodic
resync, a consent change) ends in ``sync(namespace, name)``, which reads the resource and
its job and writes the status they imply. Syncs of one operation never overlap (a lock
per operation), so the status only ever moves in the order things really happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from aop_contracts import crd
from aop_contracts.configs import ConfigError, validate_config
from aop_contracts.consent import evaluate_consent
from aop_contracts.jobs import PRIORITY_MAP, JobPayload, parse_failure, result_secret_name
from aop_contracts.models import OperationSpec, Phase, QueueSpec
from aop_operator import metrics
from aop_operator.k8s import Kube
from aop_operator.queueing import QueueBackend
from aop_operator.reconcile import (
    StatusUpdate,
    build_status_patch,
    iso,
    observation_update,
    observe_job,
    status_changed,
)
from aop_operator.settings import Settings

log = logging.getLogger(__name__)

#: Failure reasons of the worker's consent re-check.
CONSENT_REASONS = frozenset({"ConsentMissing", "ConsentRevoked"})
_WARNING_PHASES = frozenset({Phase.FAILED, Phase.BLOCKED, Phase.RATE_LIMITED})


class OperationReconciler:
    """Owns every status write of AutonomousOperations."""

    def __init__(
        self,
        kube: Kube,
        queues: QueueBackend,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.queues = queues
        self.settings = settings
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeups: dict[str, asyncio.TimerHandle] = {}

    # ------------------------------------------------------------ triggers

    def schedule(self, namespace: str, name: str) -> None:
        """Ask for a sync soon; bursts of triggers for one operation collapse into one or two."""
        key = f"{namespace}/{name}"
        if key in self._pending:
            self._pending[key] = True  # run once more after the current pass
            return
        self._pending[key] = False
        task = asyncio.create_task(self._drain(namespace, name, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, namespace: str, name: str, key: str) -> None:
        try:
            while True:
                self._pending[key] = False
                try:
                    await self.sync(namespace, name)
                except Exception:
                    # The periodic resync will come back to it; one bad pass must not
                    # end the loop that serves every other trigger.
                    log.exception("sync of %s failed", key)
                if not self._pending.get(key):
                    break
        finally:
            self._pending.pop(key, None)

    def wake_at(self, namespace: str, name: str, delay: float) -> None:
        """Sync again after ``delay`` seconds (a rate-limit window freeing up)."""
        key = f"{namespace}/{name}"
        old = self._wakeups.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._wakeups[key] = loop.call_later(max(delay, 0.05), self._wake, namespace, name, key)

    def _wake(self, namespace: str, name: str, key: str) -> None:
        self._wakeups.pop(key, None)
        self.schedule(namespace, name)

    async def close(self) -> None:
        for handle in self._wakeups.values():
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def forget(self, namespace: str, name: str) -> None:
        key = f"{namespace}/{name}"
        self._locks.pop(key, None)
        handle = self._wakeups.pop(key, None)
        if handle is not None:
            handle.cancel()

    # ------------------------------------------------------------ the sync

    async def sync(self, namespace: str, name: str) -> None:
        key = f"{namespace}/{name}"
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            obj = await self.kube.get(crd.OPERATION_PLURAL, namespace, name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                return
            await self._sync(obj)

    async def _sync(self, obj: dict[str, Any]) -> None:
        status: dict[str, Any] = obj.get("status") or {}
        phase = Phase(status.get("phase") or Phase.PENDING.value)
        if phase.terminal:
            return
        try:
            spec = OperationSpec.model_validate(obj.get("spec") or {})
        except ValidationError as e:
            await self._write(obj, StatusUpdate(Phase.FAILED, "InvalidSpec", _first_error(e)))
            return
        uid: str = obj["metadata"]["uid"]
        queue = status.get("queue") or spec.queue

        if spec.cancel:
            await self._cancel(obj, spec, queue)
            return

        job = await self.queues.snapshot(queue, uid)
        if job is not None and job.state == "failed":
            reason, message = parse_failure(job.failed_reason)
            if reason in CONSENT_REASONS:
                # The worker's last-moment consent check stopped the job: Blocked, not
                # Failed, and admitted again (with a fresh job) once consent is back.
                if phase is not Phase.BLOCKED:
                    await self._write(obj, StatusUpdate(Phase.BLOCKED, reason, message))
                    return
                await self._admit(obj, spec, queue, replace_job=True)
                return
        if job is not None:
            update = observation_update(observe_job(job, cancel_requested=False))
            if update.phase is Phase.QUEUED and status.get("phase") == Phase.QUEUED.value:
                update.reason, update.message = (
                    status.get("reason", "Queued"),
                    status.get("message", update.message),
                )
            await self._write(obj, update)
            return

        if phase in (Phase.QUEUED, Phase.RUNNING):
            # Redis lost the job (restart without persistence, flush, failover): the
            # resource is the truth, so the same job goes in again under the same id.
            queue_spec = await self._queue_spec(queue)
            await self._enqueue(obj, spec, queue, queue_spec or QueueSpec())
            metrics.REQUEUED.labels(queue=queue).inc()
            await self._write(
                obj,
                StatusUpdate(
                    Phase.QUEUED,
                    "Requeued",
                    "the job was missing from Redis and has been enqueued again",
                    {"jobId": uid, "queue": queue, "queuedAt": iso(self.clock())},
                ),
                warning=True,
            )
            return

        await self._admit(obj, spec, queue)

    async def _admit(
        self, obj: dict[str, Any], spec: OperationSpec, queue: str, *, replace_job: bool = False
    ) -> None:
        meta = obj["metadata"]
        namespace: str = meta["namespace"]
        try:
            validate_config(spec.service, spec.operation, spec.config)
        except ConfigError as e:
            await self._write(obj, StatusUpdate(Phase.FAILED, "InvalidConfig", str(e)))
            return

        org = (await self.kube.namespace_labels(namespace)).get(crd.ORGANIZATION_LABEL)
        if org is not None and org != spec.organization_id:
            await self._write(
                obj,
                StatusUpdate(
                    Phase.FAILED,
                    "TenancyMismatch",
                    f"namespace {namespace} belongs to organization {org}, "
                    f"not {spec.organization_id}",
                ),
            )
            return

        queue_spec = await self._queue_spec(queue)
        if queue_spec is None:
            await self._write(
                obj,
                StatusUpdate(
                    Phase.PENDING,
                    "QueueNotFound",
                    f"no OperationQueue {queue} in namespace {self.settings.namespace}",
                ),
                warning=True,
            )
            return

        decision = evaluate_consent(
            await self.kube.consents(namespace),
            organization_id=spec.organization_id,
            service=spec.service,
            operation=spec.operation,
            now=self.clock(),
        )
        if not decision.allowed:
            await self._write(obj, StatusUpdate(Phase.BLOCKED, decision.reason, decision.message))
            return

        limit = queue_spec.rate_limit.per_organization
        wait = await self.queues.acquire_rate(
            queue, spec.organization_id, meta["uid"], limit.limit, limit.window_seconds
        )
        if wait > 0:
            retry_at = self.clock() + timedelta(seconds=wait)
            await self._write(
                obj,
                StatusUpdate(
                    Phase.RATE_LIMITED,
                    "RateLimited",
                    f"organization {spec.organization_id} used its {limit.limit} operations "
                    f"per {limit.window_seconds}s on queue {queue}; retrying at {iso(retry_at)}",
                    {"retryAfter": iso(retry_at), "queue": queue},
                ),
            )
            self.wake_at(namespace, meta["name"], wait)
            return

        if replace_job:
            await self.queues.forget(queue, meta["uid"])
        await self._enqueue(obj, spec, queue, queue_spec)
        await self._write(
            obj,
            StatusUpdate(
                Phase.QUEUED,
                "Queued",
                f"enqueued on {queue} with priority {spec.priority.value}",
                {
                    "jobId": meta["uid"],
                    "queue": queue,
                    "queuedAt": iso(self.clock()),
                    "attempts": 0,
                },
            ),
        )

    async def _enqueue(
        self, obj: dict[str, Any], spec: OperationSpec, queue: str, queue_spec: QueueSpec
    ) -> None:
        meta = obj["metadata"]
        payload = JobPayload(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            organization_id=spec.organization_id,
            user_id=spec.user_id,
            service=spec.service.value,
            operation=spec.operation.value,
            config=spec.config,
            credentials_secret_name=spec.credentials_secret_ref.name
            if spec.credentials_secret_ref
            else None,
            result_secret_name=spec.result_secret_ref.name
            if spec.result_secret_ref
            else result_secret_name(meta["name"]),
        )
        await self.queues.enqueue(
            queue,
            payload,
            priority=PRIORITY_MAP[spec.priority],
            attempts=spec.retry.attempts,
            backoff_seconds=spec.retry.backoff_seconds,
            keep_completed_seconds=queue_spec.retention.completed_seconds,
            keep_failed_seconds=queue_spec.retention.failed_seconds,
        )
        metrics.ENQUEUED.labels(queue=queue, priority=spec.priority.value).inc()

    async def _cancel(self, obj: dict[str, Any], spec: OperationSpec, queue: str) -> None:
        status: dict[str, Any] = obj.get("status") or {}
        uid: str = obj["metadata"]["uid"]
        if not status.get("jobId"):
            await self._write(
                obj, StatusUpdate(Phase.CANCELLED, "Cancelled", "cancelled before it was enqueued")
            )
            return
        outcome = await self.queues.cancel(queue, uid)
        if outcome in ("removed", "absent"):
            await self._write(
                obj, StatusUpdate(Phase.CANCELLED, "Cancelled", "cancelled before it started")
            )
            return
        job = await self.queues.snapshot(queue, uid)
        if outcome == "finished" and job is not None:
            await self._write(obj, observation_update(observe_job(job, cancel_requested=True)))
            return
        requested = status.get("cancelRequestedAt")
        now = self.clock()
        if requested is None:
            await self._write(
                obj,
                StatusUpdate(
                    Phase.RUNNING,
                    "Cancelling",
                    "cancellation requested; waiting for the worker to stop",
                    {"cancelRequestedAt": iso(now)},
                ),
            )
            self.wake_at(obj["metadata"]["namespace"], obj["metadata"]["name"], 2)
            return
        elapsed = (now - datetime.fromisoformat(requested.replace("Z", "+00:00"))).total_seconds()
        if elapsed >= self.settings.cancel_grace_seconds:
            await self._write(
                obj,
                StatusUpdate(
                    Phase.CANCELLED,
                    "Cancelled",
                    f"the worker did not confirm within {self.settings.cancel_grace_seconds}s; "
                    "marked cancelled",
                ),
                warning=True,
            )
        else:
            self.wake_at(obj["metadata"]["namespace"], obj["metadata"]["name"], 2)

    async def _queue_spec(self, queue: str) -> QueueSpec | None:
        q = await self.kube.get(crd.QUEUE_PLURAL, self.settings.namespace, queue)
        if q is None:
            return None
        try:
            return QueueSpec.model_validate(q.get("spec") or {})
        except ValidationError:
            log.warning("OperationQueue %s has an invalid spec; using defaults", queue)
            return QueueSpec()

    async def _write(
        self, obj: dict[str, Any], update: StatusUpdate, *, warning: bool = False
    ) -> None:
        current: dict[str, Any] = obj.get("status") or {}
        meta = obj["metadata"]
        patch = build_status_patch(
            current, update, now=self.clock(), generation=meta.get("generation")
        )
        if not status_changed(current, patch):
            return
        written = await self.kube.patch_status(
            crd.OPERATION_PLURAL, meta["namespace"], meta["name"], patch
        )
        if written is None:
            return
        obj["status"] = written.get("status", {})
        old_phase = current.get("phase") or Phase.PENDING.value
        if old_phase != update.phase.value or current.get("reason") != update.reason:
            metrics.PHASE_TRANSITIONS.labels(phase=update.phase.value).inc()
            log.info(
                "%s/%s: %s -> %s (%s)",
                meta["namespace"],
                meta["name"],
                old_phase,
                update.phase.value,
                update.reason,
            )
            await self.kube.event(
                written,
                update.reason if update.reason != update.phase.value else update.phase.value,
                f"{old_phase} → {update.phase.value}: {update.message}",
                warning=warning or update.phase in _WARNING_PHASES,
            )


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"

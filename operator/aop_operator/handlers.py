"""kopf handlers: each one finds the right object and hands it to one function.

Decisions live in ``reconcile`` (pure) and ``operations``/``queues`` (I/O); nothing here
decides anything on its own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import kopf

from aop_contracts import crd
from aop_contracts.models import TERMINAL_PHASES
from aop_operator.app import App
from aop_operator.autoscaler import WorkerScaler
from aop_operator.queueing import REDIS_ERRORS
from aop_operator.queues import QueueController
from aop_operator.settings import Settings

log = logging.getLogger(__name__)
SETTINGS = Settings.from_env()
OPS = (crd.GROUP, crd.VERSION, crd.OPERATION_PLURAL)
QUEUES = (crd.GROUP, crd.VERSION, crd.QUEUE_PLURAL)
CONSENTS = (crd.GROUP, crd.VERSION, crd.CONSENT_PLURAL)
_TERMINAL = frozenset(p.value for p in TERMINAL_PHASES)


def _app(memo: Any) -> App:
    app: App = memo["app"]
    return app


def _unfinished(*, status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in _TERMINAL


@kopf.on.startup()
async def startup(*, settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = crd.FINALIZER
    # Handler progress goes into annotations so that .status stays the product's own.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=crd.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=crd.GROUP, key="last-handled-configuration"
    )
    # Only problems become Events; phase changes get Events of their own, written once.
    settings.posting.level = logging.WARNING
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30
    memo["app"] = await App.start(SETTINGS)


@kopf.on.cleanup()
async def cleanup(*, memo: kopf.Memo, **_: Any) -> None:
    app = memo.get("app")
    if app is not None:
        await app.close()


@kopf.index(*OPS)
def operations_by_uid(
    *, namespace: str | None, name: str, uid: str, **_: Any
) -> dict[str, tuple[str, str | None]]:
    """uid → (namespace, name): queue events carry only the job id, which is the uid."""
    return {uid: (namespace or "", name)}


@kopf.index(*OPS)
def operations_by_namespace(
    *, namespace: str | None, name: str, status: kopf.Status, **_: Any
) -> dict[str, tuple[str, str]] | None:
    """namespace → unfinished operations, for consent changes."""
    if status.get("phase") in _TERMINAL:
        return None
    return {namespace or "": (namespace or "", name)}


# ---------------------------------------------------------------- AutonomousOperation


@kopf.on.resume(*OPS)
@kopf.on.create(*OPS)
@kopf.on.update(*OPS, field="spec")
async def operation_changed(*, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    _app(memo).operations.schedule(namespace or "", name)


@kopf.timer(
    *OPS, interval=SETTINGS.resync_seconds, initial_delay=SETTINGS.resync_seconds, when=_unfinished
)
async def operation_resync(*, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """The safety net: a missed event or a job Redis lost is noticed within one interval."""
    _app(memo).operations.schedule(namespace or "", name)


@kopf.on.delete(*OPS)
async def operation_deleted(
    *,
    namespace: str | None,
    name: str,
    uid: str,
    status: kopf.Status,
    spec: kopf.Spec,
    memo: Any,
    runtime: timedelta,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Abort or remove the job; never hold the resource hostage when Redis is down."""
    app = _app(memo)
    app.operations.forget(namespace or "", name)
    queue = status.get("queue") or spec.get("queue") or "default"
    if not status.get("jobId"):
        return
    try:
        outcome = await app.queues.cancel(queue, uid)
        log.info("%s/%s deleted; its job %s on queue %s: %s", namespace, name, uid, queue, outcome)
        if outcome == "signalled":
            # The worker aborts the job within a second or two; come back and remove it.
            if runtime.total_seconds() < SETTINGS.delete_timeout_seconds:
                raise kopf.TemporaryError("waiting for the worker to abort the job", delay=1)
            logger.warning("the worker did not abort job %s in time; releasing anyway", uid)
            return
        await app.queues.forget(queue, uid)
    except REDIS_ERRORS as e:
        if runtime.total_seconds() >= SETTINGS.delete_timeout_seconds:
            logger.warning(
                "Redis unreachable for %ds; releasing %s/%s without removing its job (%s)",
                SETTINGS.delete_timeout_seconds,
                namespace,
                name,
                e,
            )
            return
        raise kopf.TemporaryError(f"Redis unreachable, job not removed yet: {e}", delay=5) from e


# ---------------------------------------------------------------- OperationConsent


@kopf.on.resume(*CONSENTS)
@kopf.on.create(*CONSENTS)
@kopf.on.update(*CONSENTS)
@kopf.on.delete(*CONSENTS, optional=True)
async def consent_changed(
    *,
    namespace: str | None,
    memo: Any,
    operations_by_namespace: kopf.Index[str, tuple[str, str]] | None = None,
    **_: Any,
) -> None:
    """A consent granted, renewed or revoked: look again at the namespace's operations."""
    if operations_by_namespace is None:
        return
    for ns, name in operations_by_namespace.get(namespace or "", []):
        _app(memo).operations.schedule(ns, name)


# ---------------------------------------------------------------- OperationQueue


def _in_operator_namespace(*, namespace: str | None, **_: Any) -> bool:
    return namespace == SETTINGS.namespace


@kopf.daemon(*QUEUES, when=_in_operator_namespace, cancellation_timeout=10)
async def queue_daemon(
    *,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: Any,
    stopped: kopf.DaemonStopped,
    operations_by_uid: kopf.Index[str, tuple[str, str]] | None = None,
    **_: Any,
) -> None:
    """Follow the queue's events and keep its status; runs as long as the queue exists."""
    app = _app(memo)

    def on_job(job_id: str) -> None:
        if operations_by_uid is None:
            return
        for ns, op_name in operations_by_uid.get(job_id, []):
            app.operations.schedule(ns, op_name)

    ns = namespace or SETTINGS.namespace

    async def queue_event(reason: str, message: str) -> None:
        await app.kube.event(dict(body), reason, message)

    controller = QueueController(
        name=name,
        namespace=ns,
        kube=app.kube,
        queues=app.queues,
        body=body,
        on_job=on_job,
        scaler=WorkerScaler(
            queue=name,
            namespace=ns,
            kube=app.kube,
            queues=app.queues,
            settings=SETTINGS,
            event=queue_event,
        ),
        status_interval=SETTINGS.queue_status_seconds,
    )
    app.controllers[name] = controller
    stop = asyncio.Event()

    async def watch_stopped() -> None:
        await stopped.wait()
        stop.set()

    watcher = asyncio.create_task(watch_stopped())
    try:
        await controller.run(stop)
    finally:
        watcher.cancel()
        app.controllers.pop(name, None)


@kopf.on.update(*QUEUES, field="spec", when=_in_operator_namespace)
async def queue_spec_changed(*, name: str, memo: Any, **_: Any) -> None:
    controller = _app(memo).controllers.get(name)
    if controller is not None:
        controller.poke()

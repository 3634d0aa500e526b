"""``aop-worker``: drains one OperationQueue with a bullmq Worker and the agent registry.

Around every job: the cancel marker and the consent are checked again, the agent runs
with its own progress reporter and (when it needs one) a fresh browser context, its
result goes into an owned Secret, and its failure is classified as permanent (no retry,
``UnrecoverableError``) or transient (retried with the job's backoff).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from bullmq import Job, Worker
from bullmq.custom_errors import UnrecoverableError
from redis.asyncio.connection import parse_url

from aop_agents.agents.base import AgentContext, AgentError
from aop_agents.kube import SecretConflict, WorkerKube
from aop_contracts.configs import ConfigError, validate_config
from aop_contracts.consent import evaluate_consent
from aop_contracts.jobs import (
    QUEUE_PREFIX,
    WORKER_NAME_TTL_SECONDS,
    JobPayload,
    JobProgress,
    cancel_channel,
    cancel_key,
    format_failure,
    worker_name_key,
)
from aop_contracts.models import OperationType, Service

log = logging.getLogger("aop_agents.worker")


@dataclass(frozen=True)
class WorkerSettings:
    """A worker process's settings (flags override the ``AOP_`` environment)."""

    queue: str = "default"
    redis_url: str = "redis://127.0.0.1:6379/0"
    concurrency: int = 2
    #: A dead worker's job is picked up by another after about lock + stalled interval.
    lock_seconds: float = 8.0
    stalled_interval_seconds: float = 4.0
    #: On SIGTERM, active jobs get this long to finish; the rest go back to the queue.
    grace_seconds: float = 60.0
    name: str = ""

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> WorkerSettings:
        env = os.environ
        p = argparse.ArgumentParser(
            prog="aop-worker",
            description="Run AutonomousOperation jobs from one OperationQueue.",
        )
        p.add_argument(
            "--queue",
            default=env.get("AOP_QUEUE", cls.queue),
            help="OperationQueue (BullMQ queue) name (env AOP_QUEUE)",
        )
        p.add_argument(
            "--redis-url",
            default=env.get("AOP_REDIS_URL") or env.get("REDIS_URL") or cls.redis_url,
            help="Redis URL (env AOP_REDIS_URL or REDIS_URL)",
        )
        p.add_argument(
            "--concurrency",
            type=int,
            default=int(env.get("AOP_CONCURRENCY", cls.concurrency)),
            help="jobs run at once (env AOP_CONCURRENCY, default 2)",
        )
        p.add_argument(
            "--lock-seconds",
            type=float,
            default=float(env.get("AOP_LOCK_SECONDS", cls.lock_seconds)),
            help="job lock duration (env AOP_LOCK_SECONDS, default 8)",
        )
        p.add_argument(
            "--stalled-interval-seconds",
            type=float,
            default=float(env.get("AOP_STALLED_INTERVAL_SECONDS", cls.stalled_interval_seconds)),
            help="how often stalled jobs are looked for (default 4)",
        )
        p.add_argument(
            "--grace-seconds",
            type=float,
            default=float(env.get("AOP_GRACE_SECONDS", cls.grace_seconds)),
            help="on SIGTERM, time active jobs get to finish (default 60)",
        )
        p.add_argument(
            "--name",
            default=env.get("AOP_WORKER_NAME", env.get("HOSTNAME", "")),
            help="worker name shown in Redis client lists",
        )
        p.add_argument("--verbose", action="store_true")
        a = p.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if a.verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        # The API client's debug log prints response bodies, Secrets included: never on.
        logging.getLogger("kubernetes_asyncio").setLevel(logging.INFO)
        return cls(
            a.queue,
            a.redis_url,
            a.concurrency,
            a.lock_seconds,
            a.stalled_interval_seconds,
            a.grace_seconds,
            a.name,
        )


def connection_options(redis_url: str) -> dict[str, Any]:
    """redis-py kwargs with no socket timeout: blocking pops must not time out (bullmq
    otherwise goes deaf on an idle queue with redis-py 8)."""
    opts: dict[str, Any] = dict(parse_url(redis_url))
    opts["socket_timeout"] = None
    opts.setdefault("socket_connect_timeout", 5)
    return opts


class Cancelled(Exception):
    pass


class JobRunner:
    """Runs one job's agent; knows nothing about bullmq beyond the job's data."""

    def __init__(self, settings: WorkerSettings, kube: WorkerKube, redis: aioredis.Redis) -> None:
        self.settings = settings
        self.kube = kube
        self.redis = redis
        self._browser: Any = None  # BrowserPool, created on the first job that needs it

    def browser(self) -> Any:
        if self._browser is None:
            from aop_agents.browser import BrowserPool

            self._browser = BrowserPool()
        return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()

    async def run(self, job: Job, progress: Any, attempt: int) -> dict[str, Any]:
        """Run the job; raise ``AgentError`` for a classified failure."""
        p = JobPayload.model_validate(job.data)
        label = f"{p.namespace}/{p.name}"
        if await self.redis.exists(cancel_key(self.settings.queue, str(job.id))):
            raise Cancelled("cancelled before it started")
        if not await self.kube.operation_exists(p.namespace, p.name, p.uid):
            raise Cancelled("the operation no longer exists")
        decision = evaluate_consent(
            await self.kube.consents(p.namespace),
            organization_id=p.organization_id,
            service=p.service,
            operation=p.operation,
        )
        if not decision.allowed:
            raise AgentError(decision.message, reason=decision.reason, permanent=True)
        try:
            cfg = validate_config(p.service, p.operation, p.config)
        except ConfigError as e:
            raise AgentError(str(e), reason="InvalidConfig", permanent=True) from e

        from aop_agents.registry import get_agent

        agent = get_agent(p.service, p.operation)
        credentials: dict[str, str] = {}
        if p.credentials_secret_name:
            found = await self.kube.read_secret(p.namespace, p.credentials_secret_name)
            if found is None:
                raise AgentError(
                    f"Secret {p.credentials_secret_name} not found in {p.namespace}",
                    reason="CredentialsNotFound",
                    permanent=True,
                )
            credentials = found
        stored = await self.kube.read_stored_secret(p.namespace, p.result_secret_name)
        if stored is not None and not stored.managed and Service(p.service).needs_credentials:
            # Checked before the agent creates anything at the store it could not hand over.
            raise SecretConflict(p.result_secret_name)
        previous = stored.data if stored is not None and stored.managed else None
        operation = OperationType(p.operation)
        ctx = AgentContext(
            service=Service(p.service),
            operation=operation,
            config=cfg,
            credentials=credentials,
            previous_result=previous,
            progress=progress,
            browser=self.browser() if agent.uses_browser(operation) else None,
            label=label,
            attempt=attempt,
        )
        log.info(
            "job %s (%s %s/%s) attempt %d starts", job.id, label, p.service, p.operation, attempt
        )
        result = await agent.run(ctx)
        secret_name: str | None = None
        if result.secret_data:
            # Raises SecretConflict if someone else created the Secret while the agent ran.
            await self.kube.write_result_secret(
                namespace=p.namespace,
                name=p.result_secret_name,
                data=result.secret_data,
                owner_name=p.name,
                owner_uid=p.uid,
            )
            secret_name = p.result_secret_name
        log.info("job %s (%s) succeeded", job.id, label)
        return {"secretName": secret_name, "summary": result.summary}


class WorkerProcess:
    """The bullmq Worker, the cancel listener and the SIGTERM drain of one process."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.opts = connection_options(settings.redis_url)
        self.redis = aioredis.Redis(**self.opts, decode_responses=True)
        self.worker: Worker | None = None
        self.runner: JobRunner | None = None
        self.shutting_down = False
        #: Ids of the jobs this process is running right now.
        self.active: set[str] = set()

    async def process(self, job: Job, token: str, signal_: Any) -> dict[str, Any]:
        assert self.runner is not None
        attempt = int(job.attemptsMade or 0) + 1

        async def progress(percent: int, message: str, step: str) -> None:
            report = JobProgress(percent=int(percent), message=message, step=step)
            await job.updateProgress(report.model_dump())

        work = asyncio.create_task(self.runner.run(job, progress, attempt))
        abort = asyncio.create_task(signal_.wait())
        self.active.add(str(job.id))
        try:
            await asyncio.wait({work, abort}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            abort.cancel()
            self.active.discard(str(job.id))
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            if self.shutting_down:
                # Leave the job active: its lock expires and another worker takes it over.
                raise RuntimeError("worker shutting down")
            log.info("job %s cancelled while running", job.id)
            raise UnrecoverableError(format_failure("Cancelled", "cancelled while running"))
        try:
            return work.result()
        except Cancelled as e:
            raise UnrecoverableError(format_failure("Cancelled", str(e))) from e
        except AgentError as e:
            log.warning(
                "job %s attempt %d failed: %s (%s)",
                job.id,
                attempt,
                e.reason,
                "permanent" if e.permanent else "will retry",
            )
            text = format_failure(e.reason, str(e))
            if e.permanent:
                raise UnrecoverableError(text) from e
            raise RuntimeError(text) from e
        except Exception as e:
            log.exception("job %s attempt %d crashed", job.id, attempt)
            raise RuntimeError(format_failure("WorkerError", type(e).__name__)) from e

    async def _listen_for_cancels(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(cancel_channel(self.settings.queue))
                async for message in pubsub.listen():
                    if message.get("type") == "message" and self.worker is not None:
                        job_id = str(message["data"])
                        if self.worker.cancelJob(job_id, "cancelled"):
                            log.info("cancelling job %s", job_id)
            except (aioredis.RedisError, OSError) as e:
                log.warning("cancel channel unavailable: %s; retrying", e)
                await asyncio.sleep(2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _register_name(self) -> None:
        """Keep ``worker id → pod name`` in Redis while this worker runs, so the operator
        can name the pod of a running job (status.worker) and spare busy pods when it
        scales down."""
        assert self.worker is not None
        key = worker_name_key(self.settings.queue, self.worker.id)
        name = self.settings.name or socket.gethostname()
        while True:
            try:
                await self.redis.set(key, name, ex=WORKER_NAME_TTL_SECONDS)
            except (aioredis.RedisError, OSError) as e:
                log.warning("could not register the worker name: %s", e)
            await asyncio.sleep(WORKER_NAME_TTL_SECONDS / 3)

    async def run(self) -> None:
        s = self.settings
        kube = await WorkerKube.connect()
        self.runner = JobRunner(s, kube, self.redis)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.worker = Worker(
            s.queue,
            self.process,
            {
                "connection": dict(self.opts),
                "prefix": QUEUE_PREFIX,
                "concurrency": s.concurrency,
                "lockDuration": int(s.lock_seconds * 1000),
                "stalledInterval": int(s.stalled_interval_seconds * 1000),
                "maxStalledCount": 2,
                "drainDelay": 1,
                "name": s.name or None,
            },
        )
        # Without this the blocking connection never learns the server version and rounds
        # every backoff and delay up to whole seconds.
        if self.worker.blockingRedisConnection is not None:
            await self.worker.blockingRedisConnection.getRedisVersion()
        listener = asyncio.create_task(self._listen_for_cancels())
        registration = asyncio.create_task(self._register_name())
        log.info("worker for queue %s started (concurrency %d)", s.queue, s.concurrency)
        try:
            await stop.wait()
            log.info(
                "stopping: no new jobs; %d active get %.0fs to finish",
                len(self.active),
                s.grace_seconds,
            )
            await self.worker.pause(do_not_wait_active=True)
            if self.worker.processing:
                _done, pending = await asyncio.wait(self.worker.processing, timeout=s.grace_seconds)
                if pending:
                    log.warning(
                        "%d jobs still active after the grace period; "
                        "leaving them to another worker",
                        len(pending),
                    )
                    self.shutting_down = True
                    await self.worker.close(force=True)
            if not self.worker.closed:
                await self.worker.close()
        finally:
            listener.cancel()
            registration.cancel()
            await asyncio.gather(listener, registration, return_exceptions=True)
            with contextlib.suppress(aioredis.RedisError, OSError):
                await self.redis.delete(worker_name_key(s.queue, self.worker.id))
            await self.runner.close()
            await kube.close()
            await self.redis.aclose()
            log.info("worker stopped")


def main(argv: list[str] | None = None) -> int:
    settings = WorkerSettings.from_args(argv)
    asyncio.run(WorkerProcess(settings).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

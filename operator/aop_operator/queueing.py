"""The operator's side of the Redis queue: the only module here that imports bullmq.

BullMQ's camelCase options stay inside this adapter; the rest of the operator sees
``JobSnapshot`` values and plain Python arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from bullmq import Queue
from redis.asyncio.connection import parse_url

from aop_contracts.jobs import (
    JOB_NAME,
    QUEUE_PREFIX,
    JobPayload,
    cancel_channel,
    cancel_key,
    lock_holder,
    worker_name_key,
)
from aop_operator.reconcile import JobSnapshot
from aop_operator.scaling import QueueLoad

log = logging.getLogger(__name__)

CancelOutcome = Literal["removed", "signalled", "absent", "finished"]

#: What a Redis outage raises anywhere in this module (callers catch this tuple).
REDIS_ERRORS: tuple[type[BaseException], ...] = (aioredis.RedisError, OSError, TimeoutError)

# Sliding-window limiter, atomic in Redis. Idempotent per member (the operation's UID):
# asking again for an operation already counted in the window never counts it twice, so
# operator restarts and re-reconciles cannot eat the organization's budget.
_RATE_LIMIT_LUA = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZSCORE', key, member) then return {1, 0} end
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""


def connection_options(redis_url: str) -> dict[str, Any]:
    """Connection kwargs for redis-py and bullmq from a ``redis://`` URL.

    ``socket_timeout=None``: redis-py 8 defaults to a 5 s socket timeout, under which
    blocking reads (BZPOPMIN, XREAD) time out and silently stall idle consumers.
    """
    opts: dict[str, Any] = dict(parse_url(redis_url))
    opts["socket_timeout"] = None
    opts.setdefault("socket_connect_timeout", 5)
    return opts


class QueueBackend:
    """Producer-side access to every OperationQueue's Redis queue."""

    def __init__(self, redis_url: str) -> None:
        self._opts = connection_options(redis_url)
        self.redis: aioredis.Redis = aioredis.Redis(**self._opts, decode_responses=True)
        self._queues: dict[str, Queue] = {}
        self._rate_limit = self.redis.register_script(_RATE_LIMIT_LUA)

    def queue(self, name: str) -> Queue:
        q = self._queues.get(name)
        if q is None:
            q = Queue(name, {"connection": dict(self._opts), "prefix": QUEUE_PREFIX})
            self._queues[name] = q
        return q

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), timeout=3))
        except REDIS_ERRORS:
            return False

    async def enqueue(
        self,
        queue: str,
        payload: JobPayload,
        *,
        priority: int,
        attempts: int,
        backoff_seconds: int,
        keep_completed_seconds: int,
        keep_failed_seconds: int,
    ) -> None:
        """Add the operation's job; a job with the same id already there is left as it is."""
        opts: dict[str, Any] = {
            "jobId": payload.uid,
            "priority": priority,
            "attempts": attempts,
            "removeOnComplete": {"age": keep_completed_seconds},
            "removeOnFail": {"age": keep_failed_seconds},
        }
        if attempts > 1:
            opts["backoff"] = {"type": "exponential", "delay": backoff_seconds * 1000}
        await self.queue(queue).add(JOB_NAME, payload.model_dump(by_alias=True), opts)

    async def snapshot(self, queue: str, job_id: str) -> JobSnapshot | None:
        """The job's state and bookkeeping, or None when Redis has no such job."""
        q = self.queue(queue)
        # State first, then the hash. BullMQ finishes a job in one Lua script (state and
        # hash together), so a hash read after the state is at least as new as it. The
        # other order can pair a stale hash (no return value yet) with "completed" and
        # freeze a Succeeded status without its result.
        state = await cast(Awaitable[str], q.getJobState(job_id))
        if state == "unknown":
            return None
        job = await q.getJob(job_id)
        if job is None:
            return None
        snap = self._snap(state, job)
        if state == "active":
            snap = replace(snap, worker=await self._lock_holder_name(queue, job_id))
        return snap

    async def _lock_holder_name(self, queue: str, job_id: str) -> str | None:
        """The registered pod name of the worker holding the job's lock, if any."""
        token = await self.redis.get(f"{QUEUE_PREFIX}:{queue}:{job_id}:lock")
        if not token:
            return None
        name = await self.redis.get(worker_name_key(queue, lock_holder(str(token))))
        return str(name) if name else None

    @staticmethod
    def _snap(state: str, job: Any) -> JobSnapshot:
        progress = job.progress if isinstance(job.progress, dict) else None
        return JobSnapshot(
            state=state,
            attempts_made=int(job.attemptsMade or 0),
            attempts_started=int(getattr(job, "attemptsStarted", 0) or 0),
            max_attempts=int(job.opts.get("attempts", 1) or 1),
            progress=progress,
            returnvalue=job.returnvalue if isinstance(job.returnvalue, dict) else None,
            failed_reason=job.failedReason or None,
            processed_on_ms=int(job.processedOn or 0) or None,
            finished_on_ms=int(job.finishedOn or 0) or None,
            stalled_counter=int(getattr(job, "stalledCounter", 0) or 0),
        )

    async def cancel(self, queue: str, job_id: str) -> CancelOutcome:
        """Remove a job that has not started; ask the worker holding a running one to abort."""
        # The marker first: a worker that picks the job up from now on sees it and stops.
        await self.redis.set(cancel_key(queue, job_id), "1", ex=7 * 24 * 3600)
        snap = await self.snapshot(queue, job_id)
        if snap is None:
            return "absent"
        if snap.state in ("completed", "failed"):
            return "finished"
        if snap.state != "active":
            removed = await cast(Awaitable[int], self.queue(queue).remove(job_id))
            if removed:
                return "removed"
        await self.redis.publish(cancel_channel(queue), job_id)
        return "signalled"

    async def forget(self, queue: str, job_id: str) -> None:
        """Drop a finished or cancelled job and its cancel marker (operation deleted)."""
        await cast(Awaitable[int], self.queue(queue).remove(job_id))
        await self.redis.delete(cancel_key(queue, job_id))

    async def counts(self, queue: str) -> dict[str, int]:
        raw = await self.queue(queue).getJobCounts(
            "waiting", "active", "delayed", "prioritized", "completed", "failed"
        )
        return {k: int(v or 0) for k, v in raw.items()}

    async def load(self, queue: str, *, due_within_seconds: float = 15) -> QueueLoad:
        """What the scaler needs: the counts, delayed jobs due soon, how many distinct
        workers hold active jobs (from the job locks, whose token starts with the worker's
        id), and the pods they run in (each worker registers its pod name under its id)."""
        counts = await self.counts(queue)
        base = f"{QUEUE_PREFIX}:{queue}"
        horizon = int((time.time() + due_within_seconds) * 1000) * 0x1000
        due_soon = int(await self.redis.zcount(f"{base}:delayed", "-inf", horizon))
        active_ids = [str(i) for i in await self.redis.lrange(f"{base}:active", 0, -1)]
        holders: list[str] = []
        pods: set[str] = set()
        if active_ids:
            tokens = await self.redis.mget([f"{base}:{job_id}:lock" for job_id in active_ids])
            holders = sorted({lock_holder(str(t)) for t in tokens if t})
        if holders:
            names = await self.redis.mget([worker_name_key(queue, h) for h in holders])
            pods = {str(n) for n in names if n}
        return QueueLoad(
            waiting=counts.get("waiting", 0),
            prioritized=counts.get("prioritized", 0),
            active=counts.get("active", 0),
            delayed_due_soon=due_soon,
            busy_workers=len(holders),
            busy_pods=frozenset(pods),
        )

    async def is_paused(self, queue: str) -> bool:
        return bool(await self.queue(queue).isPaused())

    async def set_paused(self, queue: str, paused: bool) -> None:
        q = self.queue(queue)
        await cast(Awaitable[None], q.pause() if paused else q.resume())

    async def clean(self, queue: str, completed_seconds: int, failed_seconds: int) -> int:
        """Delete completed/failed jobs older than the retention; returns how many went."""
        q = self.queue(queue)
        gone = await q.clean(completed_seconds * 1000, 1000, "completed")
        gone += await q.clean(failed_seconds * 1000, 1000, "failed")
        return len(gone)

    async def acquire_rate(
        self, queue: str, organization: str, member: str, limit: int, window_seconds: int
    ) -> float:
        """Count ``member`` against the organization's window; 0 when allowed, else seconds to
        wait until a slot frees."""
        now_ms = int(time.time() * 1000)
        allowed, wait_ms = await self._rate_limit(
            keys=[f"aop:{queue}:ratelimit:{organization}"],
            args=[now_ms, window_seconds * 1000, limit, member],
        )
        return 0.0 if int(allowed) else max(int(wait_ms), 1) / 1000

    async def follow_events(
        self, queue: str, *, stop: asyncio.Event, block_ms: int = 5000
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """Yield ``(event, fields)`` from the queue's BullMQ event stream, from now on.

        Reads the stream directly rather than through bullmq's QueueEvents so that a Redis
        restart resumes from the last id seen instead of ending the consumer.
        """
        key = f"{QUEUE_PREFIX}:{queue}:events"
        last_id = "$"
        while not stop.is_set():
            try:
                data = await self.redis.xread({key: last_id}, block=block_ms, count=500)
            except REDIS_ERRORS as e:
                log.warning("event stream of queue %s unavailable: %s", queue, e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2)
                continue
            streams = cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], data or [])
            for _stream, entries in streams:
                for entry_id, fields in entries:
                    last_id = entry_id
                    yield fields.get("event", ""), fields

    async def close(self) -> None:
        for q in self._queues.values():
            await q.close()
        self._queues.clear()
        await self.redis.aclose()


EventCallback = Callable[[str, dict[str, str]], Awaitable[None]]

"""Prometheus metrics of the operator, served on ``/metrics``.

Queue depth and desired replicas are exported per queue so that users who prefer an HPA
or KEDA can scale workers from them instead of the built-in scaler.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

QUEUE_JOBS = Gauge(
    "aop_queue_jobs", "Jobs in an OperationQueue by BullMQ state", ["queue", "state"]
)
QUEUE_BACKLOG = Gauge(
    "aop_queue_backlog",
    "Jobs that need a worker now: waiting + prioritized + active + delayed jobs due soon",
    ["queue"],
)
WORKERS_DESIRED = Gauge("aop_workers_desired", "Worker replicas the scaler wants", ["queue"])
WORKERS_READY = Gauge("aop_workers_ready", "Worker replicas ready", ["queue"])
REDIS_UP = Gauge("aop_redis_up", "1 when the operator reaches Redis")
ENQUEUED = Counter("aop_jobs_enqueued_total", "Jobs enqueued", ["queue", "priority"])
REQUEUED = Counter(
    "aop_jobs_requeued_total", "Jobs enqueued again after Redis lost them", ["queue"]
)
PHASE_TRANSITIONS = Counter(
    "aop_operation_phase_transitions_total", "Operation phase changes", ["phase"]
)
SCALE_EVENTS = Counter("aop_scale_events_total", "Worker Deployment scale changes", ["queue"])
SYNC_SECONDS = Histogram(
    "aop_operation_sync_seconds",
    "Time to reconcile one operation",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

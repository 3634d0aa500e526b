"""The operator's settings, read once from the environment (``AOP_`` prefix)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _default_namespace() -> str:
    if _SA_NAMESPACE.exists():
        return _SA_NAMESPACE.read_text().strip()
    return "default"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_list(name: str) -> tuple[str, ...]:
    """A comma-separated list; blanks dropped."""
    return tuple(v.strip() for v in os.environ.get(name, "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    """Everything an operator process is configured with."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis holding the BullMQ queues (``AOP_REDIS_URL``, else ``REDIS_URL``)."""

    namespace: str = "default"
    """The operator's own namespace: OperationQueues and worker Deployments live here."""

    watch_namespaces: tuple[str, ...] = ()
    """Namespaces whose AutonomousOperations are served; empty means cluster-wide."""

    resync_seconds: int = 10
    """How often every unfinished operation is compared with its job in Redis, so a missed
    event or a lost job is noticed within this time."""

    queue_status_seconds: int = 5
    """How often OperationQueue status (counts, health) is refreshed."""

    http_port: int = 8080
    """Port of ``/healthz`` and ``/metrics``."""

    delete_timeout_seconds: int = 60
    """How long deletion waits for Redis to remove an operation's job; after that the
    finalizer is released anyway (the job, if it still exists, is aborted by the worker's
    consent re-check or expires with the queue's retention)."""

    cancel_grace_seconds: int = 30
    """How long a cancelled running job may take to stop before the operation is marked
    Cancelled without the worker's confirmation."""

    scaler_enabled: bool = True
    """Whether the operator scales worker Deployments itself (off: leave it to HPA/KEDA
    using the exported metrics)."""

    worker_image: str = "ghcr.io/autonomous-dev/autonomous-operator:latest"
    """Image of worker pods when a queue's ``spec.workers.image`` is empty (the Helm chart
    sets it to the image the operator itself runs)."""

    worker_image_pull_policy: str = "IfNotPresent"
    """Pull policy of worker containers (``AOP_WORKER_IMAGE_PULL_POLICY``)."""

    worker_image_pull_secrets: tuple[str, ...] = ()
    """Secrets in the operator's namespace for pulling the worker image from a private
    registry (``AOP_WORKER_IMAGE_PULL_SECRETS``, comma-separated names)."""

    worker_service_account: str = ""
    """ServiceAccount of worker pods when a queue names none."""

    worker_grace_seconds: int = 300
    """How long a stopping worker pod may finish its jobs (SIGTERM drain); pods get 30 s
    more as ``terminationGracePeriodSeconds``."""

    redis_secret_name: str = ""
    """When set, worker pods read the Redis URL from this Secret (key ``redis_secret_key``)
    instead of getting it as a plain value."""

    redis_secret_key: str = "url"

    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=os.environ.get("AOP_REDIS_URL")
            or os.environ.get("REDIS_URL")
            or cls.redis_url,
            namespace=os.environ.get("AOP_NAMESPACE") or _default_namespace(),
            watch_namespaces=_env_list("AOP_WATCH_NAMESPACES"),
            resync_seconds=_env_int("AOP_RESYNC_SECONDS", cls.resync_seconds),
            queue_status_seconds=_env_int("AOP_QUEUE_STATUS_SECONDS", cls.queue_status_seconds),
            http_port=_env_int("AOP_HTTP_PORT", cls.http_port),
            delete_timeout_seconds=_env_int(
                "AOP_DELETE_TIMEOUT_SECONDS", cls.delete_timeout_seconds
            ),
            cancel_grace_seconds=_env_int("AOP_CANCEL_GRACE_SECONDS", cls.cancel_grace_seconds),
            scaler_enabled=os.environ.get("AOP_SCALER_ENABLED", "true").lower()
            not in ("0", "false", "no"),
            worker_image=os.environ.get("AOP_WORKER_IMAGE") or cls.worker_image,
            worker_image_pull_policy=os.environ.get("AOP_WORKER_IMAGE_PULL_POLICY")
            or cls.worker_image_pull_policy,
            worker_image_pull_secrets=_env_list("AOP_WORKER_IMAGE_PULL_SECRETS"),
            worker_service_account=os.environ.get("AOP_WORKER_SERVICE_ACCOUNT", ""),
            worker_grace_seconds=_env_int("AOP_WORKER_GRACE_SECONDS", cls.worker_grace_seconds),
            redis_secret_name=os.environ.get("AOP_REDIS_SECRET_NAME", ""),
            redis_secret_key=os.environ.get("AOP_REDIS_SECRET_KEY", cls.redis_secret_key),
        )

"""Spec and status of the three custom resources as pydantic models.

The CRD schemas in ``crds/`` are generated from these models (``scripts/gen-crds.py``),
so the API server and the Python code can never disagree about a field.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Service(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    NOOP = "noop"


class OperationType(StrEnum):
    API_CREDENTIAL_GENERATION = "api_credential_generation"
    CREDENTIAL_ROTATION = "credential_rotation"
    TOKEN_REFRESH = "token_refresh"
    SIMULATE = "simulate"


#: Which operations each service's agent implements.
SERVICE_OPERATIONS: dict[Service, frozenset[OperationType]] = {
    Service.SHOPIFY: frozenset(
        {
            OperationType.API_CREDENTIAL_GENERATION,
            OperationType.CREDENTIAL_ROTATION,
            OperationType.TOKEN_REFRESH,
        }
    ),
    Service.WOOCOMMERCE: frozenset(
        {OperationType.API_CREDENTIAL_GENERATION, OperationType.CREDENTIAL_ROTATION}
    ),
    Service.NOOP: frozenset({OperationType.SIMULATE}),
}


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    DEFERRED = "deferred"


class Phase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RATE_LIMITED = "RateLimited"
    BLOCKED = "Blocked"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_PHASES


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})


class SecretRef(_Model):
    name: str


class RetryPolicy(_Model):
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_seconds: int = Field(default=5, ge=0, le=3600)


class OperationSpec(_Model):
    organization_id: str
    user_id: str
    service: Service
    operation: OperationType
    priority: Priority = Priority.NORMAL
    queue: str = "default"
    config: dict[str, Any] = Field(default_factory=dict)
    credentials_secret_ref: SecretRef | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    cancel: bool = False


class Progress(_Model):
    percent: int = Field(default=0, ge=0, le=100)
    message: str = ""
    step: str = ""


class OperationResult(_Model):
    secret_name: str | None = None
    summary: str = ""


class Condition(_Model):
    """A Kubernetes-shaped condition (metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


class OperationStatus(_Model):
    model_config = ConfigDict(extra="ignore")

    phase: Phase = Phase.PENDING
    job_id: str | None = None
    queue: str | None = None
    attempts: int = 0
    progress: Progress | None = None
    result: OperationResult | None = None
    reason: str | None = None
    message: str | None = None
    retry_after: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class WorkerSpec(_Model):
    image: str = "ghcr.io/autonomous-dev/autonomous-operator:latest"
    concurrency: int = Field(default=2, ge=1, le=64)
    min_replicas: int = Field(default=0, ge=0)
    max_replicas: int = Field(default=4, ge=0)
    resources: dict[str, Any] = Field(default_factory=dict)
    env: list[dict[str, Any]] = Field(default_factory=list)
    service_account_name: str | None = None


class ScalingSpec(_Model):
    enabled: bool = True
    scale_down_delay_seconds: int = Field(default=60, ge=0)
    poll_interval_seconds: int = Field(default=15, ge=1)


class OrganizationRateLimit(_Model):
    limit: int = Field(default=10, ge=1)
    window_seconds: int = Field(default=3600, ge=1)


class RateLimitSpec(_Model):
    per_organization: OrganizationRateLimit = Field(default_factory=OrganizationRateLimit)


class RetentionSpec(_Model):
    completed_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    failed_seconds: int = Field(default=7 * 24 * 3600, ge=0)


class QueueSpec(_Model):
    paused: bool = False
    workers: WorkerSpec = Field(default_factory=WorkerSpec)
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    retention: RetentionSpec = Field(default_factory=RetentionSpec)


class WorkerCounts(_Model):
    desired: int = 0
    ready: int = 0


class QueueStatus(_Model):
    model_config = ConfigDict(extra="ignore")

    waiting: int = 0
    active: int = 0
    delayed: int = 0
    prioritized: int = 0
    completed: int = 0
    failed: int = 0
    paused: bool = False
    workers: WorkerCounts = Field(default_factory=WorkerCounts)
    redis_connected: bool = False
    last_scale_time: datetime | None = None
    conditions: list[Condition] = Field(default_factory=list)


class ConsentSpec(_Model):
    organization_id: str
    granted_by: str
    services: list[Service]
    operations: list[OperationType] = Field(default_factory=list)
    expires_at: datetime | None = None
    revoked: bool = False

"""Spec and status of the three custom resources as pydantic models.

The CRD schemas in ``crds/`` are generated from these models (``scripts/gen-crds.py``),
so the API server and the Python code can never disagree about a field. Every field's
``description`` is what ``kubectl explain`` prints, so it is written for the user.

Rules that span several fields (the service/operation pair, credentials required unless
``noop``, immutability) are CEL rules in the CRD (see ``aop_contracts.crdgen``), not model
validators: the API server rejects such resources before any Python code sees them, and
the operator reports the same problems as a ``Failed`` phase rather than a parse error.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

#: RFC 1123 label: what Kubernetes accepts as a namespace or Service name.
DNS_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: RFC 1123 subdomain: what Kubernetes accepts as a Secret or ConfigMap name.
DNS_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: Upper bound on the number of top-level keys in ``spec.config``. Every service's config
#: model has far fewer fields; the bound keeps a runaway object out of etcd and Redis.
CONFIG_MAX_PROPERTIES: Final = 32


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Service(StrEnum):
    """The registry of agents: which site an operation automates."""

    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    NOOP = "noop"

    @property
    def needs_credentials(self) -> bool:
        """Whether the agent logs into a store and so needs ``credentialsSecretRef``."""
        return self is not Service.NOOP


class OperationType(StrEnum):
    """What the agent does on the site; each service implements a subset."""

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
    """Scheduling class of an operation in its queue; ``critical`` runs first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    DEFERRED = "deferred"


class Phase(StrEnum):
    """Where an operation is in its life cycle."""

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
    """A reference to a Secret in the same namespace as the referring resource."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of the Secret, in the same namespace as this resource.",
    )


class RetryPolicy(_Model):
    """How often a failed operation is retried and how long to wait in between."""

    attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description=(
            "Total number of tries, the first one included (1-10). Only transient failures "
            "are retried; permanent ones (bad credentials, consent revoked, invalid config) "
            "fail at once."
        ),
    )
    backoff_seconds: int = Field(
        default=5,
        ge=0,
        le=3600,
        description=(
            "Delay before the first retry, in seconds; it doubles after every further "
            "failure (exponential backoff)."
        ),
    )


class OperationSpec(_Model):
    """What to automate, for whom, and how to schedule it."""

    organization_id: str = Field(
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description=(
            "Organization the operation acts for: lowercase letters, digits and '-', at most "
            "63 characters. It must match the namespace's autonomous.dev/organization label "
            "when there is one, and an unexpired OperationConsent in the namespace must "
            "cover it. Immutable."
        ),
    )
    user_id: str = Field(
        min_length=1,
        max_length=253,
        description="User who requested the operation; recorded for audit and in Events.",
    )
    service: Service = Field(
        description=(
            "Agent that runs the operation: shopify, woocommerce, or noop (a simulated job "
            "for tests and demos). Immutable."
        ),
    )
    operation: OperationType = Field(
        description=(
            "What the agent does. shopify: api_credential_generation, credential_rotation, "
            "token_refresh. woocommerce: api_credential_generation, credential_rotation. "
            "noop: simulate. Immutable."
        ),
    )
    priority: Priority = Field(
        default=Priority.NORMAL,
        description=(
            "Scheduling class in the queue: critical, high, normal, low or deferred. Higher "
            "classes are picked first; within a class, older operations go first."
        ),
    )
    queue: str = Field(
        default="default",
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Name of the OperationQueue (in the operator's namespace) that runs it.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        max_length=CONFIG_MAX_PROPERTIES,
        description=(
            "Service-specific settings, validated by the operator against the agent's own "
            "model; an invalid config ends the operation Failed before it is queued. "
            "shopify and woocommerce take storeUrl (required), headless and timeoutSeconds "
            "among others; noop/simulate takes durationSeconds, steps, failAttempts "
            f"(transient failures before success) and permanentFailure. At most "
            f"{CONFIG_MAX_PROPERTIES} keys."
        ),
    )
    credentials_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "Secret in the same namespace holding the store login (keys username and "
            "password) the agent signs in with. Required for every service but noop. The "
            "operator never copies its values into status, Events, logs or the job."
        ),
    )
    result_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "Secret in the same namespace the created credentials are written to; default "
            "<metadata.name>-credentials. credential_rotation and token_refresh read the "
            "credentials to rotate from it, so naming the result Secret of an earlier "
            "operation rotates what that one created, in place. An existing Secret is "
            "written only if it carries the label app.kubernetes.io/managed-by="
            "autonomous-operator (every result Secret does). Immutable."
        ),
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="Retries of transient failures: number of attempts and backoff.",
    )
    cancel: bool = Field(
        default=False,
        description=(
            "Set to true to cancel the operation: a queued job is removed, a running one is "
            "aborted, and the phase becomes Cancelled. Cannot be set back to false."
        ),
    )


class Progress(_Model):
    """Progress the worker reports while the operation runs."""

    percent: int = Field(default=0, ge=0, le=100, description="Completion, 0-100.")
    message: str = Field(default="", description="Human-readable description of the step.")
    step: str = Field(default="", description="Machine-readable name of the current step.")


class OperationResult(_Model):
    """What a successful operation produced; never a secret value."""

    secret_name: str | None = Field(
        default=None,
        description=(
            "Secret in the same namespace holding the credentials the agent created. It is "
            "owned by the operation and deleted with it."
        ),
    )
    summary: str = Field(default="", description="Human-readable summary of the outcome.")


class Condition(_Model):
    """A Kubernetes-shaped condition (metav1.Condition)."""

    type: str = Field(
        description="Type of the condition in CamelCase, e.g. Succeeded, Failed or Ready."
    )
    status: Literal["True", "False", "Unknown"] = Field(
        description="Whether the condition holds: True, False or Unknown."
    )
    reason: str = Field(description="Machine-readable CamelCase reason for the last transition.")
    message: str = Field(
        default="", description="Human-readable details about the last transition."
    )
    last_transition_time: datetime = Field(
        description="When the condition last changed from one status to another (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the resource the condition was computed from.",
    )


class OperationStatus(_Model):
    """Observed state of an operation; written only by the operator."""

    model_config = ConfigDict(extra="ignore")

    phase: Phase = Field(
        default=Phase.PENDING,
        description=(
            "Life-cycle phase: Pending, then Queued, RateLimited or Blocked, then Running, "
            "and finally Succeeded, Failed or Cancelled."
        ),
    )
    job_id: str | None = Field(
        default=None,
        description="Id of the BullMQ job running the operation (the resource's UID).",
    )
    queue: str | None = Field(default=None, description="OperationQueue the job was enqueued in.")
    attempts: int = Field(default=0, ge=0, description="Number of attempts started so far.")
    worker: str | None = Field(
        default=None,
        description=(
            "Worker pod running the job, or the one that ran its last attempt: "
            "`kubectl logs` it to follow the agent."
        ),
    )
    progress: Progress | None = Field(
        default=None, description="Latest progress reported by the worker."
    )
    result: OperationResult | None = Field(
        default=None, description="Outcome of a successful operation."
    )
    reason: str | None = Field(
        default=None,
        description=(
            "Machine-readable CamelCase reason for the current phase, e.g. ConsentMissing "
            "or ConsentRevoked."
        ),
    )
    message: str | None = Field(
        default=None, description="Human-readable explanation of the current phase."
    )
    retry_after: datetime | None = Field(
        default=None,
        description="While RateLimited: when the organization's rate limit admits it again.",
    )
    queued_at: datetime | None = Field(
        default=None, description="When the job was enqueued (RFC 3339)."
    )
    started_at: datetime | None = Field(
        default=None, description="When a worker first started the job (RFC 3339)."
    )
    finished_at: datetime | None = Field(
        default=None, description="When the operation reached a terminal phase (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the spec the operator last acted on.",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Standard conditions, including Succeeded and Failed, so that "
            "`kubectl wait --for=condition=Succeeded` works."
        ),
    )


class WorkerSpec(_Model):
    """The worker Deployment that drains the queue."""

    image: str = Field(
        default="",
        description="Container image of the workers (it runs `aop-worker`). Empty: the "
        "image the operator was installed with (its AOP_WORKER_IMAGE).",
    )
    concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Jobs each worker pod runs at once (one browser context each).",
    )
    min_replicas: int = Field(
        default=0,
        ge=0,
        description="Fewest worker pods, even when the queue is empty; 0 scales to zero.",
    )
    max_replicas: int = Field(
        default=4,
        ge=0,
        description="Most worker pods; must be at least minReplicas.",
    )
    resources: dict[str, Any] = Field(
        default_factory=dict,
        description="Compute resources (requests, limits) of the worker container.",
    )
    env: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra environment variables (Kubernetes EnvVar objects) for the workers.",
    )
    service_account_name: str | None = Field(
        default=None,
        description="ServiceAccount the worker pods run as; the chart's one when unset.",
    )


class ScalingSpec(_Model):
    """How the operator sizes the worker Deployment from the queue's depth."""

    enabled: bool = Field(
        default=True,
        description="Scale workers from queue depth; when false the Deployment keeps minReplicas.",
    )
    scale_down_delay_seconds: int = Field(
        default=60,
        ge=0,
        description="How long the queue must need fewer workers before they are removed.",
    )
    poll_interval_seconds: int = Field(
        default=15,
        ge=1,
        description="How often the operator reads queue depth and updates the status.",
    )


class OrganizationRateLimit(_Model):
    """A sliding-window limit on how many operations one organization may start."""

    limit: int = Field(
        default=10, ge=1, description="Operations one organization may start per window."
    )
    window_seconds: int = Field(
        default=3600, ge=1, description="Length of the rate-limit window, in seconds."
    )


class RateLimitSpec(_Model):
    """Rate limits applied before an operation is enqueued."""

    per_organization: OrganizationRateLimit = Field(
        default_factory=OrganizationRateLimit,
        description=(
            "Per-organization limit; operations above it wait in phase RateLimited until "
            "status.retryAfter."
        ),
    )


class RetentionSpec(_Model):
    """How long finished jobs stay in Redis (the resources themselves are not deleted)."""

    completed_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="Seconds a completed job stays in Redis (default 7 days).",
    )
    failed_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="Seconds a failed job stays in Redis (default 7 days).",
    )


class QueueSpec(_Model):
    """A BullMQ queue (named after this resource) and the worker pool that drains it."""

    paused: bool = Field(
        default=False,
        description="Set to true to stop workers from picking up new jobs; running ones finish.",
    )
    workers: WorkerSpec = Field(
        default_factory=WorkerSpec, description="The worker pods that run the jobs."
    )
    scaling: ScalingSpec = Field(
        default_factory=ScalingSpec, description="Autoscaling of the workers."
    )
    rate_limit: RateLimitSpec = Field(
        default_factory=RateLimitSpec, description="Rate limits for operations in this queue."
    )
    retention: RetentionSpec = Field(
        default_factory=RetentionSpec, description="How long finished jobs are kept in Redis."
    )


class WorkerCounts(_Model):
    """Worker pods of the queue's Deployment."""

    desired: int = Field(default=0, ge=0, description="Replicas the operator asked for.")
    ready: int = Field(default=0, ge=0, description="Replicas that are ready.")


class QueueStatus(_Model):
    """Observed state of the queue in Redis and of its workers; written by the operator."""

    model_config = ConfigDict(extra="ignore")

    waiting: int = Field(default=0, ge=0, description="Jobs waiting for a worker.")
    active: int = Field(default=0, ge=0, description="Jobs running now.")
    delayed: int = Field(default=0, ge=0, description="Jobs waiting for a retry backoff.")
    prioritized: int = Field(default=0, ge=0, description="Jobs waiting in the priority set.")
    completed: int = Field(default=0, ge=0, description="Completed jobs still retained.")
    failed: int = Field(default=0, ge=0, description="Failed jobs still retained.")
    paused: bool = Field(default=False, description="Whether the queue is paused in Redis.")
    workers: WorkerCounts = Field(
        default_factory=WorkerCounts, description="Desired and ready worker pods."
    )
    redis_connected: bool = Field(
        default=False, description="Whether the operator reached Redis at the last poll."
    )
    last_scale_time: datetime | None = Field(
        default=None, description="When the operator last changed the worker replicas."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Standard conditions, e.g. Ready."
    )


class ConsentSpec(_Model):
    """An organization's consent to let the operator act for it."""

    organization_id: str = Field(
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description=(
            "Organization giving consent: lowercase letters, digits and '-', at most 63 characters."
        ),
    )
    granted_by: str = Field(
        min_length=1,
        max_length=253,
        description="Who granted the consent (a user or e-mail address), for audit.",
    )
    services: list[Service] = Field(
        min_length=1,
        description="Services the operator may automate for the organization.",
    )
    operations: list[OperationType] = Field(
        default_factory=list,
        description=(
            "Operations allowed on those services; empty allows every operation the listed "
            "services support."
        ),
    )
    expires_at: datetime | None = Field(
        default=None,
        description=(
            "When the consent expires (RFC 3339, e.g. 2030-01-01T00:00:00Z); never when unset."
        ),
    )
    revoked: bool = Field(
        default=False,
        description=(
            "Set to true to revoke the consent: queued operations become Blocked and "
            "workers refuse to start them."
        ),
    )

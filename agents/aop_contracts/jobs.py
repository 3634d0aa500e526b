"""The Redis job contract shared by the operator (producer) and the workers (consumers).

BullMQ-compatible: key prefix ``bull``, queue name = OperationQueue name, ``jobId`` = the
operation's UID. The payload carries references only, never a secret value.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from aop_contracts.models import Priority

QUEUE_PREFIX: Final = "bull"
#: Job name used for every operation job (BullMQ shows it in its tools).
JOB_NAME: Final = "operation"

#: BullMQ runs lower numbers first; every job carries one so none jumps the whole queue.
PRIORITY_MAP: Final[dict[Priority, int]] = {
    Priority.CRITICAL: 1,
    Priority.HIGH: 2,
    Priority.NORMAL: 3,
    Priority.LOW: 4,
    Priority.DEFERRED: 5,
}


class JobPayload(BaseModel):
    """``job.data``: enough for a worker to find everything else in the Kubernetes API."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    namespace: str
    name: str
    uid: str
    organization_id: str
    user_id: str
    service: str
    operation: str
    config: dict[str, Any]
    credentials_secret_name: str | None = None
    result_secret_name: str


class JobProgress(BaseModel):
    """``job.progress``: what the worker reports while it runs the job."""

    model_config = ConfigDict(extra="ignore")

    percent: int = 0
    message: str = ""
    step: str = ""


class JobResult(BaseModel):
    """``job.returnvalue``: what the worker hands back; no secret values."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    secret_name: str | None = None
    summary: str = ""


def result_secret_name(operation_name: str) -> str:
    """Name of the Secret an operation's credentials are written to."""
    return f"{operation_name}-credentials"[:253]


#: How long a worker's name stays registered without being renewed (it renews every third).
WORKER_NAME_TTL_SECONDS = 60


def worker_name_key(queue: str, worker_id: str) -> str:
    """Where a worker registers its pod name under its BullMQ worker id. A job lock's token
    starts with that id, so the operator can tell which pod holds which job."""
    return f"aop:{queue}:worker:{worker_id}"


def lock_holder(token: str) -> str:
    """The BullMQ worker id in a job lock's token (``<worker id>:<n>``)."""
    return token.split(":", 1)[0]


def cancel_channel(queue: str) -> str:
    """Pub/sub channel on which the operator asks workers to abort a running job."""
    return f"aop:{queue}:cancel"


def cancel_key(queue: str, job_id: str) -> str:
    """Marker a worker checks before it starts a job, so a cancel never races a pickup."""
    return f"aop:{queue}:cancelled:{job_id}"


# A failed job's ``failedReason`` reads "Reason: human message" so the operator can put a
# machine-readable reason (CamelCase, as Kubernetes conditions use) into status.
_FAILURE = re.compile(r"^(?P<reason>[A-Z][A-Za-z0-9]*): (?P<message>.*)$", re.DOTALL)


def format_failure(reason: str, message: str) -> str:
    """Encode a failure for ``failedReason``."""
    return f"{reason}: {message}"


def parse_failure(text: str | None) -> tuple[str, str]:
    """Split a ``failedReason`` into (reason, message); unknown shapes become ``JobFailed``."""
    if not text:
        return "JobFailed", "the job failed without a reason"
    m = _FAILURE.match(text)
    if m is None:
        return "JobFailed", text
    return m.group("reason"), m.group("message")

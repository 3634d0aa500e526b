"""Pure decisions about an AutonomousOperation: what its status should say.

No I/O here: every function takes plain values (the spec, the current status, a snapshot
of the job in Redis, the time) and returns plain values, so each rule is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aop_contracts.jobs import JobResult, parse_failure
from aop_contracts.models import Phase

#: Where BullMQ keeps a job that has not started (or waits for its next attempt).
_WAITING_STATES = frozenset({"waiting", "prioritized", "waiting-children", "paused", "wait"})


@dataclass(frozen=True)
class JobSnapshot:
    """What Redis says about one job at one moment."""

    state: str
    attempts_made: int = 0
    attempts_started: int = 0
    max_attempts: int = 1
    progress: dict[str, Any] | None = None
    returnvalue: dict[str, Any] | None = None
    failed_reason: str | None = None
    processed_on_ms: int | None = None
    finished_on_ms: int | None = None
    stalled_counter: int = 0
    #: The pod of the worker holding the job's lock (active jobs only).
    worker: str | None = None


@dataclass(frozen=True)
class Observation:
    """The status an operation should show, as far as its job tells."""

    phase: Phase
    reason: str
    message: str
    attempts: int
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: The worker pod that holds the job, or held its last attempt.
    worker: str | None = None


def _ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None


def observe_job(job: JobSnapshot, *, cancel_requested: bool) -> Observation:
    """Map a job's BullMQ state onto the operation's phase (and name its worker pod)."""
    obs = _observe_phase(job, cancel_requested=cancel_requested)
    return replace(obs, worker=job.worker[:253]) if job.worker else obs


def _observe_phase(job: JobSnapshot, *, cancel_requested: bool) -> Observation:
    # attemptsStarted counts pickups, attemptsMade counts finished attempts; a job picked
    # up again after its worker died has started more often than it has finished.
    attempts = max(job.attempts_started, job.attempts_made)
    progress = _clean_progress(job.progress)
    started = _ms(job.processed_on_ms)
    if job.state in ("completed", "failed") and not job.finished_on_ms:
        # A finished job always has finishedOn; without it the hash read is older than
        # the state read. Never freeze a terminal status from it: the next sync decides.
        return Observation(
            Phase.RUNNING, "Running", "finishing", max(attempts, 1), progress, started_at=started
        )
    if job.state == "completed":
        res = JobResult.model_validate(job.returnvalue or {})
        return Observation(
            Phase.SUCCEEDED,
            "Succeeded",
            res.summary or "the operation finished",
            max(attempts, 1),
            progress={**(progress or {}), "percent": 100},
            result={"secretName": res.secret_name, "summary": res.summary},
            started_at=started,
            finished_at=_ms(job.finished_on_ms),
        )
    if job.state == "failed":
        reason, message = parse_failure(job.failed_reason)
        phase = Phase.CANCELLED if cancel_requested or reason == "Cancelled" else Phase.FAILED
        if phase is Phase.CANCELLED:
            reason, message = "Cancelled", "cancelled while running"
        elif job.attempts_made >= job.max_attempts and job.max_attempts > 1:
            message = f"{message} (after {job.attempts_made} attempts)"
        return Observation(
            phase,
            reason,
            message,
            max(attempts, 1),
            progress,
            None,
            started,
            _ms(job.finished_on_ms),
        )
    if job.state == "active":
        msg = (progress or {}).get("message") or "running"
        return Observation(
            Phase.RUNNING, "Running", str(msg), max(attempts, 1), progress, started_at=started
        )
    if job.state == "delayed" and job.attempts_made > 0:
        reason, message = parse_failure(job.failed_reason)
        return Observation(
            Phase.RUNNING,
            "Retrying",
            f"attempt {job.attempts_made} of {job.max_attempts} failed ({reason}: {message}); "
            "retrying after backoff",
            attempts,
            progress,
            started_at=started,
        )
    if job.state in _WAITING_STATES and job.attempts_started > 0:
        return Observation(
            Phase.RUNNING,
            "Rescheduled",
            "the worker running this job stopped; waiting for another worker",
            attempts,
            progress,
            started_at=started,
        )
    return Observation(Phase.QUEUED, "Queued", "waiting for a worker", attempts)


def _clean_progress(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        percent = max(0, min(100, int(raw.get("percent", 0))))
    except (TypeError, ValueError):
        percent = 0
    return {
        "percent": percent,
        "message": str(raw.get("message", ""))[:1024],
        "step": str(raw.get("step", ""))[:253],
    }


# ---------------------------------------------------------------- conditions

CONDITION_TYPES = ("Admitted", "Succeeded", "Failed")


@dataclass(frozen=True)
class ConditionValue:
    type: str
    status: str
    reason: str
    message: str


def conditions_for(phase: Phase, reason: str, message: str) -> list[ConditionValue]:
    """The Kubernetes conditions an operation in ``phase`` carries."""
    admitted = phase in (Phase.QUEUED, Phase.RUNNING, Phase.SUCCEEDED) or (
        phase in (Phase.FAILED, Phase.CANCELLED) and reason not in _ADMISSION_FAILURES
    )
    out = [
        ConditionValue(
            "Admitted",
            "True" if admitted else "False",
            "Enqueued" if admitted else reason,
            "accepted and enqueued" if admitted else message,
        ),
        ConditionValue(
            "Succeeded",
            "True" if phase is Phase.SUCCEEDED else "False",
            reason,
            message,
        ),
        ConditionValue(
            "Failed",
            "True" if phase is Phase.FAILED else "False",
            reason,
            message,
        ),
    ]
    return out


_ADMISSION_FAILURES = frozenset(
    {"InvalidConfig", "TenancyMismatch", "UnknownService", "InvalidSpec"}
)


def merge_conditions(
    current: list[dict[str, Any]],
    wanted: list[ConditionValue],
    *,
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Conditions as they should be written: ``lastTransitionTime`` moves only when the
    status of a condition changes."""
    by_type = {c.get("type"): c for c in current}
    out: list[dict[str, Any]] = []
    for w in wanted:
        old = by_type.get(w.type)
        changed = old is None or old.get("status") != w.status
        out.append(
            {
                "type": w.type,
                "status": w.status,
                "reason": w.reason,
                "message": w.message[:32768],
                "lastTransitionTime": _iso(now)
                if changed
                else old.get("lastTransitionTime", _iso(now))
                if old
                else _iso(now),
                "observedGeneration": generation,
            }
        )
    return out


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds and a Z: jobs a few ms apart stay ordered."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- status patches


@dataclass
class StatusUpdate:
    """A status to write; ``fields`` holds only what changes besides phase/reason/message."""

    phase: Phase
    reason: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def build_status_patch(
    current: dict[str, Any], update: StatusUpdate, *, now: datetime, generation: int | None
) -> dict[str, Any]:
    """The merge patch for ``.status`` that applies ``update`` to ``current``."""
    patch: dict[str, Any] = {
        "phase": update.phase.value,
        "reason": update.reason,
        "message": update.message[:32768],
        "observedGeneration": generation,
        **update.fields,
    }
    if update.phase.terminal and not current.get("finishedAt") and "finishedAt" not in patch:
        patch["finishedAt"] = iso(now)
    if update.phase is not Phase.RATE_LIMITED and current.get("retryAfter"):
        patch["retryAfter"] = None
    patch["conditions"] = merge_conditions(
        current.get("conditions") or [],
        conditions_for(update.phase, update.reason, update.message),
        now=now,
        generation=generation,
    )
    return patch


def status_changed(current: dict[str, Any], patch: dict[str, Any]) -> bool:
    """Whether writing ``patch`` would change anything a user sees (timestamps of
    unchanged conditions aside)."""
    for key, value in patch.items():
        if key == "conditions":
            old = {
                c.get("type"): (c.get("status"), c.get("reason"), c.get("message"))
                for c in current.get("conditions") or []
            }
            new = {c["type"]: (c["status"], c["reason"], c["message"]) for c in value}
            if old != new:
                return True
        elif current.get(key) != value:
            return True
    return False


def observation_update(obs: Observation) -> StatusUpdate:
    """The status update that mirrors an observed job."""
    fields: dict[str, Any] = {"attempts": obs.attempts}
    if obs.progress is not None:
        fields["progress"] = obs.progress
    if obs.worker is not None:
        fields["worker"] = obs.worker
    if obs.result is not None:
        fields["result"] = obs.result
    if obs.started_at is not None:
        fields["startedAt"] = iso(obs.started_at)
    if obs.finished_at is not None:
        fields["finishedAt"] = iso(obs.finished_at)
    return StatusUpdate(obs.phase, obs.reason, obs.message, fields)

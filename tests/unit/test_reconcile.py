"""Phase mapping, conditions and status patches: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aop_contracts.models import Phase
from aop_operator.reconcile import (
    JobSnapshot,
    StatusUpdate,
    build_status_patch,
    iso,
    observation_update,
    observe_job,
    status_changed,
)

NOW = datetime(2026, 12, 4, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("job", "phase", "reason"),
    [
        (JobSnapshot("prioritized"), Phase.QUEUED, "Queued"),
        (JobSnapshot("waiting"), Phase.QUEUED, "Queued"),
        (JobSnapshot("delayed"), Phase.QUEUED, "Queued"),  # a delayed first attempt
        (JobSnapshot("active", attempts_started=1), Phase.RUNNING, "Running"),
        (
            JobSnapshot(
                "delayed",
                attempts_made=1,
                attempts_started=1,
                max_attempts=3,
                failed_reason="StoreTimeout: slow",
            ),
            Phase.RUNNING,
            "Retrying",
        ),
        (JobSnapshot("waiting", attempts_started=1), Phase.RUNNING, "Rescheduled"),
        (JobSnapshot("completed", attempts_made=1), Phase.RUNNING, "Running"),  # stale hash
        (
            JobSnapshot(
                "completed", finished_on_ms=5, attempts_made=1, returnvalue={"summary": "ok"}
            ),
            Phase.SUCCEEDED,
            "Succeeded",
        ),
        (
            JobSnapshot(
                "failed", finished_on_ms=5, attempts_made=1, failed_reason="InvalidCredentials: no"
            ),
            Phase.FAILED,
            "InvalidCredentials",
        ),
        (
            JobSnapshot("failed", finished_on_ms=5, attempts_made=1, failed_reason="boom"),
            Phase.FAILED,
            "JobFailed",
        ),
        (
            JobSnapshot(
                "failed", finished_on_ms=5, failed_reason="Cancelled: cancelled while running"
            ),
            Phase.CANCELLED,
            "Cancelled",
        ),
    ],
)
def test_observe_job_maps_states_to_phases(job: JobSnapshot, phase: Phase, reason: str) -> None:
    obs = observe_job(job, cancel_requested=False)
    assert (obs.phase, obs.reason) == (phase, reason)


def test_a_failed_job_of_a_cancelled_operation_is_cancelled() -> None:
    obs = observe_job(
        JobSnapshot("failed", failed_reason="StoreTimeout: x", finished_on_ms=5),
        cancel_requested=True,
    )
    assert obs.phase is Phase.CANCELLED


def test_success_carries_result_and_full_progress() -> None:
    job = JobSnapshot(
        "completed",
        attempts_made=2,
        attempts_started=2,
        progress={"percent": 80, "step": "x"},
        returnvalue={"secretName": "op-credentials", "summary": "key …1234"},
        processed_on_ms=1_000,
        finished_on_ms=2_000,
    )
    update = observation_update(observe_job(job, cancel_requested=False))
    assert update.fields["result"] == {"secretName": "op-credentials", "summary": "key …1234"}
    assert update.fields["progress"]["percent"] == 100
    assert update.fields["attempts"] == 2
    assert update.fields["startedAt"] == "1970-01-01T00:00:01.000Z"


def test_progress_is_clamped_and_truncated() -> None:
    job = JobSnapshot("active", progress={"percent": 250, "message": "m" * 5000, "step": 3})
    obs = observe_job(job, cancel_requested=False)
    assert obs.progress == {"percent": 100, "message": "m" * 1024, "step": "3"}


def test_final_failure_message_counts_attempts() -> None:
    job = JobSnapshot(
        "failed",
        attempts_made=3,
        max_attempts=3,
        failed_reason="StoreTimeout: t",
        finished_on_ms=5,
    )
    assert observe_job(job, cancel_requested=False).message == "t (after 3 attempts)"


def test_conditions_for_kubectl_wait() -> None:
    patch = build_status_patch(
        {}, StatusUpdate(Phase.SUCCEEDED, "Succeeded", "done"), now=NOW, generation=1
    )
    conds = {c["type"]: c for c in patch["conditions"]}
    assert conds["Succeeded"]["status"] == "True"
    assert conds["Failed"]["status"] == "False"
    assert conds["Admitted"]["status"] == "True"
    assert patch["finishedAt"] == "2026-12-04T12:00:00.123Z"
    assert conds["Succeeded"]["lastTransitionTime"] == "2026-12-04T12:00:00Z"


def test_admission_failures_are_not_admitted() -> None:
    patch = build_status_patch(
        {}, StatusUpdate(Phase.FAILED, "InvalidConfig", "bad"), now=NOW, generation=1
    )
    conds = {c["type"]: c for c in patch["conditions"]}
    assert conds["Admitted"]["status"] == "False"
    assert conds["Admitted"]["reason"] == "InvalidConfig"
    assert conds["Failed"]["status"] == "True"


def test_transition_time_moves_only_when_status_flips() -> None:
    first = build_status_patch({}, StatusUpdate(Phase.QUEUED, "Queued", "q"), now=NOW, generation=1)
    later = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    second = build_status_patch(
        {"conditions": first["conditions"]},
        StatusUpdate(Phase.RUNNING, "Running", "r"),
        now=later,
        generation=1,
    )
    times = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert times["Succeeded"] == "2026-12-04T12:00:00Z"  # still False: unchanged
    assert times["Admitted"] == "2026-12-04T12:00:00Z"


def test_rate_limit_marker_is_cleared_after_admission() -> None:
    patch = build_status_patch(
        {"retryAfter": "2026-12-04T12:30:00Z"},
        StatusUpdate(Phase.QUEUED, "Queued", "q"),
        now=NOW,
        generation=1,
    )
    assert patch["retryAfter"] is None


def test_unchanged_status_is_not_written_again() -> None:
    patch = build_status_patch({}, StatusUpdate(Phase.QUEUED, "Queued", "q"), now=NOW, generation=1)
    current = dict(patch)
    again = build_status_patch(
        current,
        StatusUpdate(Phase.QUEUED, "Queued", "q"),
        now=datetime(2026, 12, 5, tzinfo=UTC),
        generation=1,
    )
    assert not status_changed(current, again)
    assert status_changed(
        current,
        build_status_patch(
            current, StatusUpdate(Phase.RUNNING, "Running", "r"), now=NOW, generation=1
        ),
    )


def test_iso_keeps_milliseconds() -> None:
    assert iso(NOW) == "2026-12-04T12:00:00.123Z"
    assert iso(None) is None


def test_the_worker_pod_of_the_job_reaches_status() -> None:
    pod = "aop-worker-default-7f9-x2"
    running = observation_update(
        observe_job(
            JobSnapshot("active", progress={"percent": 10}, worker=pod), cancel_requested=False
        )
    )
    assert running.fields["worker"] == pod
    assert running.fields["progress"] == {"percent": 10, "message": "", "step": ""}
    # Unknown (no lock, or a worker that registered no name): status keeps what it had.
    assert (
        "worker"
        not in observation_update(observe_job(JobSnapshot("active"), cancel_requested=False)).fields
    )
    assert (
        "worker"
        not in observation_update(
            observe_job(JobSnapshot("completed", finished_on_ms=5), cancel_requested=False)
        ).fields
    )

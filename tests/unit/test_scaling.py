"""Desired replicas and scale-down stabilisation, table-driven."""

from __future__ import annotations

import pytest

from aop_operator.scaling import (
    BUSY_COST,
    DELETION_COST,
    QueueLoad,
    Stabilizer,
    deletion_costs,
    desired_replicas,
    scale_message,
)


@pytest.mark.parametrize(
    ("load", "concurrency", "lo", "hi", "paused", "expected"),
    [
        (QueueLoad(), 2, 0, 4, False, 0),  # idle queue scales to zero
        (QueueLoad(), 2, 1, 4, False, 1),  # ... but not below minReplicas
        (QueueLoad(waiting=1), 2, 0, 4, False, 1),
        (QueueLoad(waiting=2), 2, 0, 4, False, 1),
        (QueueLoad(waiting=3), 2, 0, 4, False, 2),  # ceil
        (QueueLoad(waiting=10), 2, 0, 4, False, 4),  # clamp to max
        (QueueLoad(prioritized=6), 2, 0, 4, False, 3),  # prioritized jobs count
        (QueueLoad(waiting=1, prioritized=2, active=3), 2, 0, 10, False, 3),
        (QueueLoad(active=4), 2, 0, 4, False, 2),  # running jobs need their workers
        (QueueLoad(delayed_due_soon=3), 1, 0, 4, False, 3),  # retries about to fire
        (QueueLoad(waiting=8), 2, 0, 4, True, 0),  # paused queue: minReplicas
        (QueueLoad(waiting=8), 2, 1, 4, True, 1),
        (QueueLoad(waiting=8, active=2, busy_workers=2), 2, 0, 4, True, 2),  # never kill busy
        (QueueLoad(active=2, busy_workers=2), 4, 0, 4, False, 2),  # spread over 2 workers
        (QueueLoad(active=5, busy_workers=5), 1, 0, 3, False, 5),  # busy beats max
        (QueueLoad(waiting=5), 0, 0, 4, False, 4),  # concurrency 0 treated as 1
        (QueueLoad(waiting=5), 2, 3, 1, False, 3),  # max below min: min wins
    ],
)
def test_desired_replicas(
    load: QueueLoad, concurrency: int, lo: int, hi: int, paused: bool, expected: int
) -> None:
    got = desired_replicas(
        load, concurrency=concurrency, min_replicas=lo, max_replicas=hi, paused=paused
    )
    assert got == expected


def test_backlog_counts_every_kind_of_pending_work() -> None:
    assert QueueLoad(waiting=1, prioritized=2, active=3, delayed_due_soon=4).backlog == 10


def test_scale_up_is_immediate_and_scale_down_waits_for_the_delay() -> None:
    s = Stabilizer(60, now=0)
    assert s.recommend(4, now=0) == 4
    assert s.recommend(1, now=10) == 4
    assert s.seconds_until_change(now=10) == 50
    assert s.recommend(0, now=59) == 4
    assert s.recommend(0, now=61) == 1  # the recommendation of t=10 is still in the window
    assert s.recommend(0, now=71) == 0
    assert s.seconds_until_change(now=71) is None
    assert s.recommend(3, now=72) == 3  # up again at once


def test_restart_does_not_flap() -> None:
    # The operator restarts while 3 replicas run and the queue is idle: nothing is
    # removed before a full delay has passed.
    s = Stabilizer(30, now=1000, current=3)
    assert s.recommend(0, now=1000) == 3
    assert s.recommend(0, now=1029) == 3
    assert s.recommend(0, now=1031) == 0


def test_zero_delay_follows_demand() -> None:
    s = Stabilizer(0, now=0)
    assert s.recommend(2, now=0) == 2
    assert s.recommend(0, now=0.001) == 0


def test_scale_message() -> None:
    assert scale_message(0, 3, QueueLoad(waiting=6), 2) == "scaled 0 → 3: backlog 6, concurrency 2"
    assert scale_message(3, 2, QueueLoad(active=3, busy_workers=2), 2).endswith(", 2 busy")


def test_deletion_costs_spare_busy_pods_and_touch_only_what_changes() -> None:
    assert DELETION_COST == "controller.kubernetes.io/pod-deletion-cost"
    pods: dict[str, str | None] = {
        "idle-new": None,  # nothing to do
        "busy-new": None,  # gets the cost
        "busy-marked": BUSY_COST,  # already right
        "idle-was-busy": BUSY_COST,  # loses it
    }
    busy = frozenset({"busy-new", "busy-marked", "gone-already"})
    assert deletion_costs(pods, busy) == {"busy-new": BUSY_COST, "idle-was-busy": None}
    assert deletion_costs({}, busy) == {}
    assert int(BUSY_COST) > 0

"""How many worker replicas a queue needs: pure functions of counts, settings and time.

Scale-up follows demand at once; scale-down follows the highest recommendation seen
during the last ``scaleDownDelaySeconds`` (the same stabilisation an HPA applies), so a
queue that empties for a moment keeps its workers, and an operator restart, which seeds
the window with the replicas already running, never flaps them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueLoad:
    """What the queue holds right now."""

    waiting: int = 0
    prioritized: int = 0
    active: int = 0
    #: Delayed jobs (retries in backoff, scheduled jobs) that fall due very soon.
    delayed_due_soon: int = 0
    #: Distinct workers that hold at least one active job.
    busy_workers: int = 0
    #: Pods of the workers holding active jobs (what a scale-down should spare).
    busy_pods: frozenset[str] = frozenset()

    @property
    def backlog(self) -> int:
        """Jobs that need a worker now or in a moment."""
        return self.waiting + self.prioritized + self.active + self.delayed_due_soon


def desired_replicas(
    load: QueueLoad,
    *,
    concurrency: int,
    min_replicas: int,
    max_replicas: int,
    paused: bool = False,
) -> int:
    """clamp(ceil(backlog / concurrency), min, max), but never fewer than the workers that
    hold active jobs. A paused queue needs only ``min_replicas`` (plus the busy ones)."""
    concurrency = max(concurrency, 1)
    max_replicas = max(max_replicas, min_replicas)
    wanted = 0 if paused else math.ceil(load.backlog / concurrency)
    target = min(max(wanted, min_replicas), max_replicas)
    return max(target, load.busy_workers)


class Stabilizer:
    """Holds scale-down back for ``delay`` seconds; lets scale-up through at once."""

    def __init__(self, delay: float, *, now: float, current: int | None = None) -> None:
        self.delay = delay
        self._window: deque[tuple[float, int]] = deque()
        if current is not None:
            # What already runs counts as a recommendation made now: after a restart the
            # operator waits a full delay before it removes anything.
            self._window.append((now, current))

    def recommend(self, desired: int, *, now: float) -> int:
        """The replicas to run, given this recommendation at time ``now``."""
        self._window.append((now, desired))
        while self._window and now - self._window[0][0] > self.delay:
            self._window.popleft()
        return max(d for _, d in self._window)

    def seconds_until_change(self, *, now: float) -> float | None:
        """When an older, higher recommendation leaves the window (a scale-down may
        become due then); None when nothing is held back."""
        if not self._window:
            return None
        latest = self._window[-1][1]
        held = [t for t, d in self._window if d > latest]
        if not held:
            return None
        return max(0.0, max(held) + self.delay - now)


def scale_message(old: int, new: int, load: QueueLoad, concurrency: int) -> str:
    """The Event text of one scale change."""
    return f"scaled {old} → {new}: backlog {load.backlog}, concurrency {concurrency}" + (
        f", {load.busy_workers} busy" if load.busy_workers else ""
    )


#: Pod annotation the ReplicaSet controller reads when it picks pods to remove: lower
#: cost goes first.
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
BUSY_COST = "1000"


def deletion_costs(pods: dict[str, str | None], busy: frozenset[str]) -> dict[str, str | None]:
    """The annotation changes that make a scale-down remove idle pods before busy ones.

    ``pods`` maps each worker pod to its current deletion-cost annotation (None: unset).
    A busy pod gets ``BUSY_COST``; an idle one loses the annotation (cost 0). Only pods
    whose annotation must change are returned (value None means remove it)."""
    changes: dict[str, str | None] = {}
    for name, current in pods.items():
        wanted = BUSY_COST if name in busy else None
        if current != wanted:
            changes[name] = wanted
    return changes

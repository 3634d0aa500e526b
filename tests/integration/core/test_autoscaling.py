"""Worker pods that scale themselves: backlog → replicas → pods (KWOK) → real workers.

KWOK moves scheduled worker pods to Running, and ``scripts/local_pods.py`` starts one real
``aop-worker`` per Running pod, so every job here is done by a worker the scaler asked for.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from builders import consent, noop, queue

pytestmark = pytest.mark.integration

DEPLOYMENT = "aop-worker-default"


def deployment(kube: Any) -> dict[str, Any] | None:
    obj: dict[str, Any] | None = kube.get("deployment", DEPLOYMENT)
    return obj


def replicas(kube: Any) -> int:
    d = deployment(kube)
    return int(d["spec"]["replicas"]) if d else -1


def running_pods(kube: Any) -> int:
    out = kube.cluster.kubectl(
        "get",
        "pods",
        "-n",
        kube.ns,
        "-l",
        "autonomous.dev/queue=default",
        "--field-selector",
        "status.phase=Running",
        "-o",
        "json",
    ).stdout
    return sum(1 for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp"))


def scaling_queue(**workers: Any) -> dict[str, Any]:
    w = {"concurrency": 2, "minReplicas": 0, "maxReplicas": 4, "image": "aop:test", **workers}
    return queue(
        workers=w,
        scaling={"scaleDownDelaySeconds": 4},
        rateLimit={"perOrganization": {"limit": 100}},
    )


def test_burst_scales_out_to_max_then_back_to_zero(kube: Any, procs: Any) -> None:
    kube.apply(scaling_queue(), consent())
    procs.operator()
    procs.pod_runner()
    kube.wait_for("the worker Deployment", lambda: deployment(kube))
    assert replicas(kube) == 0
    names = [f"burst-{i}" for i in range(10)]
    kube.apply(*[noop(n, steps=4, durationSeconds=4) for n in names])
    kube.wait_for("4 replicas", lambda: replicas(kube) == 4, timeout=30)
    kube.wait_for("4 Running pods", lambda: running_pods(kube) == 4, timeout=30)
    for n in names:
        assert kube.wait_phase(n, "Succeeded", "Failed", timeout=120)["phase"] == "Succeeded"
    kube.wait_for("scale to zero", lambda: replicas(kube) == 0, timeout=60)
    kube.wait_for("no pods", lambda: running_pods(kube) == 0, timeout=60)
    q = kube.get("aopq", "default")["status"]
    assert q["workers"]["desired"] == 0 and q.get("lastScaleTime")
    events = kube.cluster.kubectl(
        "get",
        "events",
        "-n",
        kube.ns,
        "--field-selector",
        "reason=Scaled",
        "-o",
        "jsonpath={.items[*].message}",
    ).stdout
    assert "→ 4: backlog" in events and "→ 0: backlog 0" in events, events
    # Every job was done by a worker the scaler started.
    assert "started aop-worker" in procs.all[-1].log()


def test_min_and_max_replicas_are_honoured(kube: Any, procs: Any) -> None:
    kube.apply(scaling_queue(minReplicas=1, maxReplicas=2), consent())
    procs.operator()
    procs.pod_runner()
    kube.wait_for("one idle replica", lambda: replicas(kube) == 1, timeout=30)
    names = [f"capped-{i}" for i in range(8)]
    kube.apply(*[noop(n, steps=2, durationSeconds=2) for n in names])
    seen = set()

    def done() -> bool:
        seen.add(replicas(kube))
        return all(kube.status(n).get("phase") == "Succeeded" for n in names)

    kube.wait_for("the capped burst", done, timeout=120, interval=0.3)
    assert max(seen) == 2, seen
    kube.wait_for("back to minReplicas", lambda: replicas(kube) == 1, timeout=60)
    time.sleep(5)  # longer than the scale-down delay: it must stay at 1
    assert replicas(kube) == 1


def test_paused_queue_scales_to_min(kube: Any, procs: Any) -> None:
    kube.apply(scaling_queue(), consent())
    procs.operator()
    kube.wait_for("the worker Deployment", lambda: deployment(kube))
    kube.patch("aopq", "default", {"spec": {"paused": True}})
    kube.apply(*[noop(f"held-{i}") for i in range(4)])
    for i in range(4):
        kube.wait_phase(f"held-{i}", "Queued")
    time.sleep(3)  # several scaler passes with a backlog of 4
    assert replicas(kube) == 0
    kube.patch("aopq", "default", {"spec": {"paused": False}})
    kube.wait_for("scale out after resume", lambda: replicas(kube) >= 2, timeout=30)


def test_worker_spec_change_rolls_the_deployment(kube: Any, procs: Any) -> None:
    kube.apply(scaling_queue(minReplicas=1), consent())
    procs.operator()
    kube.wait_for("the worker Deployment", lambda: deployment(kube))
    kube.patch(
        "aopq",
        "default",
        {"spec": {"workers": {"image": "aop:v2", "env": [{"name": "X", "value": "1"}]}}},
    )

    def rolled() -> bool:
        d = deployment(kube)
        c = d["spec"]["template"]["spec"]["containers"][0] if d else {}
        return c.get("image") == "aop:v2" and {"name": "X", "value": "1"} in c.get("env", [])

    kube.wait_for("the new template", rolled, timeout=30)
    rs = json.loads(kube.cluster.kubectl("get", "rs", "-n", kube.ns, "-o", "json").stdout)
    images = {r["spec"]["template"]["spec"]["containers"][0]["image"] for r in rs["items"]}
    assert {"aop:test", "aop:v2"} <= images, images


def test_operator_restart_does_not_flap_replicas(kube: Any, procs: Any) -> None:
    kube.apply(scaling_queue(), consent())
    kube.apply(
        queue(
            workers={"concurrency": 1, "maxReplicas": 3, "image": "aop:test"},
            scaling={"scaleDownDelaySeconds": 20},
            rateLimit={"perOrganization": {"limit": 100}},
        )
    )
    op = procs.operator()
    kube.apply(*[noop(f"hold-{i}", steps=2, durationSeconds=1) for i in range(3)])
    kube.wait_for("3 replicas", lambda: replicas(kube) == 3, timeout=30)
    procs.pod_runner()
    for i in range(3):
        kube.wait_phase(f"hold-{i}", "Succeeded", timeout=60)
    op.stop()
    procs.operator()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:  # well inside the 20 s delay
        assert replicas(kube) == 3
        time.sleep(0.5)


def running_pod_objects(kube: Any) -> list[dict[str, Any]]:
    out = kube.cluster.kubectl(
        "get", "pods", "-n", kube.ns, "-l", "autonomous.dev/queue=default", "-o", "json"
    ).stdout
    return [
        p
        for p in json.loads(out)["items"]
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def test_scale_down_removes_the_idle_pod_and_spares_the_busy_one(kube: Any, procs: Any) -> None:
    """Two pods, one of them running a long job: when the backlog shrinks to that job, the
    scale-down removes the idle pod (the busy one carries a pod-deletion-cost), and the
    long job finishes on its first attempt in the pod that started it."""
    kube.apply(scaling_queue(concurrency=1, maxReplicas=2), consent())
    procs.operator()
    procs.pod_runner()
    kube.wait_for("the worker Deployment", lambda: deployment(kube))
    kube.apply(
        noop("long", steps=10, durationSeconds=30), noop("short", steps=1, durationSeconds=1)
    )
    kube.wait_for("2 replicas", lambda: replicas(kube) == 2, timeout=30)
    busy = kube.wait_for(
        "the long job's pod", lambda: kube.status("long").get("worker"), timeout=90
    )
    assert kube.wait_phase("short", "Succeeded", "Failed", timeout=90)["phase"] == "Succeeded"
    kube.wait_for("the scale-down to 1", lambda: replicas(kube) == 1, timeout=60)
    kube.wait_for("one pod left", lambda: len(running_pod_objects(kube)) == 1, timeout=60)
    (left,) = running_pod_objects(kube)
    assert left["metadata"]["name"] == busy
    assert left["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] == "1000"
    status = kube.wait_phase("long", "Succeeded", "Failed", timeout=120)
    assert status["phase"] == "Succeeded" and status["attempts"] == 1, status
    assert status["worker"] == busy

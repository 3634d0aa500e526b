"""AutonomousOperation → BullMQ job → worker → status, end to end.

Real kube-apiserver + etcd, real Redis, the real ``aop-operator`` and ``aop-worker``
processes. Assertions are about outcomes; deadlines are generous.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest
from builders import ORG, consent, noop, queue

pytestmark = pytest.mark.integration


def redis_cli(redis_url: str, *args: str) -> str:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    return subprocess.run(
        ["redis-cli", "-p", port, *args], capture_output=True, text=True, check=True
    ).stdout


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == kind)


def test_noop_succeeds_with_progress_and_kubectl_wait(ready: Any, procs: Any) -> None:
    procs.operator()
    procs.worker()
    ready.apply(noop("simple", steps=5, durationSeconds=5))
    seen: set[int] = set()

    def progressed() -> bool:
        st = ready.status("simple")
        pct = (st.get("progress") or {}).get("percent")
        if pct is not None:
            seen.add(pct)
        return st.get("phase") == "Succeeded"

    ready.wait_for("noop to succeed", progressed, timeout=60, interval=0.1)
    assert seen & {20, 40, 60, 80}, f"no intermediate progress seen, only {seen}"
    waited = ready.cluster.kubectl(
        "wait", "--for=condition=Succeeded", "aop/simple", "-n", ready.ns, "--timeout=10s"
    )
    assert "condition met" in waited.stdout
    st = ready.status("simple")
    assert st["jobId"] == ready.get("aop", "simple")["metadata"]["uid"]
    assert st["attempts"] == 1
    assert st["progress"]["percent"] == 100
    assert st["result"]["summary"].startswith("simulated 5 steps")
    assert condition(st, "Succeeded")["status"] == "True"
    assert condition(st, "Failed")["status"] == "False"
    for field in ("queuedAt", "startedAt", "finishedAt"):
        assert st.get(field), field
    events = ready.cluster.kubectl(
        "get",
        "events",
        "-n",
        ready.ns,
        "--field-selector",
        "involvedObject.name=simple",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout.split()
    assert {"Queued", "Running", "Succeeded"} <= set(events), events


def test_transient_failures_retry_until_success(ready: Any, procs: Any) -> None:
    procs.operator()
    procs.worker()
    ready.apply(noop("flaky", failAttempts=2, attempts=3, backoff=1))
    st = ready.wait_phase("flaky", "Succeeded", "Failed", timeout=60)
    assert st["phase"] == "Succeeded", st
    assert st["attempts"] == 3


def test_more_failures_than_attempts_fails_with_reason(ready: Any, procs: Any) -> None:
    procs.operator()
    procs.worker()
    ready.apply(noop("doomed", failAttempts=5, attempts=2, backoff=1))
    st = ready.wait_phase("doomed", "Succeeded", "Failed", timeout=60)
    assert st["phase"] == "Failed"
    assert st["reason"] == "SimulatedFailure"
    assert st["attempts"] == 2
    assert condition(st, "Failed")["status"] == "True"


def test_permanent_failure_fails_after_one_attempt(ready: Any, procs: Any) -> None:
    procs.operator()
    procs.worker()
    ready.apply(noop("broken", permanentFailure=True, attempts=5))
    st = ready.wait_phase("broken", "Succeeded", "Failed", timeout=60)
    assert st["phase"] == "Failed"
    assert st["reason"] == "SimulatedPermanentFailure"
    assert st["attempts"] == 1


def test_priorities_order_execution(ready: Any, procs: Any) -> None:
    procs.operator()
    for name, prio in [
        ("p-deferred", "deferred"),
        ("p-normal", "normal"),
        ("p-critical", "critical"),
        ("p-low", "low"),
        ("p-high", "high"),
    ]:
        ready.apply(noop(name, priority=prio))
    for name in ("p-deferred", "p-normal", "p-critical", "p-low", "p-high"):
        ready.wait_phase(name, "Queued")
    procs.worker(concurrency=1)
    started = {}
    for name in ("p-deferred", "p-normal", "p-critical", "p-low", "p-high"):
        started[name] = ready.wait_phase(name, "Succeeded")["startedAt"]
    order = sorted(started, key=lambda n: (started[n], n))
    assert order == ["p-critical", "p-high", "p-normal", "p-low", "p-deferred"], started


def test_rate_limit_per_organization(ready: Any, procs: Any) -> None:
    ready.apply(
        queue(rateLimit={"perOrganization": {"limit": 10, "windowSeconds": 15}}),
        consent("globex", org="globex"),
    )
    procs.operator()
    names = [f"burst-{i:02d}" for i in range(12)]
    ready.apply(*[noop(n) for n in names])
    ready.apply(noop("other-org", org="globex"))

    def settled() -> dict[str, str] | None:
        phases = {n: ready.status(n).get("phase", "") for n in names}
        return phases if all(p in ("Queued", "RateLimited") for p in phases.values()) else None

    phases = ready.wait_for("admission of the burst", settled, timeout=60)
    limited = [n for n, p in phases.items() if p == "RateLimited"]
    assert len(limited) == 2, phases
    for n in limited:
        st = ready.status(n)
        assert st["retryAfter"] and st["reason"] == "RateLimited"
    assert ready.wait_phase("other-org", "Queued")["phase"] == "Queued"
    procs.worker(concurrency=4)
    for n in [*names, "other-org"]:
        assert ready.wait_phase(n, "Succeeded", "Failed", timeout=90)["phase"] == "Succeeded"


def test_missing_then_granted_consent(ready: Any, procs: Any) -> None:
    procs.operator()
    procs.worker()
    ready.apply(noop("no-consent", org="initech"))
    st = ready.wait_phase("no-consent", "Blocked")
    assert st["reason"] == "ConsentMissing"
    assert condition(st, "Admitted")["status"] == "False"
    assert not st.get("jobId")
    ready.apply(consent("initech", org="initech"))
    assert ready.wait_phase("no-consent", "Succeeded", timeout=60)["attempts"] == 1


def test_revoked_consent_blocks(ready: Any, procs: Any) -> None:
    ready.apply(consent("acme", revoked=True))
    procs.operator()
    procs.worker()
    ready.apply(noop("revoked"))
    st = ready.wait_phase("revoked", "Blocked")
    assert st["reason"] == "ConsentRevoked"
    time.sleep(2)  # a worker is running: prove that nothing picks the operation up
    assert ready.status("revoked")["phase"] == "Blocked"


def test_consent_revoked_while_queued_is_caught_by_the_worker(ready: Any, procs: Any) -> None:
    procs.operator()
    ready.apply(noop("late-revoke"))
    ready.wait_phase("late-revoke", "Queued")
    ready.patch("aopconsent", ORG, {"spec": {"revoked": True}})
    procs.worker()
    st = ready.wait_phase("late-revoke", "Blocked", "Succeeded", timeout=60)
    assert st["phase"] == "Blocked" and st["reason"] == "ConsentRevoked", st
    ready.patch("aopconsent", ORG, {"spec": {"revoked": False}})
    assert ready.wait_phase("late-revoke", "Succeeded", timeout=60)["phase"] == "Succeeded"


def test_cancel_queued(ready: Any, procs: Any, redis_url: str) -> None:
    procs.operator()
    ready.apply(noop("cancel-me"))
    uid = ready.wait_phase("cancel-me", "Queued")["jobId"]
    ready.patch("aop", "cancel-me", {"spec": {"cancel": True}})
    st = ready.wait_phase("cancel-me", "Cancelled")
    assert st["reason"] == "Cancelled"
    assert redis_cli(redis_url, "exists", f"bull:default:{uid}").strip() == "0"


def test_cancel_running(ready: Any, procs: Any) -> None:
    procs.operator()
    worker = procs.worker()
    ready.apply(noop("long", steps=60, durationSeconds=60))
    ready.wait_for("progress", lambda: (ready.status("long").get("progress") or {}).get("percent"))
    ready.patch("aop", "long", {"spec": {"cancel": True}})
    st = ready.wait_phase("long", "Cancelled", timeout=30)
    assert st["message"] == "cancelled while running", st
    assert "cancelling job" in worker.log()


def test_delete_running(ready: Any, procs: Any, redis_url: str) -> None:
    procs.operator()
    worker = procs.worker()
    ready.apply(noop("doomed-run", steps=60, durationSeconds=60))
    uid = ready.wait_phase("doomed-run", "Running")["jobId"]
    ready.cluster.kubectl("delete", "aop", "doomed-run", "-n", ready.ns, "--timeout=30s")
    assert ready.get("aop", "doomed-run") is None
    ready.wait_for(
        "job gone from Redis",
        lambda: redis_cli(redis_url, "exists", f"bull:default:{uid}").strip() == "0",
        timeout=30,
    )
    ready.wait_for("worker to abort", lambda: "cancelling job" in worker.log(), timeout=10)


def test_operator_restart_mid_burst_loses_and_duplicates_nothing(ready: Any, procs: Any) -> None:
    ready.apply(queue(rateLimit={"perOrganization": {"limit": 100}}))
    op = procs.operator()
    procs.worker(concurrency=4)
    names = [f"restart-{i:02d}" for i in range(10)]
    ready.apply(*[noop(n, durationSeconds=1) for n in names])
    ready.wait_for(
        "some progress",
        lambda: any(ready.status(n).get("phase") in ("Running", "Succeeded") for n in names),
    )
    op.kill()
    more = [f"restart-late-{i}" for i in range(4)]
    ready.apply(*[noop(n, durationSeconds=1) for n in more])
    procs.operator()
    for n in [*names, *more]:
        st = ready.wait_phase(n, "Succeeded", "Failed", timeout=90)
        assert st["phase"] == "Succeeded", (n, st)
        assert st["attempts"] == 1, (n, st)


def test_redis_flush_requeues_everything(ready: Any, procs: Any, redis_url: str) -> None:
    ready.apply(queue(rateLimit={"perOrganization": {"limit": 100}}))
    procs.operator()
    names = [f"flush-{i:02d}" for i in range(20)]
    ready.apply(*[noop(n) for n in names])
    for n in names:
        ready.wait_phase(n, "Queued")
    redis_cli(redis_url, "flushall")
    procs.worker(concurrency=4)
    for n in names:
        st = ready.wait_phase(n, "Succeeded", "Failed", timeout=120)
        assert st["phase"] == "Succeeded", (n, st)


def test_killed_worker_job_is_finished_by_another(ready: Any, procs: Any) -> None:
    procs.operator()
    first = procs.worker(concurrency=1)
    ready.apply(noop("survivor", steps=10, durationSeconds=6))
    ready.wait_for(
        "progress", lambda: (ready.status("survivor").get("progress") or {}).get("percent")
    )
    first.signal(signal.SIGKILL)
    second = procs.worker(concurrency=1)
    st = ready.wait_phase("survivor", "Succeeded", "Failed", timeout=60)
    assert st["phase"] == "Succeeded", st
    assert "survivor" in second.log()


def test_queue_pause_and_resume(ready: Any, procs: Any) -> None:
    procs.operator()
    procs.worker()
    ready.patch("aopq", "default", {"spec": {"paused": True}})
    ready.wait_for(
        "queue paused",
        lambda: (ready.get("aopq", "default").get("status") or {}).get("paused") is True,
    )
    ready.apply(noop("while-paused"))
    ready.wait_phase("while-paused", "Queued")
    time.sleep(2)  # a worker runs: prove it takes nothing from a paused queue
    assert ready.status("while-paused")["phase"] == "Queued"
    q = ready.get("aopq", "default")["status"]
    assert q["waiting"] + q["prioritized"] >= 1, q
    ready.patch("aopq", "default", {"spec": {"paused": False}})
    assert ready.wait_phase("while-paused", "Succeeded", timeout=60)["phase"] == "Succeeded"


def test_tenancy_mismatch_fails(ready: Any, procs: Any) -> None:
    ready.cluster.kubectl("label", "namespace", ready.ns, "autonomous.dev/organization=globex")
    procs.operator()
    ready.apply(noop("wrong-tenant"))
    st = ready.wait_phase("wrong-tenant", "Failed")
    assert st["reason"] == "TenancyMismatch"
    assert "globex" in st["message"]


def test_invalid_config_fails_with_reason(ready: Any, procs: Any) -> None:
    procs.operator()
    ready.apply(noop("bad-config", steps=0, colour="blue"))
    st = ready.wait_phase("bad-config", "Failed")
    assert st["reason"] == "InvalidConfig"
    assert "steps" in st["message"] and "colour" in st["message"]
    assert condition(st, "Admitted")["status"] == "False"


def test_queue_status_reports_counts_and_health(ready: Any, procs: Any) -> None:
    procs.operator()
    ready.apply(noop("counted"))
    ready.wait_phase("counted", "Queued")

    def counted() -> dict[str, Any] | None:
        st = (ready.get("aopq", "default") or {}).get("status") or {}
        return st if st.get("prioritized", 0) + st.get("waiting", 0) >= 1 else None

    st = ready.wait_for("queue counts", counted)
    assert st["redisConnected"] is True
    assert {c["type"]: c["status"] for c in st["conditions"]}["RedisConnected"] == "True"


def test_sigterm_lets_the_active_job_finish(ready: Any, procs: Any) -> None:
    procs.operator()
    worker = procs.worker()
    ready.apply(noop("draining", steps=4, durationSeconds=3))
    ready.wait_phase("draining", "Running")
    worker.signal(signal.SIGTERM)
    assert worker.popen is not None
    assert worker.popen.wait(30) == 0
    st = ready.wait_phase("draining", "Succeeded", "Failed", timeout=30)
    assert st["phase"] == "Succeeded" and st["attempts"] == 1, st
    assert "1 active get" in worker.log()


def test_health_and_metrics_endpoints(ready: Any, procs: Any) -> None:
    import urllib.request

    procs.operator()
    procs.worker()
    ready.apply(noop("measured"))
    ready.wait_phase("measured", "Succeeded")
    base = f"http://127.0.0.1:{procs.http_port}"
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'aop_jobs_enqueued_total{priority="normal",queue="default"} 1.0' in text
    assert 'aop_operation_phase_transitions_total{phase="Succeeded"}' in text
    assert "aop_redis_up 1.0" in text
    assert 'aop_queue_backlog{queue="default"}' in text

"""Operator latencies on the real local control plane, Redis and KWOK.

1. apply → Queued: from the create request of an AutonomousOperation to the watch event
   that shows ``status.phase: Queued`` (100 operations, one after another).
2. progress → status: from a worker's ``job.updateProgress`` to the watch event showing
   that percent in ``status.progress`` (100 updates). The "worker" is a bullmq Worker in
   this process, so both ends read the same clock.
3. scale-out: from the first create request of a burst of 4 operations on an idle queue to
   the worker Deployment's ``spec.replicas`` > 0, and to all its pods Running under KWOK
   (20 bursts).

Run: ``uv run python bench/bench_operator.py [--ops 100] [--bursts 20]``; prints a table and
writes ``bench/results/operator.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "agents")]

from bullmq import Worker  # noqa: E402
from kubernetes_asyncio import client, config, watch  # noqa: E402

from aop_contracts import crd  # noqa: E402

NS = "bench"


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ms[int(len(ms) * 0.9) - 1], 1),
        "worst_ms": round(ms[-1], 1),
    }


def op_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": crd.API_VERSION,
        "kind": crd.OPERATION_KIND,
        "metadata": {"name": name},
        "spec": {
            "organizationId": "acme",
            "userId": "bench@acme.example",
            "service": "noop",
            "operation": "simulate",
            "config": {"durationSeconds": 0.1, "steps": 1},
            **spec,
        },
    }


class Bench:
    def __init__(self, api: client.ApiClient, redis_url: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.redis_url = redis_url

    async def create(self, body: dict[str, Any]) -> float:
        t0 = time.perf_counter()
        await self.custom.create_namespaced_custom_object(
            crd.GROUP, crd.VERSION, NS, crd.OPERATION_PLURAL, body
        )
        return t0

    async def watch_ops(self, on_event: Any, stop: asyncio.Event) -> None:
        # A watch on a CRD created seconds ago may get 429 while the API server's cache
        # for it initialises; start again.
        while not stop.is_set():
            try:
                await self._watch_ops(on_event, stop)
            except client.exceptions.ApiException as e:
                if e.status not in (410, 429, 500, 503):
                    raise
                await asyncio.sleep(0.2)

    async def _watch_ops(self, on_event: Any, stop: asyncio.Event) -> None:
        w = watch.Watch()
        async for ev in w.stream(
            self.custom.list_namespaced_custom_object,
            crd.GROUP,
            crd.VERSION,
            NS,
            crd.OPERATION_PLURAL,
            timeout_seconds=600,
        ):
            on_event(ev["object"], time.perf_counter())
            if stop.is_set():
                break

    async def apply_to_queued(self, n: int) -> list[float]:
        seen: dict[str, float] = {}
        started: dict[str, float] = {}
        stop = asyncio.Event()

        def on_event(obj: dict[str, Any], t: float) -> None:
            name = obj["metadata"]["name"]
            if (obj.get("status") or {}).get("phase") == "Queued" and name not in seen:
                seen[name] = t

        watcher = asyncio.create_task(self.watch_ops(on_event, stop))
        await asyncio.sleep(0.5)
        for i in range(n):
            name = f"queued-{i:03d}"
            started[name] = await self.create(op_body(name, queue="latency"))
            deadline = time.perf_counter() + 30
            while name not in seen and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
        stop.set()
        watcher.cancel()
        return [seen[k] - started[k] for k in started if k in seen]

    async def progress_lag(self, n: int, interval: float) -> list[float]:
        sent: dict[int, float] = {}
        lags: list[float] = []
        done = asyncio.Event()

        async def process(job: Any, token: str) -> dict[str, Any]:
            for pct in range(1, n + 1):
                sent[pct] = time.perf_counter()
                await job.updateProgress({"percent": pct, "message": f"{pct}", "step": "s"})
                await asyncio.sleep(interval)
            await done.wait()
            return {"summary": "bench"}

        opts = {
            "host": "127.0.0.1",
            "port": int(self.redis_url.rsplit(":", 1)[1].split("/")[0]),
            "socket_timeout": None,
        }
        worker = Worker("progress", process, {"connection": opts, "prefix": "bull"})
        seen: set[int] = set()
        stop = asyncio.Event()

        def on_event(obj: dict[str, Any], t: float) -> None:
            pct = ((obj.get("status") or {}).get("progress") or {}).get("percent")
            if isinstance(pct, int) and pct in sent and pct not in seen:
                seen.add(pct)
                lags.append(t - sent[pct])
                if len(seen) >= n:
                    done.set()

        watcher = asyncio.create_task(self.watch_ops(on_event, stop))
        await self.create(op_body("progress-lag", queue="progress"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), n * interval + 30)
        done.set()
        stop.set()
        watcher.cancel()
        await worker.close(force=True)
        return lags

    async def replicas(self) -> int:
        d = await self.apps.read_namespaced_deployment("aop-worker-scale", NS)
        return int(d.spec.replicas or 0)

    async def running_pods(self) -> int:
        pods = await self.core.list_namespaced_pod(NS, label_selector="autonomous.dev/queue=scale")
        return sum(
            1
            for p in pods.items
            if p.status.phase == "Running" and not p.metadata.deletion_timestamp
        )

    async def scale_out(self, bursts: int) -> tuple[list[float], list[float]]:
        to_replicas: list[float] = []
        to_running: list[float] = []
        for b in range(bursts):
            deadline = time.perf_counter() + 60
            # Polling the API on purpose: this waits for the previous burst to drain.
            while (  # noqa: ASYNC110
                await self.replicas() or await self.running_pods()
            ) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            names = [f"burst-{b:02d}-{i}" for i in range(4)]
            t0 = await self.create(op_body(names[0], queue="scale"))
            for n in names[1:]:
                await self.create(op_body(n, queue="scale"))
            t_rep = t_run = None
            while time.perf_counter() < t0 + 60:
                now = time.perf_counter()
                want = await self.replicas()
                if t_rep is None and want > 0:
                    t_rep = now
                if t_rep is not None and want and await self.running_pods() >= want:
                    t_run = time.perf_counter()
                    break
                await asyncio.sleep(0.01)
            if t_rep is not None:
                to_replicas.append(t_rep - t0)
            if t_run is not None:
                to_running.append(t_run - t0)
            for n in names:  # deleting removes the jobs: the queue idles and scales to 0
                await self.custom.delete_namespaced_custom_object(
                    crd.GROUP, crd.VERSION, NS, crd.OPERATION_PLURAL, n
                )
        return to_replicas, to_running


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        ["kubectl", *args], env=env, input=stdin, text=True, check=True, capture_output=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_environment(state: Path) -> tuple[dict[str, str], subprocess.Popen[bytes]]:
    """Control plane, CRDs, the bench namespace with its queues and consent, the operator."""
    subprocess.run(
        [str(ROOT / "scripts/cluster-up.sh"), str(state)], check=True, capture_output=True
    )
    env = dict(os.environ)
    for line in (state / "env").read_text().splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k] = v.strip('"').replace("$PATH", os.environ["PATH"])
    kubectl(env, "apply", "-f", str(ROOT / "crds"))
    kubectl(env, "wait", "--for=condition=Established", "-f", str(ROOT / "crds"))
    kubectl(env, "create", "namespace", NS)
    queues = []
    for name, workers in [
        ("latency", {}),
        ("progress", {}),
        ("scale", {"concurrency": 1, "maxReplicas": 4, "image": "x"}),
    ]:
        queues.append(
            {
                "apiVersion": crd.API_VERSION,
                "kind": crd.QUEUE_KIND,
                "metadata": {"name": name},
                "spec": {
                    "workers": workers,
                    "scaling": {"scaleDownDelaySeconds": 0, "enabled": name == "scale"},
                    "rateLimit": {"perOrganization": {"limit": 100000}},
                },
            }
        )
    consent = {
        "apiVersion": crd.API_VERSION,
        "kind": crd.CONSENT_KIND,
        "metadata": {"name": "acme"},
        "spec": {"organizationId": "acme", "grantedBy": "bench", "services": ["noop"]},
    }
    items = {"apiVersion": "v1", "kind": "List", "items": [*queues, consent]}
    kubectl(env, "apply", "-n", NS, "-f", "-", stdin=json.dumps(items))
    with (state / "operator.log").open("w") as log:
        operator = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/aop-operator"),
                "--namespace",
                NS,
                "--watch-namespace",
                NS,
                "--http-port",
                str(free_port()),
            ],
            env={**env, "AOP_REDIS_URL": env["REDIS_URL"]},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    time.sleep(3)
    return env, operator


async def measure(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=env["KUBECONFIG"], client_configuration=cfg)
    async with client.ApiClient(configuration=cfg) as api:
        bench = Bench(api, env["REDIS_URL"])
        queued = await bench.apply_to_queued(args.ops)
        lag = await bench.progress_lag(args.ops, args.progress_interval)
        reps, running = await bench.scale_out(args.bursts)
    return {
        "apply_to_queued": summary(queued),
        "progress_to_status": summary(lag),
        "burst_to_replicas": summary(reps),
        "burst_to_pods_running": summary(running),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ops", type=int, default=100)
    p.add_argument("--bursts", type=int, default=20)
    p.add_argument("--progress-interval", type=float, default=0.1)
    p.add_argument("--out", default=str(ROOT / "bench/results/operator.json"))
    args = p.parse_args()
    state = Path(tempfile.mkdtemp(prefix="aop-bench-"))
    operator = None
    try:
        env, operator = start_environment(state)
        results = asyncio.run(measure(args, env))
    finally:
        if operator is not None:
            operator.send_signal(signal.SIGTERM)
            operator.wait(20)
        subprocess.run([str(ROOT / "scripts/cluster-down.sh"), str(state)], capture_output=True)
    print(f"{'measurement':28} {'n':>4} {'median ms':>10} {'p90 ms':>8} {'worst ms':>9}")
    for k, v in results.items():
        print(f"{k:28} {v['n']:>4} {v['median_ms']:>10} {v['p90_ms']:>8} {v['worst_ms']:>9}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

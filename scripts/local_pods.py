"""Run one real ``aop-worker`` process for every worker pod that KWOK reports Running.

The local control plane has no kubelet: KWOK moves scheduled pods to Running without
starting anything. This stands in for the kubelet, for worker pods only, so the whole
loop (backlog → replicas → pods → workers → queue drained → back to zero) does real work
in tests and in ``make demo``. A pod that goes away gets SIGTERM'd, as a kubelet would.

    uv run python scripts/local_pods.py --namespace NS [--redis-url URL] [--log-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch

log = logging.getLogger("local_pods")
SELECTOR = "app.kubernetes.io/component=worker,app.kubernetes.io/managed-by=autonomous-operator"


class PodRunner:
    def __init__(self, namespace: str, redis_url: str, log_dir: Path, worker_bin: str) -> None:
        self.namespace = namespace
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.worker_bin = worker_bin
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    def _env(self, pod: Any) -> dict[str, str]:
        env = dict(os.environ)
        for var in pod.spec.containers[0].env or []:
            if var.value is not None:
                env[var.name] = var.value
            elif (
                var.value_from
                and var.value_from.field_ref
                and var.value_from.field_ref.field_path == "metadata.name"
            ):
                env[var.name] = pod.metadata.name
        # The pod may read Redis from a Secret; locally the URL is known.
        env["AOP_REDIS_URL"] = self.redis_url
        env["HOME"] = os.environ.get("HOME", "/tmp")
        env["AOP_ARTIFACTS_DIR"] = str(self.log_dir / "artifacts")
        return env

    async def sync_pod(self, pod: Any, deleted: bool = False) -> None:
        name = pod.metadata.name
        running = (
            not deleted
            and pod.metadata.deletion_timestamp is None
            and pod.status is not None
            and pod.status.phase == "Running"
        )
        proc = self.procs.get(name)
        if running and (proc is None or proc.returncode is not None):
            args = list(pod.spec.containers[0].args or [])
            queue = args[args.index("--queue") + 1] if "--queue" in args else "default"
            out = (self.log_dir / f"{name}.log").open("ab")
            self.procs[name] = await asyncio.create_subprocess_exec(
                self.worker_bin,
                "--queue",
                queue,
                env=self._env(pod),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
            out.close()
            log.info("pod %s Running: started aop-worker (pid %d)", name, self.procs[name].pid)
        elif not running and proc is not None:
            self.procs.pop(name)
            if proc.returncode is None:
                log.info("pod %s gone: SIGTERM to aop-worker (pid %d)", name, proc.pid)
                proc.send_signal(signal.SIGTERM)
                asyncio.get_running_loop().create_task(proc.wait())

    async def run(self, stop: asyncio.Event) -> None:
        cfg = client.Configuration()
        await config.load_kube_config(client_configuration=cfg)
        async with client.ApiClient(configuration=cfg) as api:
            core = client.CoreV1Api(api)
            while not stop.is_set():
                pods = await core.list_namespaced_pod(self.namespace, label_selector=SELECTOR)
                seen = {p.metadata.name for p in pods.items}
                for pod in pods.items:
                    await self.sync_pod(pod)
                for gone in set(self.procs) - seen:
                    proc = self.procs.pop(gone)
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                w = watch.Watch()
                stream = w.stream(
                    core.list_namespaced_pod,
                    self.namespace,
                    label_selector=SELECTOR,
                    resource_version=pods.metadata.resource_version,
                    timeout_seconds=30,
                )
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    async for event in stream:
                        await self.sync_pod(event["object"], deleted=event["type"] == "DELETED")
                        if stopper.done():
                            break
                except client.exceptions.ApiException as e:
                    log.warning("pod watch ended: %s", e)
                finally:
                    stopper.cancel()
                    w.stop()

    async def shutdown(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()


async def amain(args: argparse.Namespace) -> None:
    runner = PodRunner(args.namespace, args.redis_url, Path(args.log_dir), args.worker_bin)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(runner.run(stop))
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await runner.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--namespace", required=True)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--log-dir", default=".cluster/logs/pods")
    p.add_argument("--worker-bin", default=str(Path(sys.executable).parent / "aop-worker"))
    args = p.parse_args()
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()

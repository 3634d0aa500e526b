"""Run the product's pods as local processes on the local control plane's fake nodes.

The local control plane has no kubelet: KWOK moves scheduled pods to Running and nothing
more (scripts/kwok-pod-stages.yaml). This stands in for the kubelet for the two kinds of
pod the product creates, so that what they report is what really happened:

* **worker pods** (the operator's worker Deployments): one real ``aop-worker`` process per
  Running pod, SIGTERM'd when the pod goes away. The whole loop (backlog → replicas → pods
  → workers → queue drained → back to zero) does real work in tests and in ``make demo``.
* **kubectl pods** (every container runs a ``kubectl`` image: the chart's ``helm test``
  pod and its pre-delete Job): the init containers, then the containers, run as the local
  ``kubectl`` with their own args, as the pod's ServiceAccount (a token from the
  TokenRequest API, bound to the pod), with each configMap/emptyDir volume as a directory
  at its mount path. The real exit codes then go into the pod's status and the pod ends
  ``Succeeded`` or ``Failed`` — which is what ``helm test`` and ``helm uninstall`` wait for.

Any other pod stays Running, as KWOK left it.

    uv run python scripts/local_pods.py --namespace NS [--redis-url URL] [--log-dir DIR]
                                        [--kind worker|kubectl ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch

log = logging.getLogger("local_pods")
WORKER_LABELS = {
    "app.kubernetes.io/component": "worker",
    "app.kubernetes.io/managed-by": "autonomous-operator",
}
TOKEN_SECONDS = 3600
MESSAGE_TAIL = 2048  # bytes of a failed container's output kept in its status message


def image_name(image: str) -> str:
    """``registry.k8s.io/kubectl:v1.34.4`` → ``kubectl`` (no registry, path, tag or digest)."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def is_worker(pod: Any) -> bool:
    labels = pod.metadata.labels or {}
    return all(labels.get(k) == v for k, v in WORKER_LABELS.items())


def is_kubectl_pod(pod: Any) -> bool:
    containers = list(pod.spec.init_containers or []) + list(pod.spec.containers)
    return all(image_name(c.image or "") == "kubectl" for c in containers)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodRunner:
    def __init__(
        self,
        namespace: str,
        redis_url: str,
        log_dir: Path,
        worker_bin: str,
        kubectl_bin: str,
        kinds: frozenset[str] = frozenset(("worker", "kubectl")),
    ) -> None:
        self.namespace = namespace
        self.kinds = kinds
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.worker_bin = worker_bin
        self.kubectl_bin = kubectl_bin
        self.procs: dict[str, asyncio.subprocess.Process] = {}  # worker pod name → process
        self.runs: dict[str, asyncio.Task[None]] = {}  # kubectl pod uid → its run
        self.api_cfg = client.Configuration()
        self.core: Any = None

    # ------------------------------------------------------------------ worker pods

    def _worker_env(self, pod: Any) -> dict[str, str]:
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

    async def sync_worker(self, pod: Any, running: bool) -> None:
        name = pod.metadata.name
        proc = self.procs.get(name)
        if running and (proc is None or proc.returncode is not None):
            args = list(pod.spec.containers[0].args or [])
            queue = args[args.index("--queue") + 1] if "--queue" in args else "default"
            out = (self.log_dir / f"{name}.log").open("ab")
            self.procs[name] = await asyncio.create_subprocess_exec(
                self.worker_bin,
                "--queue",
                queue,
                env=self._worker_env(pod),
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

    # ------------------------------------------------------------------ kubectl pods

    def sync_kubectl_pod(self, pod: Any, running: bool) -> None:
        uid = pod.metadata.uid
        task = self.runs.get(uid)
        if (
            running
            and task is None
            and not (
                pod.status
                and pod.status.container_statuses
                and any(s.state and s.state.terminated for s in pod.status.container_statuses)
            )
        ):
            self.runs[uid] = asyncio.get_running_loop().create_task(self.run_kubectl_pod(pod))
        elif not running and task is not None and not task.done():
            log.info("pod %s gone while running: stopping it", pod.metadata.name)
            task.cancel()

    async def _service_account_kubeconfig(self, pod: Any, workdir: Path) -> Path:
        """A kubeconfig holding a token of the pod's ServiceAccount, bound to the pod (what
        the kubelet projects into a pod)."""
        sa = pod.spec.service_account_name or "default"
        request = await self.core.create_namespaced_service_account_token(
            sa,
            pod.metadata.namespace,
            {
                "spec": {
                    "expirationSeconds": TOKEN_SECONDS,
                    "boundObjectRef": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": pod.metadata.name,
                        "uid": pod.metadata.uid,
                    },
                }
            },
        )
        ca = workdir / "ca.crt"
        assert self.api_cfg.ssl_ca_cert, "the local kubeconfig names a CA"
        shutil.copyfile(self.api_cfg.ssl_ca_cert, ca)
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.api_cfg.host, "certificate-authority": str(ca)},
                }
            ],
            "users": [{"name": sa, "user": {"token": request.status.token}}],
            "contexts": [
                {
                    "name": "pod",
                    "context": {
                        "cluster": "local",
                        "user": sa,
                        "namespace": pod.metadata.namespace,
                    },
                }
            ],
            "current-context": "pod",
        }
        path = workdir / "kubeconfig"
        path.write_text(json.dumps(kubeconfig))  # JSON is YAML
        path.chmod(0o600)
        return path

    async def _volumes(self, pod: Any, workdir: Path) -> dict[str, Path]:
        """Each volume as a local directory; configMap volumes hold their keys as files."""
        dirs: dict[str, Path] = {}
        for volume in pod.spec.volumes or []:
            path = workdir / "volumes" / volume.name
            path.mkdir(parents=True)
            if volume.config_map is not None:
                cm = await self.core.read_namespaced_config_map(
                    volume.config_map.name, pod.metadata.namespace
                )
                for key, text in (cm.data or {}).items():
                    (path / key).write_text(text)
            elif volume.empty_dir is None and volume.projected is None:
                raise RuntimeError(f"volume {volume.name}: only configMap and emptyDir run locally")
            dirs[volume.name] = path
        return dirs

    async def _run_container(
        self, pod: Any, container: Any, kubeconfig: Path, volumes: dict[str, Path]
    ) -> tuple[int, str, str, str]:
        """Run one container to its end: (exit code, output, started, finished)."""
        mounts = {
            m.mount_path.rstrip("/"): volumes[m.name]
            for m in container.volume_mounts or []
            if m.name in volumes
        }

        def local(arg: str) -> str:
            flag, eq, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
            for mount, path in mounts.items():
                if value == mount or value.startswith(mount + "/"):
                    value = str(path) + value[len(mount) :]
                    break
            return flag + eq + value

        command = list(container.command or [])
        if command and image_name(command[0]) == "kubectl":
            command = command[1:]
        argv = [self.kubectl_bin, *(local(a) for a in command + list(container.args or []))]
        env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(kubeconfig)}
        env.update({v.name: local(v.value) for v in container.env or [] if v.value is not None})
        started = now()
        log.info("pod %s: container %s: %s", pod.metadata.name, container.name, " ".join(argv[1:]))
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            out, _ = await proc.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        text = out.decode(errors="replace")
        logfile = self.log_dir / f"{pod.metadata.name}.{container.name}.log"
        logfile.write_text(text)
        assert proc.returncode is not None
        return proc.returncode, text, started, now()

    @staticmethod
    def _terminated(
        container: Any, code: int, text: str, started: str, finished: str
    ) -> dict[str, Any]:
        state: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": finished,
        }
        if code != 0:
            state["message"] = text[-MESSAGE_TAIL:]
        return {
            "name": container.name,
            "image": container.image,
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {"terminated": state},
        }

    async def run_kubectl_pod(self, pod: Any) -> None:
        name, ns = pod.metadata.name, pod.metadata.namespace
        workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.log_dir))
        init_statuses: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        failed = False
        try:
            kubeconfig = await self._service_account_kubeconfig(pod, workdir)
            volumes = await self._volumes(pod, workdir)
            for c in pod.spec.init_containers or []:
                code, text, t0, t1 = await self._run_container(pod, c, kubeconfig, volumes)
                init_statuses.append(self._terminated(c, code, text, t0, t1))
                if code != 0:
                    failed = True
                    break
            if not failed:  # the containers of a pod run side by side
                results = await asyncio.gather(
                    *(self._run_container(pod, c, kubeconfig, volumes) for c in pod.spec.containers)
                )
                for c, (code, text, t0, t1) in zip(pod.spec.containers, results, strict=True):
                    statuses.append(self._terminated(c, code, text, t0, t1))
                    failed = failed or code != 0
            else:
                statuses = [
                    {
                        "name": c.name,
                        "image": c.image,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "PodInitializing"}},
                    }
                    for c in pod.spec.containers
                ]
        except (client.exceptions.ApiException, OSError, RuntimeError) as e:
            log.warning("pod %s could not run: %s", name, e)
            failed = True
            statuses = [
                self._terminated(c, 128, f"could not start locally: {e}", now(), now())
                for c in pod.spec.containers
            ]
        finally:  # the token and the volumes go with the run; logs stay in log_dir
            shutil.rmtree(workdir, ignore_errors=True)

        phase = "Failed" if failed else "Succeeded"
        t = now()
        body = {
            "status": {
                "phase": phase,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                    {
                        "type": "ContainersReady",
                        "status": "False",
                        "reason": "PodCompleted",
                        "lastTransitionTime": t,
                    },
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "PodCompleted",
                        "lastTransitionTime": t,
                    },
                ],
                "initContainerStatuses": init_statuses,
                "containerStatuses": statuses,
            }
        }
        try:
            await self.core.patch_namespaced_pod_status(name, ns, body)
        except client.exceptions.ApiException as e:
            if e.status != 404:
                raise
        log.info("pod %s %s", name, phase)

    # ------------------------------------------------------------------ the watch

    async def sync_pod(self, pod: Any, deleted: bool = False) -> None:
        running = (
            not deleted
            and pod.metadata.deletion_timestamp is None
            and pod.status is not None
            and pod.status.phase == "Running"
        )
        if is_worker(pod) and "worker" in self.kinds:
            await self.sync_worker(pod, running)
        elif is_kubectl_pod(pod) and "kubectl" in self.kinds:
            self.sync_kubectl_pod(pod, running)

    async def run(self, stop: asyncio.Event) -> None:
        await config.load_kube_config(client_configuration=self.api_cfg)
        async with client.ApiClient(configuration=self.api_cfg) as api:
            self.core = client.CoreV1Api(api)
            while not stop.is_set():
                pods = await self.core.list_namespaced_pod(self.namespace)
                seen = {p.metadata.name for p in pods.items}
                for pod in pods.items:
                    await self.sync_pod(pod)
                for gone in set(self.procs) - seen:
                    proc = self.procs.pop(gone)
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                w = watch.Watch()
                stream = w.stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
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
        for task in self.runs.values():
            task.cancel()
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
    runner = PodRunner(
        args.namespace,
        args.redis_url,
        Path(args.log_dir),
        args.worker_bin,
        args.kubectl_bin,
        frozenset(args.kind or ("worker", "kubectl")),
    )
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
    p.add_argument("--kubectl-bin", default=shutil.which("kubectl") or "kubectl")
    p.add_argument(
        "--kind",
        action="append",
        choices=("worker", "kubectl"),
        help="run only these kinds of pod (repeatable; default: both)",
    )
    args = p.parse_args()
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()

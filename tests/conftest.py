"""Session-wide real infrastructure for the integration tests.

The control plane and Redis come from the same scripts ``make cluster`` uses, started in
a temporary folder on free loopback ports and stopped (by PID) at the end of the session.
Unit tests never touch these fixtures, so ``pytest tests/unit`` needs none of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
CHROMIUM = os.environ.get("AOP_CHROMIUM_PATH", "/usr/lib/chromium/chromium")


@dataclass
class Cluster:
    """A running local control plane plus Redis, as ``scripts/cluster-up.sh`` leaves it."""

    state_dir: Path
    kubeconfig: str
    redis_url: str
    bin_dir: Path
    env: dict[str, str] = field(repr=False)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster, capturing text output."""
        proc = subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc


def _read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            values[key] = value.strip('"')
    return values


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real etcd + kube-apiserver + kube-controller-manager + redis-server for the session."""
    state = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ)
    up = subprocess.run(
        [str(SCRIPTS / "cluster-up.sh"), str(state)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=3600,
    )
    if up.returncode != 0:
        subprocess.run([str(SCRIPTS / "cluster-down.sh"), str(state)], check=False)
        pytest.fail(f"scripts/cluster-up.sh failed:\n{up.stderr[-4000:]}")
    exported = _read_env(state / "env")
    env["KUBECONFIG"] = exported["KUBECONFIG"]
    env["REDIS_URL"] = exported["REDIS_URL"]
    env["PATH"] = f"{state / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    try:
        yield Cluster(
            state_dir=state,
            kubeconfig=exported["KUBECONFIG"],
            redis_url=exported["REDIS_URL"],
            bin_dir=state / "bin",
            env=env,
        )
    finally:
        subprocess.run([str(SCRIPTS / "cluster-down.sh"), str(state)], check=False, timeout=120)


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The project's CRDs installed and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(ROOT / "crds")
    )
    return cluster


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    # The controller-manager creates the default ServiceAccount asynchronously.
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def redis_url(cluster: Cluster) -> str:
    """The session's Redis, emptied before the test so no job of another test is left."""
    port = cluster.redis_url.rsplit(":", 1)[1].split("/")[0]
    subprocess.run(["redis-cli", "-p", port, "flushall"], check=True, capture_output=True)
    return cluster.redis_url


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium binary; skips when it is not installed."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


# ---------------------------------------------------------------------------------------
# The product's own processes (operator, workers), started per test and stopped by PID.


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One process of ours, with its log file for post-mortems."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        import signal as _signal

        if self.popen is None:
            return None
        if self.alive():
            self.popen.send_signal(_signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def kill(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Procs:
    """Starts the product's processes for one test and stops all of them afterwards."""

    def __init__(self, cluster: Cluster, namespace: str, tmp: Path, redis_url: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.tmp = tmp
        self.redis_url = redis_url
        self.all: list[Proc] = []
        self.http_port = free_port()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(self.cluster.env)
        env.update(
            {
                "REDIS_URL": self.redis_url,
                "AOP_REDIS_URL": self.redis_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def operator(self, **env: str) -> Proc:
        defaults = {"AOP_RESYNC_SECONDS": "3", "AOP_QUEUE_STATUS_SECONDS": "2"}
        defaults.update(env)
        argv = [
            str(ROOT / ".venv/bin/aop-operator"),
            "--namespace",
            self.namespace,
            "--watch-namespace",
            self.namespace,
            "--http-port",
            str(self.http_port),
        ]
        proc = Proc(
            f"operator-{len(self.all)}",
            argv,
            self.env(**defaults),
            self.tmp / f"operator-{len(self.all)}.log",
        )
        self.all.append(proc.start())
        self._wait_http(proc)
        return proc

    def _wait_http(self, proc: Proc, timeout: float = 60) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited:\n{proc.log()[-4000:]}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.http_port}/healthz", timeout=1
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{proc.name} did not serve /healthz:\n{proc.log()[-4000:]}")

    def worker(self, queue: str = "default", concurrency: int = 2, *extra: str, **env: str) -> Proc:
        argv = [
            str(ROOT / ".venv/bin/aop-worker"),
            "--queue",
            queue,
            "--concurrency",
            str(concurrency),
            "--lock-seconds",
            "4",
            "--stalled-interval-seconds",
            "2",
            "--grace-seconds",
            "10",
            *extra,
        ]
        n = len(self.all)
        proc = Proc(
            f"worker-{n}",
            argv,
            self.env(AOP_WORKER_NAME=f"w{n}", **env),
            self.tmp / f"worker-{n}.log",
        )
        self.all.append(proc.start())
        return proc

    def pod_runner(self, *kinds: str) -> Proc:
        """The local stand-in for a kubelet: one aop-worker per Running worker pod, and
        kubectl pods (Helm hooks) run to completion; ``kinds`` narrows it to some of them."""
        n = len(self.all)
        argv = [
            str(ROOT / ".venv/bin/python"),
            str(SCRIPTS / "local_pods.py"),
            "--namespace",
            self.namespace,
            "--redis-url",
            self.redis_url,
            "--log-dir",
            str(self.tmp / "pods"),
            "--kubectl-bin",
            str(self.cluster.bin_dir / "kubectl"),
        ]
        for kind in kinds:
            argv += ["--kind", kind]
        proc = Proc(f"pods-{n}", argv, self.env(), self.tmp / f"pods-{n}.log")
        self.all.append(proc.start())
        return proc

    def pod_logs(self) -> str:
        pods = self.tmp / "pods"
        if not pods.exists():
            return ""
        return "\n".join(
            f"===== pod {f.stem}\n{f.read_text(errors='replace')[-3000:]}"
            for f in sorted(pods.glob("*.log"))
        )

    def stop_all(self) -> None:
        for proc in reversed(self.all):
            proc.stop(timeout=15)

    def logs(self) -> str:
        own = "\n".join(f"===== {p.name}\n{p.log()[-6000:]}" for p in self.all)
        return f"{own}\n{self.pod_logs()}"


@pytest.fixture
def procs(
    crds: Cluster,
    namespace: str,
    redis_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Procs]:
    """Operator/worker launcher for one test; every process is stopped at the end and the
    logs are printed when the test failed."""
    p = Procs(crds, namespace, tmp_path, redis_url)
    try:
        yield p
    finally:
        p.stop_all()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(p.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


class KubeHelper:
    """kubectl-backed helpers bound to one namespace, for readable tests."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.ns = namespace

    def apply(self, *objs: dict[str, object]) -> None:
        import json

        doc = {"apiVersion": "v1", "kind": "List", "items": list(objs)}
        self.cluster.kubectl("apply", "-n", self.ns, "-f", "-", input=json.dumps(doc))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        import json

        proc = self.cluster.kubectl("get", kind, name, "-n", self.ns, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr:
                return None
            raise AssertionError(proc.stderr)
        obj: dict[str, Any] = json.loads(proc.stdout)
        return obj

    def status(self, name: str) -> dict[str, Any]:
        obj = self.get("aop", name)
        assert obj is not None, f"aop/{name} not found"
        return dict(obj.get("status") or {})

    def patch(self, kind: str, name: str, patch: dict[str, object]) -> None:
        import json

        self.cluster.kubectl(
            "patch", kind, name, "-n", self.ns, "--type=merge", "-p", json.dumps(patch)
        )

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float = 60, interval: float = 0.2
    ) -> Any:
        """Poll ``check`` until it returns something truthy or the deadline passes."""
        import time

        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")

    def wait_phase(self, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal last
            last = self.status(name)
            return last if last.get("phase") in phases else None

        try:
            result: dict[str, Any] = self.wait_for(f"aop/{name} in {phases}", check, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast status of aop/{name}: {last}") from None
        return result


@pytest.fixture
def kube(crds: Cluster, namespace: str) -> KubeHelper:
    return KubeHelper(crds, namespace)

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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

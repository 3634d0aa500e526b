"""End to end on kind: the image built with ``docker build``, loaded into a three-node
kind cluster (``kind-config.yaml``), the chart installed with Helm, a noop operation run
to Succeeded by real operator and worker pods, ``helm test``, and ``helm uninstall``
with its pre-delete hook.

Needs a Docker engine (and network access for kind's node image and the Redis and kubectl
images); everywhere else it is skipped with the reason. ``make e2e`` runs it alone; plain
``pytest`` collects it and skips it when no engine answers. ``--keep-cluster`` (from
pytest-kind) leaves the cluster up for a look around.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "autonomous-operator"
IMAGE = "autonomous-operator:e2e"
CLUSTER_NAME = "aop-e2e"
NAMESPACE = "aop-system"
# kind built from the Go module proxy when it is not on PATH (its release binaries are
# downloads this project does not rely on).
KIND_VERSION = "v0.33.0"


def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None when an engine answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "the docker CLI is not installed"
    try:
        proc = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no Docker engine answers (`docker info` timed out)"
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine answers (`docker info` failed: {reason})"
    return None


def cache_dir() -> Path:
    out = subprocess.run(
        ["bash", "-c", '. scripts/versions.sh && echo "$AOP_CACHE_DIR"'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def kind_binary() -> Path:
    found = shutil.which("kind")
    if found:
        return Path(found)
    bin_dir = cache_dir() / f"kind-{KIND_VERSION}"
    kind = bin_dir / "kind"
    if not kind.exists():
        if shutil.which("go") is None:
            pytest.skip("kind is not installed and Go (to build it) is missing")
        bin_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["go", "install", f"sigs.k8s.io/kind@{KIND_VERSION}"],
            env=dict(os.environ, GOBIN=str(bin_dir), CGO_ENABLED="0"),
            check=True,
            timeout=900,
        )
    return kind


def tool_dir() -> Path:
    """kubectl and helm (v4), built once by scripts/build-control-plane.sh."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "build-control-plane.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Kind:
    """The kind cluster and the tools pointed at it."""

    kubeconfig: Path
    tools: Path

    def run(
        self, tool: str, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.tools / tool), *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, KUBECONFIG=str(self.kubeconfig)),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
                f"{proc.stderr}\n{self.diagnostics()}"
            )
        return proc

    def kubectl(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, **kw)  # type: ignore[arg-type]

    def helm(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, **kw)  # type: ignore[arg-type]

    def diagnostics(self) -> str:
        parts = []
        for args in (
            ("get", "all,aop,aopq,pvc", "-n", NAMESPACE, "-o", "wide"),
            ("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp"),
            ("logs", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=operator", "--tail=200"),
            ("logs", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=worker", "--tail=200"),
        ):
            proc = subprocess.run(
                [str(self.tools / "kubectl"), *args],
                capture_output=True,
                text=True,
                env=dict(os.environ, KUBECONFIG=str(self.kubeconfig)),
                timeout=60,
                check=False,
            )
            parts.append(f"$ kubectl {' '.join(args)}\n{proc.stdout}{proc.stderr}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def kind(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kind]:
    problem = docker_problem()
    if problem:
        pytest.skip(f"e2e needs a Docker engine for kind and docker build: {problem}")
    from pytest_kind import KindCluster

    work = tmp_path_factory.mktemp("kind")
    tools = tool_dir()
    # KindCluster makes a ".pytest-kind" folder in the working directory: keep it out of
    # the repository.
    with contextlib.chdir(work):
        cluster = KindCluster(
            CLUSTER_NAME,
            kubeconfig=work / "kubeconfig",
            kind_path=kind_binary(),
            kubectl_path=tools / "kubectl",
        )
    subprocess.run(["docker", "build", "--tag", IMAGE, str(ROOT)], check=True, timeout=3600)
    try:
        cluster.create(config_file=ROOT / "kind-config.yaml")
        cluster.load_docker_image(IMAGE)
        yield Kind(kubeconfig=work / "kubeconfig", tools=tools)
    finally:
        if not request.config.getoption("keep_cluster", default=False):
            cluster.delete()


def test_chart_on_kind_runs_a_noop_operation(kind: Kind) -> None:
    nodes = kind.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert len(nodes) == 3, nodes
    kind.helm(
        "install", "aop", str(CHART),
        "--namespace", NAMESPACE, "--create-namespace",
        "--set", "image.repository=autonomous-operator",
        "--set", "image.tag=e2e",
        # Loaded into the nodes by kind; never pulled.
        "--set", "image.pullPolicy=Never",
        "--wait", "--timeout", "10m",
    )  # fmt: skip
    kind.kubectl(
        "apply", "-n", NAMESPACE,
        "-f", str(ROOT / "examples" / "consent-acme.yaml"),
        "-f", str(ROOT / "examples" / "noop-simulate.yaml"),
    )  # fmt: skip
    waited = kind.kubectl(
        "wait", "-n", NAMESPACE, "--for=condition=Succeeded", "aop/noop-simulate",
        "--timeout=600s",
    )  # fmt: skip
    assert "condition met" in waited.stdout
    phase = kind.kubectl(
        "get", "aop/noop-simulate", "-n", NAMESPACE, "-o", "jsonpath={.status.phase}"
    ).stdout
    assert phase == "Succeeded"
    workers = kind.kubectl(
        "get", "deployment", "aop-worker-default", "-n", NAMESPACE,
        "-o", "jsonpath={.spec.template.spec.serviceAccountName}",
    ).stdout  # fmt: skip
    assert workers == "aop-autonomous-operator-worker"

    # The chart's own test: its pod applies a consent and a noop operation, waits, cleans up.
    kind.helm("test", "aop", "--namespace", NAMESPACE, "--logs", "--timeout", "10m")

    kind.kubectl("delete", "-n", NAMESPACE, "aop/noop-simulate", "--wait=true", "--timeout=120s")
    kind.helm("uninstall", "aop", "--namespace", NAMESPACE, "--wait", "--timeout", "5m")
    left = kind.kubectl("get", "aopq,deployments", "-n", NAMESPACE, "-o", "name").stdout
    assert not left.strip(), f"left after uninstall: {left}"

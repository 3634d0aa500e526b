"""The Helm chart against the real local API server.

``helm lint --strict``; every way of configuring the chart rendered and accepted by the
server (``kubectl apply --dry-run=server``); ``helm install`` creating the operator,
ServiceAccounts, RBAC and the default OperationQueue. The local control plane has no
kubelet, so the pods are stood in for by local processes that run exactly what the
installed objects say (the operator Deployment's environment, the worker Deployment the
operator builds from the installed queue) under the ServiceAccounts the chart created,
with their own tokens: a noop operation succeeds through it; ``helm test`` and
``helm uninstall`` run for real, their hook pods executed by scripts/local_pods.py as
the hooks' own ServiceAccounts; and ``kubectl auth can-i`` shows what each identity may
and may not do."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "autonomous-operator"
RELEASE = "aop"
FULLNAME = "aop-autonomous-operator"
OPERATOR_SA = f"{FULLNAME}-operator"
WORKER_SA = f"{FULLNAME}-worker"

Obj = dict[str, Any]
# The session fixtures' types (tests/conftest.py is not importable as a module).
Cluster = Any
Procs = Any
KubeHelper = Any


def helm(
    cluster: Cluster, *args: str, check: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(cluster.bin_dir / "helm"), *args],
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def template(cluster: Cluster, namespace: str, *sets: str, show: str | None = None) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    if show:
        args += ["--show-only", show]
    return helm(cluster, *args).stdout


def docs_of(text: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture
def namespaces(cluster: Cluster) -> Iterator[Callable[[], str]]:
    """Factory of extra namespaces, all deleted at the end of the test."""
    made: list[str] = []

    def make() -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        cluster.kubectl("create", "namespace", name)
        made.append(name)
        return name

    yield make
    for name in made:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def sa_kubeconfig(cluster: Cluster, namespace: str, sa: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount, with a TokenRequest token:
    what a pod running under it would get."""
    token = cluster.kubectl("create", "token", sa, "-n", namespace, "--duration=2h").stdout.strip()
    cfg = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    cfg["users"] = [{"name": sa, "user": {"token": token}}]
    for ctx in cfg["contexts"]:
        ctx["context"]["user"] = sa
        ctx["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(cfg))
    path.chmod(0o600)
    return path


def kubectl_as(
    cluster: Cluster, kubeconfig: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(cluster.env, KUBECONFIG=str(kubeconfig))
    return subprocess.run(
        [str(cluster.bin_dir / "kubectl"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def can_i(cluster: Cluster, sa: str, sa_ns: str, verb: str, resource: str, *extra: str) -> bool:
    proc = cluster.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        f"--as=system:serviceaccount:{sa_ns}:{sa}",
        *extra,
        check=False,
    )
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), proc.stderr
    return answer == "yes"


def secret_value(cluster: Cluster, namespace: str, name: str, key: str) -> str:
    secret = json.loads(
        cluster.kubectl("get", "secret", name, "-n", namespace, "-o", "json").stdout
    )
    return base64.b64decode(secret["data"][key]).decode()


def resolve_env(cluster: Cluster, namespace: str, pod: Obj, container: Obj) -> dict[str, str]:
    """A container's environment as the kubelet would give it (values, the pod's own
    fields and Secret keys)."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "valueFrom" not in var:  # the API server leaves out an empty value
            env[var["name"]] = var.get("value", "")
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            env[var["name"]] = {"metadata.namespace": namespace}.get(field, pod["name"])
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[var["name"]] = secret_value(cluster, namespace, ref["name"], ref["key"])
        else:
            raise AssertionError(f"unexpected env source {source}")
    return env


def exit_codes(pod: Obj) -> dict[str, int]:
    """Each container's exit code (init containers included), from the pod's status."""
    statuses = pod["status"].get("initContainerStatuses", []) + pod["status"]["containerStatuses"]
    return {s["name"]: s["state"]["terminated"]["exitCode"] for s in statuses}


# ------------------------------------------------------------------ lint and render


def test_helm_lint_strict(cluster: Cluster) -> None:
    proc = helm(cluster, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in proc.stdout


CONFIGS: dict[str, tuple[str, ...]] = {
    "bundled-redis": (),
    "external-url": ("redis.bundled.enabled=false", "redis.url=redis://redis.example:6379/0"),
    "existing-secret": (
        "redis.bundled.enabled=false",
        "redis.existingSecret=my-redis",
        "redis.existingSecretKey=url",
    ),
    "listed-namespaces": ("workers.namespaces={@RELEASE@,@OTHER@}",),
    "cluster-wide": ("workers.clusterWide=true", "redis.bundled.persistence.enabled=false"),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_rendered_chart_is_accepted_by_the_server(
    crds: Cluster, namespace: str, namespaces: Callable[[], str], config: str
) -> None:
    other = namespaces()
    sets = [s.replace("@RELEASE@", namespace).replace("@OTHER@", other) for s in CONFIGS[config]]
    rendered = template(crds, namespace, *sets)
    docs = docs_of(rendered)
    # Pods are admitted only when their ServiceAccount exists: create those for real.
    accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
    crds.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": accounts}),
    )
    proc = crds.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered, check=False)
    assert proc.returncode == 0, proc.stderr
    accepted = [line for line in proc.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(docs), proc.stdout
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "OperationQueue", "Role", "RoleBinding", "Job", "Pod"} <= kinds
    assert ("StatefulSet" in kinds) == (
        config in ("bundled-redis", "listed-namespaces", "cluster-wide")
    )
    assert ("ClusterRole" in kinds) == (config == "cluster-wide")


def test_bundled_redis_command_starts_redis_with_aof_and_a_password(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The bundled Redis's shell script, run against the real redis-server binary."""
    sts = next(d for d in docs_of(template(cluster, "x")) if d["kind"] == "StatefulSet")
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["/bin/sh", "-c"]
    port = str(_free_port())
    (tmp_path / "data").mkdir()
    (tmp_path / "tmp").mkdir()
    script = (
        c["args"][0]
        .replace("/tmp/", f"{tmp_path}/tmp/")
        .replace("/data", f"{tmp_path}/data")
        .replace("--port 6379", f"--port {port}")
        .replace("'* -::*'", "127.0.0.1")
    )
    env = dict(os.environ, REDIS_PASSWORD="s3cret")
    server = subprocess.Popen(
        ["/bin/sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        cli = ["redis-cli", "-p", port]
        deadline = time.monotonic() + 20
        while True:
            pong = subprocess.run([*cli, "ping"], capture_output=True, text=True, check=False)
            if pong.stdout.strip() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "NOAUTH" in pong.stdout, "Redis must require the password"
        auth = dict(os.environ, REDISCLI_AUTH="s3cret")

        def config(key: str) -> str:
            out = subprocess.run(
                [*cli, "config", "get", key], capture_output=True, text=True, env=auth, check=True
            )
            return out.stdout.split()[1]

        assert config("appendonly") == "yes"
        assert config("maxmemory-policy") == "noeviction"
        assert config("dir") == f"{tmp_path}/data"
        assert (tmp_path / "data" / "appendonlydir").is_dir()
        # The readiness probe's command, with the same environment.
        probe = sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]
        check = subprocess.run(
            [a.replace("-p 6379", f"-p {port}") for a in probe["command"]], env=env, check=False
        )
        assert check.returncode == 0
    finally:
        server.terminate()
        server.wait(20)
    assert server.returncode == 0, "Redis did not shut down cleanly on SIGTERM"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ install and run


def install(cluster: Cluster, namespace: str, *sets: str, release: str = RELEASE) -> None:
    args = ["install", release, str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    helm(cluster, *args)


def names(cluster: Cluster, kind: str, namespace: str) -> set[str]:
    out = cluster.kubectl("get", kind, "-n", namespace, "-o", "json").stdout
    return {i["metadata"]["name"] for i in json.loads(out)["items"]}


def test_install_runs_a_noop_operation_through_the_installed_objects(
    procs: Procs, kube: KubeHelper, namespace: str, tmp_path: Path
) -> None:
    cluster = procs.cluster
    install(cluster, namespace, "redis.bundled.enabled=false", f"redis.url={procs.redis_url}")

    # Everything is there.
    assert f"{FULLNAME}-operator" in names(cluster, "deployments", namespace)
    assert {OPERATOR_SA, WORKER_SA} <= names(cluster, "serviceaccounts", namespace)
    assert {f"{FULLNAME}-operator", f"{FULLNAME}-operator-workloads", f"{FULLNAME}-worker"} <= (
        names(cluster, "roles", namespace)
    )
    assert names(cluster, "rolebindings", namespace) >= names(cluster, "roles", namespace)
    assert f"{FULLNAME}-operator-metrics" in names(cluster, "services", namespace)
    assert f"{FULLNAME}-redis" in names(cluster, "secrets", namespace)
    queue = kube.get("operationqueue", "default")
    assert queue is not None
    assert queue["spec"]["workers"]["serviceAccountName"] == WORKER_SA
    assert helm(cluster, "status", RELEASE, "-n", namespace).stdout.count("STATUS: deployed")

    # The operator pod, as a process: the Deployment's own environment, its SA's token.
    dep = json.loads(
        cluster.kubectl(
            "get", "deployment", f"{FULLNAME}-operator", "-n", namespace, "-o", "json"
        ).stdout
    )
    pod_spec = dep["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == OPERATOR_SA
    env = resolve_env(cluster, namespace, {"name": "operator-0"}, pod_spec["containers"][0])
    assert env["AOP_REDIS_URL"] == procs.redis_url
    assert env["AOP_NAMESPACE"] == env["AOP_WATCH_NAMESPACES"] == namespace
    for local in ("AOP_HTTP_PORT", "AOP_RESYNC_SECONDS"):  # the fixture's port and pace
        env.pop(local)
    operator_kc = sa_kubeconfig(cluster, namespace, OPERATOR_SA, tmp_path / "operator.kc")
    operator = procs.operator(KUBECONFIG=str(operator_kc), **env)

    # The operator builds the queue's worker Deployment from the installed queue and the
    # chart's settings.
    workers = kube.wait_for(
        "the worker Deployment",
        lambda: kube.get("deployment", "aop-worker-default"),
        timeout=60,
    )
    wpod = workers["spec"]["template"]["spec"]
    assert wpod["serviceAccountName"] == WORKER_SA
    (wc,) = wpod["containers"]
    assert wc["image"] == pod_spec["containers"][0]["image"]
    redis_ref = next(e for e in wc["env"] if e["name"] == "AOP_REDIS_URL")
    assert redis_ref == {
        "name": "AOP_REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": f"{FULLNAME}-redis", "key": "redis-url"}},
    }

    # One worker pod of it, as a process under the workers' ServiceAccount.
    wenv = resolve_env(cluster, namespace, {"name": "aop-worker-default-0"}, wc)
    wenv.pop("HOME")  # the pod's /tmp; locally the runner's home
    wenv.pop("AOP_WORKER_NAME")  # the fixture names its workers
    wenv["AOP_ARTIFACTS_DIR"] = str(tmp_path / "artifacts")
    worker_kc = sa_kubeconfig(cluster, namespace, WORKER_SA, tmp_path / "worker.kc")
    worker = procs.worker("default", 2, KUBECONFIG=str(worker_kc), **wenv)

    kube.apply(
        {
            "apiVersion": "autonomous.dev/v1alpha1",
            "kind": "OperationConsent",
            "metadata": {"name": "acme"},
            "spec": {"organizationId": "acme", "grantedBy": "a@acme.example", "services": ["noop"]},
        },
        {
            "apiVersion": "autonomous.dev/v1alpha1",
            "kind": "AutonomousOperation",
            "metadata": {"name": "through-the-chart"},
            "spec": {
                "organizationId": "acme",
                "userId": "a@acme.example",
                "service": "noop",
                "operation": "simulate",
                "config": {"steps": 2, "durationSeconds": 0.5},
            },
        },
    )
    status = kube.wait_phase("through-the-chart", "Succeeded", "Failed", "Blocked", timeout=90)
    assert status["phase"] == "Succeeded", status
    waited = cluster.kubectl(
        "wait",
        "--for=condition=Succeeded",
        "aop/through-the-chart",
        "-n",
        namespace,
        "--timeout=10s",
    )
    assert "condition met" in waited.stdout
    queue_status = kube.wait_for(
        "queue status",
        lambda: (
            (kube.get("operationqueue", "default") or {}).get("status", {}).get("redisConnected")
        ),
    )
    assert queue_status is True

    # `helm test`, for real: Helm creates the hook's objects and its pod; the local pod
    # runner (the kubelet's stand-in) runs the pod's kubectl containers under the hook's
    # own ServiceAccount and writes their exit codes into the pod's status, which Helm
    # reads. Worker pods are left to the worker process above (the chart's worker SA).
    procs.pod_runner("kubectl")
    tested = helm(cluster, "test", RELEASE, "-n", namespace, "--timeout", "300s", timeout=330)
    assert re.search(r"Phase:\s+Succeeded", tested.stdout), tested.stdout
    print(tested.stdout)  # `pytest -rP` shows Helm's report
    test_pod = json.loads(
        cluster.kubectl("get", "pod", f"{FULLNAME}-helm-test", "-n", namespace, "-o", "json").stdout
    )
    assert exit_codes(test_pod) == {"clean": 0, "apply": 0, "wait-succeeded": 0, "delete": 0}
    waited = procs.tmp / "pods" / f"{FULLNAME}-helm-test.wait-succeeded.log"
    assert "condition met" in waited.read_text()
    assert kube.get("aop", f"{FULLNAME}-helm-test") is None, "the test cleans up after itself"
    # hook-succeeded removed the hook's RBAC and manifests; the pod stays for post-mortems.
    assert f"{FULLNAME}-helm-test" not in names(cluster, "serviceaccounts", namespace)
    assert f"{FULLNAME}-helm-test" not in names(cluster, "configmaps", namespace)

    for proc in (operator, worker):
        assert "Forbidden" not in proc.log(), f"{proc.name} was denied something:\n{proc.log()}"

    # `helm uninstall` with its pre-delete hook: the Job deletes the queue while the
    # operator still runs (it releases the finalizer, the worker Deployment goes with its
    # owner), then Helm deletes the rest.
    helm(cluster, "uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "300s", timeout=330)
    assert kube.get("operationqueue", "default") is None
    (cleaned,) = (procs.tmp / "pods").glob(f"{FULLNAME}-cleanup-*.delete-queue.log")
    assert 'operationqueue.autonomous.dev "default" deleted' in cleaned.read_text()
    assert not names(cluster, "roles", namespace)
    assert not names(cluster, "rolebindings", namespace)
    assert names(cluster, "serviceaccounts", namespace) <= {"default"}
    assert f"{FULLNAME}-operator" not in names(cluster, "deployments", namespace)
    kube.wait_for(
        "the worker Deployment to be garbage-collected",
        lambda: kube.get("deployment", "aop-worker-default") is None,
        timeout=60,
    )


def test_helm_test_fails_when_its_operation_does_not_succeed(
    procs: Procs, kube: KubeHelper, namespace: str
) -> None:
    """No operator runs, so nothing admits the test's operation: the pod's wait step times
    out, the pod ends Failed with that step's own error, and `helm test` fails."""
    cluster = procs.cluster
    install(
        cluster,
        namespace,
        "redis.bundled.enabled=false",
        f"redis.url={procs.redis_url}",
        "tests.timeoutSeconds=3",
    )
    procs.pod_runner("kubectl")
    tested = helm(
        cluster, "test", RELEASE, "-n", namespace, "--timeout", "120s", check=False, timeout=150
    )
    assert tested.returncode != 0, tested.stdout
    pod = json.loads(
        cluster.kubectl("get", "pod", f"{FULLNAME}-helm-test", "-n", namespace, "-o", "json").stdout
    )
    assert pod["status"]["phase"] == "Failed"
    steps = {s["name"]: s["state"]["terminated"] for s in pod["status"]["initContainerStatuses"]}
    assert steps["clean"]["exitCode"] == steps["apply"]["exitCode"] == 0
    assert steps["wait-succeeded"]["exitCode"] != 0
    assert "timed out" in steps["wait-succeeded"]["message"]
    (main,) = pod["status"]["containerStatuses"]
    assert "terminated" not in main["state"], "the clean-up step never ran"
    assert kube.get("aop", f"{FULLNAME}-helm-test") is not None, "kept for kubectl describe"
    helm(cluster, "uninstall", RELEASE, "-n", namespace, "--no-hooks")


# ------------------------------------------------------------------ RBAC as the server sees it


def test_rbac_grants_what_is_needed_and_nothing_else(
    crds: Cluster, namespace: str, namespaces: Callable[[], str]
) -> None:
    other = namespaces()
    install(crds, namespace, "redis.bundled.enabled=false", "redis.url=redis://r:6379/0")
    ns, op, wk = namespace, OPERATOR_SA, WORKER_SA

    def operator(verb: str, resource: str, *extra: str) -> bool:
        return can_i(crds, op, ns, verb, resource, *extra)

    def worker(verb: str, resource: str, *extra: str) -> bool:
        return can_i(crds, wk, ns, verb, resource, *extra)

    aop = "autonomousoperations.autonomous.dev"
    queues = "operationqueues.autonomous.dev"
    consents = "operationconsents.autonomous.dev"

    # The operator: its custom resources, their status, Events, worker Deployments.
    for verb in ("get", "list", "watch", "patch"):
        assert operator(verb, aop, "-n", ns)
        assert operator(verb, queues, "-n", ns)
        assert operator(verb, consents, "-n", ns)
    assert operator("patch", aop, "--subresource=status", "-n", ns)
    assert operator("patch", queues, "--subresource=status", "-n", ns)
    assert operator("create", "events", "-n", ns)
    assert operator("create", "events.events.k8s.io", "-n", ns)
    # A Role in a namespace grants "get" on that Namespace object (the API server files
    # the request under the namespace it names), which is how the organization label is
    # read without any cluster-wide right.
    assert operator("get", f"namespace/{ns}", "-n", ns)
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert operator(verb, "deployments.apps", "-n", ns), verb
    assert operator("patch", "deployments.apps", "--subresource=scale", "-n", ns)
    assert operator("list", "pods", "-n", ns)
    assert operator("patch", "pods", "-n", ns)  # pod-deletion-cost before a scale-down
    assert operator("update", queues, "--subresource=finalizers", "-n", ns)
    # ...and not: Secrets anywhere, other namespaces, deleting users' objects.
    assert not operator("get", "secrets", "-n", ns)
    assert not operator("get", "secrets", "-n", other)
    assert not operator("list", "secrets", "--all-namespaces")
    assert not operator("create", "deployments.apps", "-n", other)
    assert not operator("patch", aop, "-n", other)
    assert not operator("get", f"namespace/{other}", "-n", other)
    assert not operator("delete", aop, "-n", ns)
    assert not operator("create", aop, "-n", ns)
    assert not operator("create", "pods", "-n", ns)
    assert not operator("delete", "pods", "-n", ns)
    assert not operator("patch", "pods", "-n", other)

    # The workers: login and result Secrets, consents, operations - in served namespaces.
    assert worker("get", "secrets", "-n", ns)
    assert worker("create", "secrets", "-n", ns)
    assert worker("update", "secrets", "-n", ns)
    assert worker("list", consents, "-n", ns)
    assert worker("get", consents, "-n", ns)
    assert worker("get", aop, "-n", ns)
    # ...and not: other namespaces, listing Secrets, writing operations, Deployments.
    assert not worker("get", "secrets", "-n", other)
    assert not worker("create", "secrets", "-n", other)
    assert not worker("list", "secrets", "-n", ns)
    assert not worker("list", "secrets", "--all-namespaces")
    assert not worker("delete", "secrets", "-n", ns)
    assert not worker("delete", aop, "-n", ns)
    assert not worker("patch", aop, "-n", ns)
    assert not worker("patch", aop, "--subresource=status", "-n", ns)
    assert not worker("list", aop, "-n", ns)
    assert not worker("create", consents, "-n", ns)
    assert not worker("create", "deployments.apps", "-n", ns)
    assert not worker("list", "pods", "-n", ns)
    assert not worker("create", "events", "-n", ns)
    helm(crds, "uninstall", RELEASE, "-n", namespace, "--no-hooks")


def test_rbac_follows_the_served_namespaces(
    crds: Cluster, namespace: str, namespaces: Callable[[], str]
) -> None:
    team_a, team_b, outside = namespaces(), namespaces(), namespaces()
    install(
        crds,
        namespace,
        "redis.bundled.enabled=false",
        "redis.url=redis://r:6379/0",
        f"workers.namespaces={{{team_a},{team_b}}}",
    )
    for served in (team_a, team_b):
        assert can_i(crds, WORKER_SA, namespace, "get", "secrets", "-n", served)
        assert can_i(crds, WORKER_SA, namespace, "create", "secrets", "-n", served)
        assert can_i(
            crds,
            OPERATOR_SA,
            namespace,
            "patch",
            "autonomousoperations.autonomous.dev",
            "--subresource=status",
            "-n",
            served,
        )
        assert can_i(crds, OPERATOR_SA, namespace, "get", f"namespace/{served}", "-n", served)
        assert not can_i(crds, OPERATOR_SA, namespace, "create", "deployments.apps", "-n", served)
    # Not listed: the release namespace keeps only the operator's queue rights.
    assert not can_i(crds, WORKER_SA, namespace, "get", "secrets", "-n", namespace)
    assert can_i(
        crds, OPERATOR_SA, namespace, "watch", "operationqueues.autonomous.dev", "-n", namespace
    )
    assert not can_i(crds, WORKER_SA, namespace, "get", "secrets", "-n", outside)
    assert not can_i(
        crds, OPERATOR_SA, namespace, "list", "autonomousoperations.autonomous.dev", "-n", outside
    )
    helm(crds, "uninstall", RELEASE, "-n", namespace, "--no-hooks")

    # Cluster-wide: everywhere, but still only those verbs.
    wide = namespaces()
    install(
        crds,
        wide,
        "redis.bundled.enabled=false",
        "redis.url=redis://r:6379/0",
        "workers.clusterWide=true",
    )
    try:
        assert can_i(crds, WORKER_SA, wide, "get", "secrets", "-n", outside)
        assert can_i(
            crds, WORKER_SA, wide, "list", "operationconsents.autonomous.dev", "--all-namespaces"
        )
        assert not can_i(crds, WORKER_SA, wide, "list", "secrets", "--all-namespaces")
        assert not can_i(
            crds, WORKER_SA, wide, "delete", "autonomousoperations.autonomous.dev", "-n", outside
        )
        assert not can_i(crds, WORKER_SA, wide, "create", "deployments.apps", "-n", wide)
        assert can_i(
            crds,
            OPERATOR_SA,
            wide,
            "watch",
            "autonomousoperations.autonomous.dev",
            "--all-namespaces",
        )
        assert not can_i(crds, OPERATOR_SA, wide, "get", "secrets", "-n", outside)
        assert not can_i(crds, OPERATOR_SA, wide, "create", "deployments.apps", "-n", outside)
    finally:
        helm(crds, "uninstall", RELEASE, "-n", wide, "--no-hooks")
    leftovers = crds.kubectl("get", "clusterroles", "-o", "name").stdout
    assert f"{wide}-{FULLNAME}" not in leftovers

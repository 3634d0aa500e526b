"""The Helm chart, checked offline: its CRDs are the repository's, every value is
documented and typed, and ``helm template`` renders hardened, least-privilege objects for
each way of configuring it. The API server's view of the same renders, ``helm install``
and the RBAC as the server evaluates it are in ``tests/integration/test_chart.py`` (this
module's name differs because pytest imports test modules by basename).
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "autonomous-operator"
NS = "aop-system"

Obj = dict[str, Any]


# ------------------------------------------------------------------ files of the chart


def test_chart_crds_are_the_repository_crds() -> None:
    """Helm packages crds/ as files (a symlink would not survive `helm package`), so the
    chart carries copies; they must never drift from crds/ (regenerate, then copy)."""
    repo = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert repo, "no CRDs in crds/"
    assert sorted(chart) == sorted(repo), "the chart's crds/ lists other files than crds/"
    for name, content in repo.items():
        assert chart[name] == content, (
            f"charts/autonomous-operator/crds/{name} differs from crds/{name}: "
            "run 'cp crds/*.yaml charts/autonomous-operator/crds/'"
        )
    assert not any(p.is_symlink() for p in (CHART / "crds").iterdir())


def _schema() -> Obj:
    schema: Obj = json.loads((CHART / "values.schema.json").read_text())
    return schema


def _keys(node: yaml.MappingNode, prefix: str = "") -> Iterator[tuple[str, yaml.Node, Any]]:
    """(dotted path, key node, value node) of every mapping key, depth first."""
    for key, value in node.value:
        path = f"{prefix}{key.value}"
        yield path, key, value
        if isinstance(value, yaml.MappingNode):
            yield from _keys(value, path + ".")


def _schema_at(schema: Obj, path: str) -> Obj | None:
    """The schema of a dotted path, or None when it lies inside a free-form object."""
    node: Obj | None = schema
    for part in path.split("."):
        if node is None or "properties" not in node:
            return None
        node = node["properties"].get(part)
        if node is None:
            raise AssertionError(f"values.yaml key {path} is not in values.schema.json")
    return node


def test_every_value_is_commented_and_typed() -> None:
    text = (CHART / "values.yaml").read_text()
    lines = text.splitlines()
    root = yaml.compose(text)
    assert isinstance(root, yaml.MappingNode)
    schema = _schema()
    undocumented = []
    for path, key, _value in _keys(root):
        if _schema_at(schema, path) is None:
            continue  # a key inside a free-form map (resources, annotations): data
        above = lines[key.start_mark.line - 1].strip() if key.start_mark.line else ""
        if not above.startswith("#"):
            undocumented.append(path)
    assert not undocumented, f"values without a comment right above them: {undocumented}"


def test_schema_declares_nothing_values_yaml_leaves_out() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(schema: Obj, value: Any, path: str) -> Iterator[str]:
        for name, sub in schema.get("properties", {}).items():
            if name == "global":
                continue  # Helm's own
            if not isinstance(value, dict) or name not in value:
                yield f"{path}{name}"
            elif "properties" in sub:
                yield from walk(sub, value[name], f"{path}{name}.")
        if schema.get("properties") is not None:
            assert schema.get("additionalProperties") is False, f"{path or '.'} is open"

    missing = list(walk(_schema(), values, ""))
    assert not missing, f"in values.schema.json but not values.yaml: {missing}"


# ------------------------------------------------------------------ helm template


@functools.cache
def helm() -> Path:
    out = subprocess.run(
        ["bash", "-c", '. scripts/versions.sh && echo "$CP_BIN_DIR"'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    path = Path(out.stdout.strip()) / "helm"
    return path


def _helm_or_skip() -> Path:
    path = helm()
    if not path.exists():
        pytest.skip(f"helm is not built yet at {path}: run 'make deps'")
    return path


def run_template(*sets: str) -> subprocess.CompletedProcess[str]:
    args = [str(_helm_or_skip()), "template", "aop", str(CHART), "--namespace", NS]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


@functools.cache
def _render(sets: tuple[str, ...]) -> list[Obj]:
    proc = run_template(*sets)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render(*sets: str) -> list[Obj]:
    return _render(tuple(sets))


def find(docs: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(docs, kind, name)
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def pod_specs(docs: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]
        elif d["kind"] == "Pod":
            yield d["metadata"]["name"], d["spec"]


EXTERNAL_URL = ("redis.bundled.enabled=false", "redis.url=redis://redis.example:6379/0")
EXISTING = (
    "redis.bundled.enabled=false",
    "redis.existingSecret=my-redis",
    "redis.existingSecretKey=url",
)
CONFIGS = {
    "defaults": (),
    "external-url": EXTERNAL_URL,
    "existing-secret": EXISTING,
    "cluster-wide": ("workers.clusterWide=true",),
    "namespaces": ("workers.namespaces={team-a,team-b}",),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_template_pods_are_hardened(config: str) -> None:
    specs = dict(pod_specs(render(*CONFIGS[config])))
    assert specs
    for name, spec in specs.items():
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, name
        assert psc["runAsUser"] != 0, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert "emptyDir" in volumes["tmp"], name
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], (name, c["name"])
            assert "resources" in c, (name, c["name"])


def _env(container: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_template_operator_deployment() -> None:
    docs = render()
    dep = one(docs, "Deployment", "aop-autonomous-operator-operator")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    spec = dep["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "aop-autonomous-operator-operator"
    (c,) = spec["containers"]
    assert c["image"] == "ghcr.io/autonomous-dev/autonomous-operator:0.1.0"
    assert c["args"] == ["aop-operator"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    env = _env(c)
    assert env["AOP_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["AOP_REDIS_URL"] == {
        "secretKeyRef": {"name": "aop-autonomous-operator-redis", "key": "redis-url"}
    }
    assert env["AOP_REDIS_SECRET_NAME"] == "aop-autonomous-operator-redis"
    assert env["AOP_REDIS_SECRET_KEY"] == "redis-url"
    assert env["AOP_WORKER_IMAGE"] == c["image"]
    assert env["AOP_WORKER_SERVICE_ACCOUNT"] == "aop-autonomous-operator-worker"
    assert env["AOP_WATCH_NAMESPACES"] == NS
    assert env["AOP_SCALER_ENABLED"] == "true"
    assert env["AOP_HTTP_PORT"] == "8080"
    assert env["AOP_RESYNC_SECONDS"] == "10"
    svc = one(docs, "Service", "aop-autonomous-operator-operator-metrics")
    assert svc["spec"]["ports"][0]["name"] == "metrics"
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_template_private_registry_settings_reach_the_workers() -> None:
    """Worker pods are built by the operator, so it gets the pull secrets and policy."""
    env = _env(
        one(render(), "Deployment", "aop-autonomous-operator-operator")["spec"]["template"]["spec"][
            "containers"
        ][0]
    )
    assert env["AOP_WORKER_IMAGE_PULL_SECRETS"] == ""
    assert env["AOP_WORKER_IMAGE_PULL_POLICY"] == "IfNotPresent"
    docs = render(
        "imagePullSecrets[0].name=regcred",
        "imagePullSecrets[1].name=mirror",
        "image.pullPolicy=Always",
    )
    pod = one(docs, "Deployment", "aop-autonomous-operator-operator")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    env = _env(pod["containers"][0])
    assert env["AOP_WORKER_IMAGE_PULL_SECRETS"] == "regcred,mirror"
    assert env["AOP_WORKER_IMAGE_PULL_POLICY"] == "Always"


def test_template_watch_namespaces_follow_the_workers() -> None:
    for sets, expected in [
        (("workers.namespaces={team-a,team-b}",), "team-a,team-b"),
        (("workers.clusterWide=true",), ""),
    ]:
        dep = one(render(*sets), "Deployment", "aop-autonomous-operator-operator")
        assert _env(dep["spec"]["template"]["spec"]["containers"][0])["AOP_WATCH_NAMESPACES"] == (
            expected
        )


def test_template_default_queue_runs_the_chart_image_as_the_worker_sa() -> None:
    docs = render("image.repository=example/aop", "image.tag=v9", "queue.maxReplicas=7")
    q = one(docs, "OperationQueue", "default")
    assert q["metadata"]["namespace"] == NS
    workers = q["spec"]["workers"]
    assert workers["image"] == "example/aop:v9"
    assert workers["serviceAccountName"] == "aop-autonomous-operator-worker"
    assert workers["maxReplicas"] == 7
    assert q["spec"]["rateLimit"] == {"perOrganization": {"limit": 10, "windowSeconds": 3600}}
    assert q["spec"]["retention"] == {"completedSeconds": 604800, "failedSeconds": 604800}
    assert not find(render("queue.create=false"), "OperationQueue")


# ------------------------------------------------------------------ RBAC

WORKER_RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create", "update"]},
    {
        "apiGroups": ["autonomous.dev"],
        "resources": ["operationconsents"],
        "verbs": ["get", "list"],
    },
    {"apiGroups": ["autonomous.dev"], "resources": ["autonomousoperations"], "verbs": ["get"]},
]


def _roles(docs: list[Obj], suffix: str) -> list[Obj]:
    return [
        d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole") and d["metadata"]["name"].endswith(suffix)
    ]


@pytest.mark.parametrize("config", CONFIGS)
def test_template_rbac_has_no_wildcards(config: str) -> None:
    for d in render(*CONFIGS[config]):
        for rule in d.get("rules", []) if d["kind"] in ("Role", "ClusterRole") else []:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (d["metadata"]["name"], rule)
            assert "secrets" not in rule["resources"] or "list" not in rule["verbs"]


def test_template_workers_get_a_role_per_namespace() -> None:
    docs = render("workers.namespaces={team-a,team-b}")
    roles = _roles(docs, "-worker")
    assert {(r["kind"], r["metadata"]["namespace"]) for r in roles} == {
        ("Role", "team-a"),
        ("Role", "team-b"),
    }
    for role in roles:
        assert role["rules"] == WORKER_RULES
    bindings = [d for d in docs if d["kind"] == "RoleBinding" and "worker" in d["metadata"]["name"]]
    for b in bindings:
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": "aop-autonomous-operator-worker", "namespace": NS}
        ]
    assert not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding")
    # The operator needs its custom-resource rules where operations are served and in its
    # own namespace (OperationQueues); Deployments only in its own.
    operator = {r["metadata"]["namespace"] for r in _roles(docs, "-operator")}
    assert operator == {"team-a", "team-b", NS}
    (workloads,) = _roles(docs, "-operator-workloads")
    assert workloads["metadata"]["namespace"] == NS


def test_template_default_serves_the_release_namespace_only() -> None:
    docs = render()
    assert {r["metadata"]["namespace"] for r in _roles(docs, "-worker")} == {NS}
    assert not find(docs, "ClusterRole")


def test_template_cluster_wide_workers() -> None:
    docs = render("workers.clusterWide=true")
    (role,) = _roles(docs, "-worker")
    assert role["kind"] == "ClusterRole"
    assert role["metadata"]["name"] == f"{NS}-aop-autonomous-operator-worker"
    assert role["rules"] == WORKER_RULES
    binding = one(docs, "ClusterRoleBinding", f"{NS}-aop-autonomous-operator-worker")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    operator = [r for r in _roles(docs, "-operator") if r["kind"] == "ClusterRole"]
    assert len(operator) == 1
    resources = {res for rule in operator[0]["rules"] for res in rule["resources"]}
    assert "secrets" not in resources and "deployments" not in resources


def test_template_operator_never_reads_secrets() -> None:
    for config in CONFIGS.values():
        for role in _roles(render(*config), "-operator") + _roles(
            render(*config), "-operator-workloads"
        ):
            for rule in role["rules"]:
                assert "secrets" not in rule["resources"], role["metadata"]["name"]


# ------------------------------------------------------------------ Redis


def _secret_data(docs: list[Obj], name: str) -> dict[str, str]:
    import base64

    secret = one(docs, "Secret", name)
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_template_bundled_redis_keeps_an_aof_on_a_claim() -> None:
    docs = render()
    sts = one(docs, "StatefulSet", "aop-autonomous-operator-redis")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    script = c["args"][0]
    assert "--appendonly yes" in script and "--dir /data" in script
    assert "--maxmemory-policy noeviction" in script
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    assert sts["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    data = _secret_data(docs, "aop-autonomous-operator-redis")
    password = data["redis-password"]
    assert len(password) == 32
    assert data["redis-url"] == (
        f"redis://:{password}@aop-autonomous-operator-redis.{NS}.svc:6379/0"
    )
    svc = one(docs, "Service", "aop-autonomous-operator-redis")
    assert svc["spec"]["ports"][0]["port"] == 6379
    no_pvc = one(
        render("redis.bundled.persistence.enabled=false"), "StatefulSet", sts["metadata"]["name"]
    )
    assert "volumeClaimTemplates" not in no_pvc["spec"]


def test_template_external_redis_url_goes_into_a_secret() -> None:
    docs = render(*EXTERNAL_URL)
    assert not find(docs, "StatefulSet")
    assert _secret_data(docs, "aop-autonomous-operator-redis") == {
        "redis-url": "redis://redis.example:6379/0"
    }
    dep = one(docs, "Deployment")
    env = _env(dep["spec"]["template"]["spec"]["containers"][0])
    assert env["AOP_REDIS_URL"] == {
        "secretKeyRef": {"name": "aop-autonomous-operator-redis", "key": "redis-url"}
    }
    assert "redis.example" not in json.dumps(dep), "the URL must not be a plain env value"


def test_template_existing_secret_is_used_as_is() -> None:
    docs = render(*EXISTING)
    assert not find(docs, "Secret") and not find(docs, "StatefulSet")
    env = _env(one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    assert env["AOP_REDIS_URL"] == {"secretKeyRef": {"name": "my-redis", "key": "url"}}
    assert env["AOP_REDIS_SECRET_NAME"] == "my-redis"
    assert env["AOP_REDIS_SECRET_KEY"] == "url"


@pytest.mark.parametrize(
    "sets",
    [
        ("redis.url=redis://r:6379/0",),  # bundled is on by default
        ("redis.bundled.enabled=false",),
        ("redis.bundled.enabled=false", "redis.url=redis://r:6379", "redis.existingSecret=s"),
    ],
)
def test_template_needs_exactly_one_redis(sets: tuple[str, ...]) -> None:
    proc = run_template(*sets)
    assert proc.returncode != 0
    assert "set exactly one Redis" in proc.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("operator.replicas=2",), "additional properties 'replicas' not allowed"),
        (("queue.concurrency=0",), "minimum"),
        (("redis.url=http://x",), "does not match pattern"),
        (("workers.namespaces={Bad_NS}",), "does not match pattern"),
    ],
)
def test_template_schema_rejects_bad_values(sets: tuple[str, ...], message: str) -> None:
    proc = run_template(*sets)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


# ------------------------------------------------------------------ helm test hook


def _hooks(docs: list[Obj], hook: str) -> list[Obj]:
    return [d for d in docs if d["metadata"].get("annotations", {}).get("helm.sh/hook") == hook]


def test_template_helm_test_hook_applies_waits_and_cleans_up() -> None:
    docs = render()
    hooks = _hooks(docs, "test")
    kinds = sorted(d["kind"] for d in hooks)
    assert kinds == ["ConfigMap", "Pod", "Role", "RoleBinding", "ServiceAccount"]
    pod = one(hooks, "Pod")
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "aop-autonomous-operator-helm-test"
    assert spec["restartPolicy"] == "Never"
    steps = [c["args"][0] for c in spec["initContainers"] + spec["containers"]]
    assert steps == ["delete", "apply", "wait", "delete"]
    wait = spec["initContainers"][2]["args"]
    assert "--for=condition=Succeeded" in wait
    cm = one(hooks, "ConfigMap")
    op = yaml.safe_load(cm["data"]["operation.yaml"])
    assert op["spec"]["service"] == "noop" and op["spec"]["queue"] == "default"
    consent = yaml.safe_load(cm["data"]["consent.yaml"])
    assert consent["spec"]["organizationId"] == op["spec"]["organizationId"]
    role = one(hooks, "Role")
    assert role["metadata"]["namespace"] == NS
    assert {r for rule in role["rules"] for r in rule["resources"]} == {
        "autonomousoperations",
        "operationconsents",
    }
    assert not find(render("tests.enabled=false"), "Pod")


def test_template_helm_test_targets_a_served_namespace() -> None:
    docs = render("workers.namespaces={team-a}")
    role = one(docs, "Role", "aop-autonomous-operator-helm-test")
    assert role["metadata"]["namespace"] == "team-a"
    pod = one(docs, "Pod")
    assert all(
        "team-a" in c["args"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]
    )


def test_template_pre_delete_hook_deletes_the_queue_while_the_operator_runs() -> None:
    docs = render()
    hooks = _hooks(docs, "pre-delete")
    assert sorted(d["kind"] for d in hooks) == ["Job", "Role", "RoleBinding", "ServiceAccount"]
    job = one(hooks, "Job")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "delete" and "operationqueue/default" in c["args"]
    assert "--wait=true" in c["args"]
    role = one(hooks, "Role")
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {
        "get",
        "delete",
        "list",
        "watch",
    }
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"operationqueues"}
    assert not _hooks(render("queue.create=false"), "pre-delete")
    assert not _hooks(render("cleanupHook.enabled=false"), "pre-delete")

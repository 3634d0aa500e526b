"""The worker Deployment builder: a pure function, checked field by field."""

from __future__ import annotations

import pytest

from aop_contracts.models import WorkerSpec
from aop_operator.settings import Settings
from aop_operator.workers import TEMPLATE_HASH, build_worker_deployment


def build(spec: WorkerSpec, settings: Settings | None = None, replicas: int = 0) -> dict:  # type: ignore[type-arg]
    return build_worker_deployment(
        queue="default",
        namespace="aop",
        queue_uid="uid-1",
        spec=spec,
        settings=settings or Settings(redis_url="redis://r:6379/0", worker_image="img:1"),
        replicas=replicas,
    )


def test_deployment_is_owned_by_the_queue_and_selects_its_pods() -> None:
    d = build(WorkerSpec(concurrency=3), replicas=2)
    assert d["metadata"]["name"] == "aop-worker-default"
    owner = d["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "OperationQueue",
        "default",
        "uid-1",
        True,
    )
    assert d["spec"]["replicas"] == 2
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in d["spec"]["selector"]["matchLabels"].items())


def test_pod_runs_the_worker_hardened_with_the_queue_settings() -> None:
    d = build(WorkerSpec(concurrency=3, env=[{"name": "X", "value": "1"}]))
    pod = d["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert c["args"] == ["aop-worker", "--queue", "default"]
    assert c["image"] == "img:1"  # the operator's default when the queue names none
    assert env["AOP_CONCURRENCY"] == "3" and env["AOP_QUEUE"] == "default" and env["X"] == "1"
    assert env["AOP_REDIS_URL"] == "redis://r:6379/0"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["terminationGracePeriodSeconds"] == 330
    assert {v["name"] for v in pod["volumes"]} == {"tmp", "shm"}


def test_redis_url_from_a_secret_never_appears_in_the_pod_spec() -> None:
    s = Settings(
        redis_url="redis://:hunter2@r:6379/0",
        redis_secret_name="aop-redis",
        redis_secret_key="redis-url",
    )
    d = build(WorkerSpec(image="img:2"), s)
    env = {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AOP_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "aop-redis",
        "key": "redis-url",
    }
    assert "hunter2" not in str(d)


def test_template_hash_follows_the_spec_not_the_replicas() -> None:
    a = build(WorkerSpec(image="img:1"), replicas=0)
    b = build(WorkerSpec(image="img:1"), replicas=4)
    c = build(WorkerSpec(image="img:2"), replicas=0)
    h = [x["metadata"]["annotations"][TEMPLATE_HASH] for x in (a, b, c)]
    assert h[0] == h[1] != h[2]


def test_private_registry_settings_reach_the_worker_pods() -> None:
    default = build(WorkerSpec())["spec"]["template"]["spec"]
    assert "imagePullSecrets" not in default
    assert default["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    s = Settings(
        worker_image="registry.example/aop:1",
        worker_image_pull_policy="Always",
        worker_image_pull_secrets=("regcred", "mirror"),
    )
    pod = build(WorkerSpec(), s)["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    assert pod["containers"][0]["imagePullPolicy"] == "Always"


def test_settings_read_list_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOP_WORKER_IMAGE_PULL_SECRETS", " regcred, ,mirror ")
    monkeypatch.setenv("AOP_WATCH_NAMESPACES", "a,b")
    monkeypatch.setenv("AOP_WORKER_IMAGE_PULL_POLICY", "Never")
    s = Settings.from_env()
    assert s.worker_image_pull_secrets == ("regcred", "mirror")
    assert s.watch_namespaces == ("a", "b")
    assert s.worker_image_pull_policy == "Never"
    monkeypatch.delenv("AOP_WORKER_IMAGE_PULL_SECRETS")
    assert Settings.from_env().worker_image_pull_secrets == ()

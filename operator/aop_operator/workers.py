"""The worker Deployment of an OperationQueue, as a pure ``build_*`` function.

The operator owns one Deployment per queue (owner reference to the OperationQueue, so it
goes when the queue goes). The template is rebuilt from ``spec.workers`` on every pass
and applied only when its hash changes; replicas are the scaler's business.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aop_contracts import crd
from aop_contracts.models import WorkerSpec
from aop_operator.settings import Settings

TEMPLATE_HASH = f"{crd.GROUP}/template-hash"
APP_NAME = "autonomous-operator"


def deployment_name(queue: str) -> str:
    """``aop-worker-<queue>``, cut to a valid object name."""
    return f"aop-worker-{queue}"[:253]


def worker_labels(queue: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        crd.COMPONENT_LABEL: "worker",
        crd.QUEUE_LABEL: queue,
        crd.MANAGED_BY_LABEL: crd.MANAGED_BY,
    }


def worker_selector(queue: str) -> dict[str, str]:
    """The labels that select the queue's worker pods (the Deployment's selector)."""
    return {crd.QUEUE_LABEL: queue, crd.COMPONENT_LABEL: "worker"}


def build_worker_deployment(
    *,
    queue: str,
    namespace: str,
    queue_uid: str,
    spec: WorkerSpec,
    settings: Settings,
    replicas: int,
) -> dict[str, Any]:
    """The full Deployment for the queue's workers."""
    labels = worker_labels(queue)
    if settings.redis_secret_name:
        redis_env: dict[str, Any] = {
            "name": "AOP_REDIS_URL",
            "valueFrom": {
                "secretKeyRef": {
                    "name": settings.redis_secret_name,
                    "key": settings.redis_secret_key,
                }
            },
        }
    else:
        redis_env = {"name": "AOP_REDIS_URL", "value": settings.redis_url}
    env: list[dict[str, Any]] = [
        {"name": "AOP_QUEUE", "value": queue},
        {"name": "AOP_CONCURRENCY", "value": str(spec.concurrency)},
        redis_env,
        {"name": "AOP_WORKER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "AOP_GRACE_SECONDS", "value": str(settings.worker_grace_seconds)},
        {"name": "AOP_ARTIFACTS_DIR", "value": "/tmp/artifacts"},
        {"name": "HOME", "value": "/tmp"},
        *spec.env,
    ]
    container: dict[str, Any] = {
        "name": "worker",
        "image": spec.image or settings.worker_image,
        "imagePullPolicy": settings.worker_image_pull_policy,
        "args": ["aop-worker", "--queue", queue],
        "env": env,
        "resources": spec.resources
        or {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        # The worker drains on SIGTERM for worker_grace_seconds; the pod gets a margin.
        "terminationGracePeriodSeconds": settings.worker_grace_seconds + 30,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            # Chromium needs more shared memory than a container's default 64 MiB.
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}},
        ],
    }
    if settings.worker_image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in settings.worker_image_pull_secrets]
    sa = spec.service_account_name or settings.worker_service_account
    if sa:
        pod_spec["serviceAccountName"] = sa
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(queue),
            "namespace": namespace,
            "labels": labels,
            "annotations": {TEMPLATE_HASH: digest},
            "ownerReferences": [
                {
                    "apiVersion": crd.API_VERSION,
                    "kind": crd.QUEUE_KIND,
                    "name": queue,
                    "uid": queue_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": worker_selector(queue)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": template,
        },
    }

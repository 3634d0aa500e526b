"""The CRDs as the real kube-apiserver enforces them: what `kubectl` users see.

Valid examples apply; invalid manifests are rejected at `kubectl apply` with a message
that names the problem; immutable fields stay immutable; printer columns, `explain` and
the `autonomous` category work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aop_contracts.models import CONFIG_MAX_PROPERTIES, OperationSpec

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
API_VERSION = "autonomous.dev/v1alpha1"

JsonDict = dict[str, Any]

NOOP_SPEC: JsonDict = {
    "organizationId": "acme",
    "userId": "alice",
    "service": "noop",
    "operation": "simulate",
}
SHOPIFY_SPEC: JsonDict = {
    "organizationId": "acme",
    "userId": "alice",
    "service": "shopify",
    "operation": "api_credential_generation",
    "credentialsSecretRef": {"name": "store-login"},
    "config": {"storeUrl": "http://127.0.0.1:8081"},
}
CONSENT_SPEC: JsonDict = {
    "organizationId": "acme",
    "grantedBy": "alice",
    "services": ["noop"],
}


def _manifest(kind: str, spec: JsonDict | None, name: str = "subject") -> str:
    body: JsonDict = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return json.dumps(body)


def _operation(spec: JsonDict | None) -> str:
    return _manifest("AutonomousOperation", spec)


def _without(spec: JsonDict, key: str) -> JsonDict:
    return {k: v for k, v in spec.items() if k != key}


# --- valid resources ------------------------------------------------------------------


@pytest.fixture
def examples(crds: Any, namespace: str) -> str:
    """Every manifest under examples/ applied to a fresh namespace."""
    crds.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES))
    return namespace


def test_examples_apply_and_get_server_side_defaults(crds: Any, examples: str) -> None:
    out = crds.kubectl("get", "aop", "noop-simulate", "-n", examples, "-o", "json").stdout
    spec = json.loads(out)["spec"]
    # The API server filled in the defaults the model declares.
    assert spec["queue"] == "default"
    assert spec["retry"] == {"attempts": 3, "backoffSeconds": 5}
    assert spec["cancel"] is False
    assert OperationSpec.model_validate(spec).priority == "high"
    queue = json.loads(crds.kubectl("get", "aopq", "default", "-n", examples, "-o", "json").stdout)[
        "spec"
    ]
    assert queue["workers"]["concurrency"] == 2
    assert queue["scaling"]["enabled"] is True


def test_printer_columns(crds: Any, examples: str) -> None:
    header = crds.kubectl("get", "autonomousoperations", "-n", examples).stdout.splitlines()[0]
    assert header.split() == [
        "NAME",
        "SERVICE",
        "OPERATION",
        "PRIORITY",
        "PHASE",
        "PROGRESS",
        "AGE",
    ]
    queues = crds.kubectl("get", "aopq", "-n", examples).stdout.splitlines()
    assert queues[0].split() == [
        "NAME",
        "WAITING",
        "ACTIVE",
        "FAILED",
        "DESIRED",
        "READY",
        "PAUSED",
        "AGE",
    ]
    consents = crds.kubectl("get", "aopconsent", "-n", examples).stdout.splitlines()
    assert consents[0].split() == ["NAME", "ORGANIZATION", "SERVICES", "REVOKED", "EXPIRES", "AGE"]
    assert consents[1].split()[:4] == ["acme", "acme", '["noop","shopify","woocommerce"]', "false"]


def test_progress_column_shows_status(crds: Any, namespace: str) -> None:
    crds.kubectl("create", "-n", namespace, "-f", "-", input=_operation(NOOP_SPEC))
    status = {
        "status": {
            "phase": "Running",
            "progress": {"percent": 40, "message": "step 2 of 5", "step": "2"},
            # kopf keeps its own bookkeeping in status; the schema must not prune it.
            "kopf": {"progress": {"handler": {"started": "2026-01-01T00:00:00Z"}}},
        }
    }
    crds.kubectl(
        "patch", "aop", "subject", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    row = crds.kubectl("get", "aop", "subject", "-n", namespace, "--no-headers").stdout.split()
    assert row[1:6] == ["noop", "simulate", "normal", "Running", "40"]
    stored = json.loads(
        crds.kubectl("get", "aop", "subject", "-n", namespace, "-o", "json").stdout
    )["status"]
    assert stored["kopf"] == status["status"]["kopf"]


def test_wait_for_succeeded_condition(crds: Any, namespace: str) -> None:
    crds.kubectl("create", "-n", namespace, "-f", "-", input=_operation(NOOP_SPEC))
    condition = {
        "type": "Succeeded",
        "status": "True",
        "reason": "JobCompleted",
        "message": "done",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    crds.kubectl(
        "patch", "aop", "subject", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"phase": "Succeeded", "conditions": [condition]}}),
    )  # fmt: skip
    crds.kubectl(
        "wait", "--for=condition=Succeeded", "aop/subject", "-n", namespace, "--timeout=10s"
    )


def test_explain_prints_the_model_description(crds: Any) -> None:
    out = crds.kubectl("explain", "autonomousoperation.spec.priority").stdout
    description = OperationSpec.model_fields["priority"].description
    assert description is not None
    assert " ".join(description.split()[:6]) in " ".join(out.split())
    for value in ("critical", "high", "normal", "low", "deferred"):
        assert value in out


def test_category_lists_all_three_kinds(crds: Any, examples: str) -> None:
    out = crds.kubectl("get", "autonomous", "-n", examples, "-o", "name").stdout.split()
    assert "autonomousoperation.autonomous.dev/noop-simulate" in out
    assert "operationqueue.autonomous.dev/default" in out
    assert "operationconsent.autonomous.dev/acme" in out


def test_short_names(crds: Any, examples: str) -> None:
    out = crds.kubectl("get", "aop,aopq,aopconsent", "-n", examples, "-o", "name").stdout
    assert len(out.split()) == len(
        crds.kubectl("get", "autonomous", "-n", examples, "-o", "name").stdout.split()
    )


def test_mutable_fields_can_change(crds: Any, namespace: str) -> None:
    crds.kubectl("create", "-n", namespace, "-f", "-", input=_operation(NOOP_SPEC))
    patch = {"spec": {"priority": "critical", "config": {"steps": 2}, "cancel": True}}
    crds.kubectl(
        "patch", "aop", "subject", "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )


# --- invalid resources ------------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    """A manifest the API server must reject, and the fragment its error must contain.

    With ``patch``, ``manifest`` is valid and created first; the merge patch is rejected.
    """

    id: str
    manifest: str
    message: str
    patch: JsonDict | None = None
    resource: str = "autonomousoperation/subject"


INVALID = [
    Invalid(
        "missing-spec",
        _operation(None),
        "spec: Required value",
    ),
    Invalid(
        "missing-organizationId",
        _operation(_without(NOOP_SPEC, "organizationId")),
        "spec.organizationId: Required value",
    ),
    Invalid(
        "missing-userId",
        _operation(_without(NOOP_SPEC, "userId")),
        "spec.userId: Required value",
    ),
    Invalid(
        "empty-userId",
        _operation({**NOOP_SPEC, "userId": ""}),
        "spec.userId in body should be at least 1 chars long",
    ),
    Invalid(
        "organizationId-uppercase",
        _operation({**NOOP_SPEC, "organizationId": "ACME"}),
        'spec.organizationId: Invalid value: "ACME"',
    ),
    Invalid(
        "organizationId-too-long",
        _operation({**NOOP_SPEC, "organizationId": "a" * 64}),
        "spec.organizationId: Too long: may not be more than 63 bytes",
    ),
    Invalid(
        "service-not-in-enum",
        _operation({**NOOP_SPEC, "service": "amazon"}),
        'spec.service: Unsupported value: "amazon": supported values: "shopify", '
        '"woocommerce", "noop"',
    ),
    Invalid(
        "priority-not-in-enum",
        _operation({**NOOP_SPEC, "priority": "urgent"}),
        'spec.priority: Unsupported value: "urgent"',
    ),
    Invalid(
        "attempts-0",
        _operation({**NOOP_SPEC, "retry": {"attempts": 0}}),
        "spec.retry.attempts in body should be greater than or equal to 1",
    ),
    Invalid(
        "attempts-11",
        _operation({**NOOP_SPEC, "retry": {"attempts": 11}}),
        "spec.retry.attempts in body should be less than or equal to 10",
    ),
    Invalid(
        "attempts-wrong-type",
        _operation({**NOOP_SPEC, "retry": {"attempts": "three"}}),
        "spec.retry.attempts in body must be of type integer",
    ),
    Invalid(
        "config-oversized",
        _operation({**NOOP_SPEC, "config": {f"k{i}": i for i in range(CONFIG_MAX_PROPERTIES + 1)}}),
        f"spec.config: Too many: {CONFIG_MAX_PROPERTIES + 1}: must have at most "
        f"{CONFIG_MAX_PROPERTIES} items",
    ),
    Invalid(
        "config-not-an-object",
        _operation({**NOOP_SPEC, "config": "steps=5"}),
        "spec.config in body must be of type object",
    ),
    Invalid(
        "noop-with-api_credential_generation",
        _operation({**NOOP_SPEC, "operation": "api_credential_generation"}),
        'spec.operation: Invalid value: "object": service noop supports only the operation '
        "simulate",
    ),
    Invalid(
        "woocommerce-token_refresh",
        _operation({**SHOPIFY_SPEC, "service": "woocommerce", "operation": "token_refresh"}),
        "service woocommerce supports only the operations api_credential_generation, "
        "credential_rotation",
    ),
    Invalid(
        "shopify-simulate",
        _operation({**SHOPIFY_SPEC, "operation": "simulate"}),
        "service shopify supports only the operations",
    ),
    Invalid(
        "shopify-without-credentialsSecretRef",
        _operation(_without(SHOPIFY_SPEC, "credentialsSecretRef")),
        "spec.credentialsSecretRef: Required value: credentialsSecretRef is required unless "
        "service is noop",
    ),
    Invalid(
        "credentialsSecretRef-bad-name",
        _operation({**SHOPIFY_SPEC, "credentialsSecretRef": {"name": "Store_Login"}}),
        'spec.credentialsSecretRef.name: Invalid value: "Store_Login"',
    ),
    Invalid(
        "queue-not-a-dns-label",
        _operation({**NOOP_SPEC, "queue": "Fast Lane"}),
        'spec.queue: Invalid value: "Fast Lane"',
    ),
    Invalid(
        "service-changed",
        _operation(NOOP_SPEC),
        'spec.service: Invalid value: "string": service is immutable',
        patch={"spec": {"service": "shopify", "credentialsSecretRef": {"name": "s"}}},
    ),
    Invalid(
        "organizationId-changed",
        _operation(NOOP_SPEC),
        "organizationId is immutable",
        patch={"spec": {"organizationId": "globex"}},
    ),
    Invalid(
        "operation-changed",
        _operation(SHOPIFY_SPEC),
        "operation is immutable",
        patch={"spec": {"operation": "credential_rotation"}},
    ),
    Invalid(
        "resultSecretRef-changed",
        _operation({**SHOPIFY_SPEC, "resultSecretRef": {"name": "a-credentials"}}),
        "resultSecretRef is immutable",
        patch={"spec": {"resultSecretRef": {"name": "b-credentials"}}},
    ),
    Invalid(
        "resultSecretRef-added",
        _operation(SHOPIFY_SPEC),
        "resultSecretRef is immutable",
        patch={"spec": {"resultSecretRef": {"name": "b-credentials"}}},
    ),
    Invalid(
        "cancel-reverted",
        _operation({**NOOP_SPEC, "cancel": True}),
        "cancel cannot be set back to false",
        patch={"spec": {"cancel": False}},
    ),
    Invalid(
        "consent-expiresAt-not-a-date-time",
        _manifest("OperationConsent", {**CONSENT_SPEC, "expiresAt": "tomorrow"}),
        'spec.expiresAt in body must be of type date-time: "tomorrow"',
    ),
    Invalid(
        "consent-without-services",
        _manifest("OperationConsent", {**CONSENT_SPEC, "services": []}),
        "spec.services in body should have at least 1 items",
    ),
    Invalid(
        "consent-duplicate-service",
        _manifest("OperationConsent", {**CONSENT_SPEC, "services": ["noop", "noop"]}),
        'spec.services[1]: Duplicate value: "noop"',
    ),
    Invalid(
        "consent-unknown-service",
        _manifest("OperationConsent", {**CONSENT_SPEC, "services": ["amazon"]}),
        'spec.services[0]: Unsupported value: "amazon"',
    ),
    Invalid(
        "queue-maxReplicas-below-minReplicas",
        _manifest("OperationQueue", {"workers": {"minReplicas": 3, "maxReplicas": 1}}),
        'spec.workers.maxReplicas: Invalid value: "object": maxReplicas must be greater '
        "than or equal to minReplicas",
    ),
    Invalid(
        "queue-minReplicas-above-default-maxReplicas",
        _manifest("OperationQueue", {"workers": {"minReplicas": 5}}),
        "maxReplicas must be greater than or equal to minReplicas",
    ),
    Invalid(
        "queue-concurrency-0",
        _manifest("OperationQueue", {"workers": {"concurrency": 0}}),
        "spec.workers.concurrency in body should be greater than or equal to 1",
    ),
    Invalid(
        # kubectl validates strictly by default: the server refuses unknown fields
        # instead of silently pruning them.
        "unknown-spec-field",
        _operation({**NOOP_SPEC, "prority": "high"}),
        'strict decoding error: unknown field "spec.prority"',
    ),
    Invalid(
        "unknown-nested-field",
        _operation({**NOOP_SPEC, "retry": {"attempts": 2, "backoff": 5}}),
        'unknown field "spec.retry.backoff"',
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=[c.id for c in INVALID])
def test_invalid_manifest_is_rejected(crds: Any, namespace: str, case: Invalid) -> None:
    if case.patch is None:
        result = crds.kubectl("apply", "-n", namespace, "-f", "-", input=case.manifest, check=False)
    else:
        crds.kubectl("create", "-n", namespace, "-f", "-", input=case.manifest)
        result = crds.kubectl(
            "patch", case.resource, "-n", namespace, "--type=merge",
            "-p", json.dumps(case.patch), check=False,
        )  # fmt: skip
    assert result.returncode != 0, f"accepted:\n{result.stdout}"
    assert case.message in result.stderr


def test_enough_distinct_rejections() -> None:
    assert len({c.message for c in INVALID}) >= 12


def test_unknown_field_is_pruned_when_validation_is_off(crds: Any, namespace: str) -> None:
    """What a client that skips field validation gets: structural pruning, not an error."""
    manifest = _operation({**NOOP_SPEC, "prority": "high"})
    result = crds.kubectl("apply", "--validate=false", "-n", namespace, "-f", "-", input=manifest)
    assert "created" in result.stdout
    spec = json.loads(crds.kubectl("get", "aop", "subject", "-n", namespace, "-o", "json").stdout)[
        "spec"
    ]
    assert "prority" not in spec
    assert spec["priority"] == "normal"

"""Manifest builders for the operator/worker integration tests."""

from __future__ import annotations

from typing import Any

ORG = "acme"


def queue(name: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autonomous.dev/v1alpha1",
        "kind": "OperationQueue",
        "metadata": {"name": name},
        "spec": spec,
    }


def consent(name: str = "acme", org: str = ORG, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autonomous.dev/v1alpha1",
        "kind": "OperationConsent",
        "metadata": {"name": name},
        "spec": {
            "organizationId": org,
            "grantedBy": f"admin@{org}.example",
            "services": ["noop"],
            **spec,
        },
    }


def noop(
    name: str,
    *,
    org: str = ORG,
    priority: str = "normal",
    attempts: int = 3,
    backoff: int = 1,
    **config: Any,
) -> dict[str, Any]:
    config.setdefault("durationSeconds", 0.2)
    config.setdefault("steps", 2)
    return {
        "apiVersion": "autonomous.dev/v1alpha1",
        "kind": "AutonomousOperation",
        "metadata": {"name": name},
        "spec": {
            "organizationId": org,
            "userId": f"user@{org}.example",
            "service": "noop",
            "operation": "simulate",
            "priority": priority,
            "retry": {"attempts": attempts, "backoffSeconds": backoff},
            "config": config,
        },
    }

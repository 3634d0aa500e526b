"""Manifests a user would ``kubectl apply`` for the Shopify and WooCommerce agents."""

from __future__ import annotations

from typing import Any

ORG = "acme"
API_VERSION = "autonomous.dev/v1alpha1"


def queue(name: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "OperationQueue",
        "metadata": {"name": name},
        "spec": spec,
    }


def consent(name: str = ORG, org: str = ORG, **spec: Any) -> dict[str, Any]:
    """The organization's consent for both stores (every operation they support)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "OperationConsent",
        "metadata": {"name": name},
        "spec": {
            "organizationId": org,
            "grantedBy": f"admin@{org}.example",
            "services": ["shopify", "woocommerce"],
            **spec,
        },
    }


def login_secret(name: str, username: str, password: str) -> dict[str, Any]:
    """The store login an operation's ``credentialsSecretRef`` names."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "stringData": {"username": username, "password": password},
    }


def operation(
    name: str,
    service: str,
    *,
    login: str,
    operation: str = "api_credential_generation",
    attempts: int = 3,
    backoff: int = 1,
    **config: Any,
) -> dict[str, Any]:
    config.setdefault("timeoutSeconds", 30)
    return {
        "apiVersion": API_VERSION,
        "kind": "AutonomousOperation",
        "metadata": {"name": name},
        "spec": {
            "organizationId": ORG,
            "userId": f"alice@{ORG}.example",
            "service": service,
            "operation": operation,
            "credentialsSecretRef": {"name": login},
            "retry": {"attempts": attempts, "backoffSeconds": backoff},
            "config": config,
        },
    }


def shopify_operation(name: str, site: Any, *, login: str, **kwargs: Any) -> dict[str, Any]:
    """An operation against a running ``ShopifySite`` (its store and Dev Dashboard)."""
    kwargs.setdefault("storeUrl", site.store_url)
    kwargs.setdefault("devDashboardUrl", site.dev_dashboard_url)
    return operation(name, "shopify", login=login, **kwargs)


def woo_operation(name: str, site: Any, *, login: str, **kwargs: Any) -> dict[str, Any]:
    """An operation against a running ``WooCommerceSite``."""
    kwargs.setdefault("storeUrl", site.url)
    return operation(name, "woocommerce", login=login, **kwargs)

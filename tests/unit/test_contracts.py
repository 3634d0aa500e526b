"""The job contract and the consent rule shared by operator and workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aop_contracts.configs import ConfigError, NoopSimulateConfig, validate_config
from aop_contracts.consent import evaluate_consent
from aop_contracts.jobs import (
    PRIORITY_MAP,
    JobPayload,
    format_failure,
    parse_failure,
    result_secret_name,
)
from aop_contracts.models import ConsentSpec, Priority

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def test_priority_map_is_strictly_ordered_and_complete() -> None:
    order = [Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW, Priority.DEFERRED]
    assert [PRIORITY_MAP[p] for p in order] == [1, 2, 3, 4, 5]
    assert set(PRIORITY_MAP) == set(Priority)


def test_failure_round_trip() -> None:
    assert parse_failure(format_failure("InvalidCredentials", "wrong: password")) == (
        "InvalidCredentials",
        "wrong: password",
    )
    assert parse_failure("plain text") == ("JobFailed", "plain text")
    assert parse_failure(None)[0] == "JobFailed"


def test_payload_carries_references_only() -> None:
    p = JobPayload(
        namespace="ns",
        name="op",
        uid="u",
        organization_id="acme",
        user_id="a",
        service="noop",
        operation="simulate",
        config={},
        credentials_secret_name="login",
        result_secret_name=result_secret_name("op"),
    )
    data = p.model_dump(by_alias=True)
    assert data["credentialsSecretName"] == "login"
    assert data["resultSecretName"] == "op-credentials"
    assert not {"password", "username", "token"} & set(data)


def test_config_validation() -> None:
    cfg = validate_config("noop", "simulate", {"steps": 3})
    assert isinstance(cfg, NoopSimulateConfig) and cfg.steps == 3
    with pytest.raises(ConfigError, match="steps"):
        validate_config("noop", "simulate", {"steps": 0})
    with pytest.raises(ConfigError, match="colour"):
        validate_config("noop", "simulate", {"colour": "blue"})
    with pytest.raises(ConfigError, match="no operation"):
        validate_config("woocommerce", "token_refresh", {"storeUrl": "https://x"})
    with pytest.raises(ConfigError, match="unknown"):
        validate_config("ftp", "simulate", {})


def consent(**kw: object) -> ConsentSpec:
    base: dict[str, object] = {"organizationId": "acme", "grantedBy": "a", "services": ["noop"]}
    base.update(kw)
    return ConsentSpec.model_validate(base)


@pytest.mark.parametrize(
    ("consents", "allowed", "reason"),
    [
        ([], False, "ConsentMissing"),
        ([("c", consent())], True, "ConsentGranted"),
        ([("c", consent(organizationId="globex"))], False, "ConsentMissing"),
        ([("c", consent(services=["shopify"]))], False, "ConsentMissing"),
        ([("c", consent(operations=["api_credential_generation"]))], False, "ConsentMissing"),
        ([("c", consent(operations=["simulate"]))], True, "ConsentGranted"),
        ([("c", consent(revoked=True))], False, "ConsentRevoked"),
        (
            [("c", consent(expiresAt=(NOW - timedelta(days=1)).isoformat()))],
            False,
            "ConsentMissing",
        ),
        ([("c", consent(expiresAt=(NOW + timedelta(days=1)).isoformat()))], True, "ConsentGranted"),
        ([("old", consent(revoked=True)), ("new", consent())], True, "ConsentGranted"),
    ],
)
def test_consent_rule(consents: list[tuple[str, ConsentSpec]], allowed: bool, reason: str) -> None:
    d = evaluate_consent(
        consents, organization_id="acme", service="noop", operation="simulate", now=NOW
    )
    assert (d.allowed, d.reason) == (allowed, reason)

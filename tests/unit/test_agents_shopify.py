"""Pure pieces of the Shopify agent: token responses, rotation planning, summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aop_agents.agents.base import AgentError, InvalidCredentials, UnexpectedPage
from aop_agents.agents.shopify import (
    RotationPlan,
    TokenGrant,
    host_pattern,
    parse_token_response,
    plan_rotation,
    summarize,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_token_response() -> None:
    grant = parse_token_response(
        200,
        {"access_token": "shpat_x", "scope": "read_products,write_orders", "expires_in": 86399},
        now=NOW,
    )
    assert grant == TokenGrant(
        "shpat_x", ("read_products", "write_orders"), NOW + timedelta(seconds=86399)
    )


@pytest.mark.parametrize(
    ("status", "body", "reason", "permanent"),
    [
        (401, {"error": "invalid_client"}, "InvalidCredentials", True),
        (400, {"error": "invalid_client"}, "InvalidCredentials", True),
        (400, {"error": "invalid_request"}, "TokenRequestRejected", True),
        (503, None, "StoreUnavailable", False),
        (429, None, "StoreRateLimited", False),
        (200, {"scope": "x"}, "UnexpectedPage", False),
        (200, None, "TokenRequestRejected", False),
    ],
)
def test_token_errors(
    status: int, body: dict[str, str] | None, reason: str, permanent: bool
) -> None:
    error = parse_token_response(status, body, now=NOW)
    assert isinstance(error, AgentError)
    assert (error.reason, error.permanent) == (reason, permanent)


def test_rejected_client_is_invalid_credentials() -> None:
    assert isinstance(parse_token_response(401, {}, now=NOW), InvalidCredentials)


def test_rotation_plans() -> None:
    assert plan_rotation(["old"], "old") == RotationPlan(rotate=True)
    assert plan_rotation(["new", "old"], "old") == RotationPlan(False, keep="new", revoke="old")
    assert plan_rotation(["old", "new"], "old") == RotationPlan(False, keep="new", revoke="old")
    # An earlier attempt rotated and revoked, then died before the result was stored.
    assert plan_rotation(["new"], "old") == RotationPlan(False, keep="new")


def test_rotation_conflicts() -> None:
    with pytest.raises(AgentError) as caught:
        plan_rotation(["a", "b"], "old")
    assert caught.value.reason == "RotationConflict" and caught.value.permanent
    with pytest.raises(UnexpectedPage):
        plan_rotation([], "old")


def test_summary_has_no_secret() -> None:
    summary = summarize(app_name="sync", scopes=["read_products"], client_id="0123456789abcdef")
    assert summary == "app sync, scopes read_products, client id …cdef"
    assert summarize(app_name="sync", scopes=("a", "b")) == "app sync, scopes a,b"


def test_store_picker_matches_whole_domains() -> None:
    pattern = host_pattern("http://127.0.0.1:5000/")
    assert pattern.search("Acme 127.0.0.1:5000 Install")
    assert not pattern.search("Other 127.0.0.1:50001 Install")
    shop = host_pattern("https://acme.myshopify.com")
    assert shop.search("Acme Store acme.myshopify.com")
    assert not shop.search("notacme.myshopify.com")
    assert not shop.search("acme.myshopify.com.evil.example")

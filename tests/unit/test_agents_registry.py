"""The agent registry: every declared pair resolves; anything else is UnknownService."""

from __future__ import annotations

import pytest

from aop_agents.agents.base import AgentError
from aop_agents.registry import AGENTS, get_agent
from aop_contracts.models import SERVICE_OPERATIONS, OperationType, Service


@pytest.mark.parametrize(
    ("service", "operation"),
    [(s, o) for s, ops in SERVICE_OPERATIONS.items() for o in sorted(ops)],
)
def test_every_declared_pair_has_an_agent(service: Service, operation: OperationType) -> None:
    agent = get_agent(service.value, operation.value)
    assert agent.service is service
    assert operation in agent.operations
    assert get_agent(service, operation) is agent  # one instance per process


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("shopify", "simulate"),
        ("woocommerce", "token_refresh"),
        ("magento", "api_credential_generation"),
        ("noop", "nothing"),
    ],
)
def test_unknown_pairs_fail_permanently(service: str, operation: str) -> None:
    with pytest.raises(AgentError) as caught:
        get_agent(service, operation)
    assert caught.value.reason == "UnknownService"
    assert caught.value.permanent


def test_registry_lists_every_service() -> None:
    assert set(AGENTS) == set(Service)
    assert len(AGENTS) == len(Service)


def test_only_browser_flows_ask_for_a_browser() -> None:
    shopify = AGENTS[Service.SHOPIFY]
    assert not shopify.uses_browser(OperationType.TOKEN_REFRESH)
    assert shopify.uses_browser(OperationType.API_CREDENTIAL_GENERATION)
    assert AGENTS[Service.WOOCOMMERCE].uses_browser(OperationType.CREDENTIAL_ROTATION)
    assert not AGENTS[Service.NOOP].uses_browser(OperationType.SIMULATE)

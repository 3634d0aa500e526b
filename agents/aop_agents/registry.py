"""The agent registry: which agent serves each (service, operation) pair."""

from __future__ import annotations

import importlib

from aop_agents.agents.base import Agent, PermanentAgentError
from aop_contracts.models import OperationType, Service

# Imported on first use: a worker that only runs noop jobs never loads Playwright.
_AGENT_CLASSES: dict[Service, str] = {
    Service.NOOP: "aop_agents.agents.noop:NoopAgent",
    Service.SHOPIFY: "aop_agents.agents.shopify:ShopifyAgent",
    Service.WOOCOMMERCE: "aop_agents.agents.woocommerce:WooCommerceAgent",
}
_instances: dict[Service, Agent] = {}


def get_agent(service: str, operation: str) -> Agent:
    """The agent for the pair; a permanent ``UnknownService`` error when there is none."""
    try:
        svc, op = Service(service), OperationType(operation)
    except ValueError as e:
        raise PermanentAgentError(
            f"no agent for {service}/{operation}", reason="UnknownService"
        ) from e
    agent = _instances.get(svc)
    if agent is None:
        module, _, cls = _AGENT_CLASSES[svc].partition(":")
        agent = getattr(importlib.import_module(module), cls)()
        _instances[svc] = agent
    if op not in agent.operations:
        raise PermanentAgentError(
            f"{service} has no operation {operation}", reason="UnknownService"
        )
    return agent

"""The agent registry: which agent serves each (service, operation) pair.

Agent modules are imported on first use, so a worker that only runs ``noop`` jobs never
loads Playwright, and a broken or missing agent module fails only the jobs of its own
service (as a permanent ``UnknownService`` error) instead of the whole worker.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping

from aop_agents.agents.base import Agent, PermanentAgentError
from aop_contracts.models import OperationType, Service

log = logging.getLogger(__name__)

#: ``module:Class`` of the agent serving each service.
AGENT_CLASSES: dict[Service, str] = {
    Service.NOOP: "aop_agents.agents.noop:NoopAgent",
    Service.SHOPIFY: "aop_agents.agents.shopify:ShopifyAgent",
    Service.WOOCOMMERCE: "aop_agents.agents.woocommerce:WooCommerceAgent",
}


class UnknownService(PermanentAgentError):
    reason = "UnknownService"


class _Agents(Mapping[Service, Agent]):
    """``Service → Agent``, instantiating each agent (one per process) when first looked up."""

    def __init__(self, classes: Mapping[Service, str]) -> None:
        self._classes = dict(classes)
        self._instances: dict[Service, Agent] = {}

    def __getitem__(self, service: Service) -> Agent:
        agent = self._instances.get(service)
        if agent is None:
            module_name, _, class_name = self._classes[service].partition(":")
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as e:
                log.exception("agent for %s could not be loaded", service)
                raise UnknownService(f"the agent for {service} is not available") from e
            agent = cls()
            if not isinstance(agent, Agent):
                raise UnknownService(f"{self._classes[service]} is not an Agent")
            self._instances[service] = agent
        return agent

    def __iter__(self) -> Iterator[Service]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)


AGENTS: Mapping[Service, Agent] = _Agents(AGENT_CLASSES)


def get_agent(service: str, operation: str) -> Agent:
    """The agent for the pair; a permanent ``UnknownService`` error when there is none."""
    try:
        svc, op = Service(service), OperationType(operation)
    except ValueError as e:
        raise UnknownService(f"no agent for {service}/{operation}") from e
    if svc not in AGENT_CLASSES:
        raise UnknownService(f"no agent for {service}/{operation}")
    agent = AGENTS[svc]
    if op not in agent.operations:
        raise UnknownService(f"{service} has no operation {operation}")
    return agent

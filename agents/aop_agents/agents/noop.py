"""``noop/simulate``: an agent that only reports progress, for tests, demos and capacity
planning. Its config shapes failures on purpose (``failAttempts``, ``permanentFailure``)."""

from __future__ import annotations

import asyncio

from aop_agents.agents.base import Agent, AgentContext, AgentError, AgentResult, PermanentAgentError
from aop_contracts.configs import NoopSimulateConfig
from aop_contracts.models import OperationType, Service


class NoopAgent(Agent):
    service = Service.NOOP
    operations = frozenset({OperationType.SIMULATE})
    needs_browser = False

    async def run(self, ctx: AgentContext) -> AgentResult:
        cfg = ctx.config
        assert isinstance(cfg, NoopSimulateConfig)
        attempt = ctx.attempt
        if cfg.permanent_failure:
            raise PermanentAgentError(
                "simulated permanent failure", reason="SimulatedPermanentFailure"
            )
        pause = cfg.duration_seconds / cfg.steps
        for step in range(1, cfg.steps + 1):
            await asyncio.sleep(pause)
            if step == 1 and attempt <= cfg.fail_attempts:
                raise AgentError(
                    f"simulated transient failure on attempt {attempt} of "
                    f"{cfg.fail_attempts} planned",
                    reason="SimulatedFailure",
                )
            await ctx.progress(
                round(step * 100 / cfg.steps), f"step {step} of {cfg.steps}", f"step-{step}"
            )
        return AgentResult(
            secret_data={},
            summary=f"simulated {cfg.steps} steps in {cfg.duration_seconds:g}s "
            f"on attempt {attempt}",
        )

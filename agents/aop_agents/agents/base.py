"""What every agent is: a declared service, its operations and config model, and ``run``.

The worker owns everything around an agent (consent re-check, the browser, the Kubernetes
Secrets, progress reporting); an agent only drives one flow and returns what it created.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

from aop_contracts.models import OperationType, Service

if TYPE_CHECKING:
    from aop_agents.browser import BrowserPool

ProgressFn = Callable[[int, str, str], Awaitable[None]]
"""``await progress(percent, message, step)``: reported to the job and mirrored to status."""


class AgentError(Exception):
    """A failure the worker knows how to classify.

    ``reason`` is a CamelCase word that ends up in ``status.reason``; ``permanent`` errors
    fail the job at once (no retry), the others are retried with backoff.
    """

    reason: str = "AgentError"
    permanent: bool = False

    def __init__(self, message: str, *, reason: str | None = None, permanent: bool | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if permanent is not None:
            self.permanent = permanent


class PermanentAgentError(AgentError):
    permanent = True


class InvalidCredentials(PermanentAgentError):
    reason = "InvalidCredentials"


class InteractiveLoginRequired(PermanentAgentError):
    """A two-factor or captcha prompt that an unattended agent cannot answer."""

    reason = "InteractiveLoginRequired"


class InvalidConfig(PermanentAgentError):
    reason = "InvalidConfig"


class StoreUnreachable(AgentError):
    reason = "StoreUnreachable"


class StoreTimeout(AgentError):
    reason = "StoreTimeout"


class UnexpectedPage(AgentError):
    """The page did not look like any step of the flow (layout change, error page)."""

    reason = "UnexpectedPage"


@dataclass
class AgentContext:
    """Everything one run of an agent may use."""

    service: Service
    operation: OperationType
    config: BaseModel
    #: The login from ``spec.credentialsSecretRef`` (decoded Secret data); never log it.
    credentials: Mapping[str, str]
    #: The current content of the result Secret, if one exists (rotation, token refresh).
    previous_result: Mapping[str, str] | None
    progress: ProgressFn
    browser: BrowserPool | None = None
    #: Name used in artifacts and logs: ``namespace/name``.
    label: str = ""
    #: Which attempt of the job this run is (1 for the first).
    attempt: int = 1
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class AgentResult:
    """What an agent created: ``secret_data`` goes into the owned result Secret, ``summary``
    (no secret in it) into ``status.result.summary``."""

    secret_data: dict[str, str]
    summary: str


class Agent(ABC):
    service: ClassVar[Service]
    operations: ClassVar[frozenset[OperationType]]
    #: Names of the steps, in order; progress messages use them.
    steps: ClassVar[tuple[str, ...]] = ()
    #: Whether ``run`` needs a browser from the pool for this operation.
    needs_browser: ClassVar[bool] = True

    def uses_browser(self, operation: OperationType) -> bool:
        """Whether this operation needs a browser (``token_refresh`` is a plain HTTP call)."""
        return self.needs_browser

    @abstractmethod
    async def run(self, ctx: AgentContext) -> AgentResult:
        """Drive the flow for ``ctx.operation`` and return what was created."""

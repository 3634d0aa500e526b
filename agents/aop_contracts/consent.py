"""Whether an organization's consents allow an operation: one pure rule for both sides.

The operator applies it before enqueueing and the worker again just before it runs, so a
consent revoked while a job waits stops that job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from aop_contracts.models import ConsentSpec


@dataclass(frozen=True)
class ConsentDecision:
    allowed: bool
    #: ``ConsentGranted``, ``ConsentMissing`` (none, or only expired ones) or ``ConsentRevoked``.
    reason: str
    message: str
    #: Name of the consent that decided, if one did.
    consent: str | None = None


def evaluate_consent(
    consents: Iterable[tuple[str, ConsentSpec]],
    *,
    organization_id: str,
    service: str,
    operation: str,
    now: datetime | None = None,
) -> ConsentDecision:
    """Decide from ``(name, spec)`` pairs of the namespace's OperationConsents.

    A consent covers an operation when it names the organization and the service, and
    either lists the operation or lists no operations at all (every operation of those
    services). One valid covering consent is enough; otherwise the most telling reason
    wins: revoked, then expired, then missing.
    """
    now = now or datetime.now(UTC)
    revoked: str | None = None
    expired: str | None = None
    for name, consent in consents:
        if consent.organization_id != organization_id:
            continue
        if service not in consent.services:
            continue
        if consent.operations and operation not in consent.operations:
            continue
        if consent.revoked:
            revoked = revoked or name
            continue
        expires = consent.expires_at
        if expires is not None:
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            if expires <= now:
                expired = expired or name
                continue
        return ConsentDecision(True, "ConsentGranted", f"allowed by consent {name}", name)
    if revoked:
        return ConsentDecision(
            False, "ConsentRevoked", f"consent {revoked} for {service} was revoked", revoked
        )
    if expired:
        return ConsentDecision(
            False, "ConsentMissing", f"consent {expired} for {service} has expired", expired
        )
    return ConsentDecision(
        False,
        "ConsentMissing",
        f"no OperationConsent of organization {organization_id} covers {service}/{operation}",
    )

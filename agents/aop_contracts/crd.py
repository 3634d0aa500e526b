"""Names of the custom resources, labels and annotations both sides agree on."""

from __future__ import annotations

from typing import Final

GROUP: Final = "autonomous.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORY: Final = "autonomous"

OPERATION_KIND: Final = "AutonomousOperation"
OPERATION_PLURAL: Final = "autonomousoperations"
QUEUE_KIND: Final = "OperationQueue"
QUEUE_PLURAL: Final = "operationqueues"
CONSENT_KIND: Final = "OperationConsent"
CONSENT_PLURAL: Final = "operationconsents"

#: A namespace carrying this label belongs to one organization; operations in it must
#: name the same organizationId.
ORGANIZATION_LABEL: Final = f"{GROUP}/organization"
#: Labels put on every result Secret and worker object the project creates.
OPERATION_LABEL: Final = f"{GROUP}/operation"
QUEUE_LABEL: Final = f"{GROUP}/queue"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "autonomous-operator"

FINALIZER: Final = f"{GROUP}/job-cleanup"

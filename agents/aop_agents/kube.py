"""What a worker reads and writes in Kubernetes: login Secrets, consents, result Secrets.

Secret values pass through here in memory only; nothing in this module logs them.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from aop_agents.agents.base import PermanentAgentError
from aop_contracts import crd
from aop_contracts.models import ConsentSpec

log = logging.getLogger(__name__)


class SecretConflict(PermanentAgentError):
    """The result Secret exists and was not created by autonomous-operator."""

    reason = "ResultSecretConflict"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Secret {name} exists and is not labelled {crd.MANAGED_BY_LABEL}={crd.MANAGED_BY}:"
            " it is left untouched. Name another spec.resultSecretRef, or add that label to"
            " let operations write it."
        )


@dataclass(frozen=True)
class StoredSecret:
    """A result Secret as read: its data and what decides whether it may be written."""

    data: dict[str, str]
    managed: bool
    owners: list[Any]
    resource_version: str | None


class WorkerKube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    @classmethod
    async def connect(cls) -> WorkerKube:
        cfg = client.Configuration()
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(client_configuration=cfg)
        return cls(client.ApiClient(configuration=cfg))

    async def close(self) -> None:
        await self.api.close()

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data decoded, or None when it does not exist."""
        found = await self.read_stored_secret(namespace, name)
        return None if found is None else found.data

    async def read_stored_secret(self, namespace: str, name: str) -> StoredSecret | None:
        """A Secret as it is now (data decoded, with what decides whether a result may be
        written into it), or None when it does not exist."""
        try:
            secret = await self.core.read_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return StoredSecret(
            data={k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()},
            managed=(secret.metadata.labels or {}).get(crd.MANAGED_BY_LABEL) == crd.MANAGED_BY,
            owners=list(secret.metadata.owner_references or []),
            resource_version=secret.metadata.resource_version,
        )

    async def write_result_secret(
        self,
        *,
        namespace: str,
        name: str,
        data: dict[str, str],
        owner_name: str,
        owner_uid: str,
    ) -> None:
        """Create or replace the result Secret, with the operation as its controller.

        Other operations that owned it (an earlier one whose credentials were rotated in
        place) stay owners without being controller, so the Secret lives until the last of
        them is deleted. A Secret without the managed-by label is never overwritten
        (``SecretConflict``). Updates are conditional on the version read."""
        me = client.V1OwnerReference(
            api_version=crd.API_VERSION,
            kind=crd.OPERATION_KIND,
            name=owner_name,
            uid=owner_uid,
            controller=True,
            block_owner_deletion=False,
        )
        for _ in range(5):
            current = await self.read_stored_secret(namespace, name)
            if current is not None and not current.managed:
                raise SecretConflict(name)
            others = [
                client.V1OwnerReference(
                    api_version=o.api_version,
                    kind=o.kind,
                    name=o.name,
                    uid=o.uid,
                    controller=False,
                    block_owner_deletion=False,
                )
                for o in (current.owners if current else [])
                if o.kind == crd.OPERATION_KIND and o.uid != owner_uid
            ]
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(
                    name=name,
                    namespace=namespace,
                    labels={
                        crd.OPERATION_LABEL: owner_name,
                        crd.MANAGED_BY_LABEL: crd.MANAGED_BY,
                    },
                    owner_references=[me, *others],
                    resource_version=current.resource_version if current else None,
                ),
                type="Opaque",
                string_data=data,
            )
            try:
                if current is None:
                    await self.core.create_namespaced_secret(namespace, body)
                else:
                    await self.core.replace_namespaced_secret(name, namespace, body)
                return
            except ApiException as e:
                if e.status != 409:  # created or changed meanwhile: read again
                    raise
        raise RuntimeError(f"Secret {name} kept changing while it was written")

    async def operation_exists(self, namespace: str, name: str, uid: str) -> bool:
        """Whether the operation the job belongs to still exists (same uid)."""
        try:
            obj: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                crd.GROUP, crd.VERSION, namespace, crd.OPERATION_PLURAL, name
            )
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return bool(obj.get("metadata", {}).get("uid") == uid)

    async def consents(self, namespace: str) -> list[tuple[str, ConsentSpec]]:
        res: dict[str, Any] = await self.custom.list_namespaced_custom_object(
            crd.GROUP, crd.VERSION, namespace, crd.CONSENT_PLURAL
        )
        out: list[tuple[str, ConsentSpec]] = []
        for item in res.get("items", []):
            try:
                out.append((item["metadata"]["name"], ConsentSpec.model_validate(item["spec"])))
            except (KeyError, ValueError):
                log.warning("ignoring malformed OperationConsent in %s", namespace)
        return out

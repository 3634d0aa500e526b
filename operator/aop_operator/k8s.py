"""Kubernetes API calls the operator makes outside kopf's own handler plumbing.

kopf watches and dispatches; this module reads consents and namespaces, writes status
merge patches (the operator is the only writer of ``.status``) and records Events.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from aop_contracts import crd
from aop_contracts.models import ConsentSpec

log = logging.getLogger(__name__)


class Kube:
    """A small async facade over the API server."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    @classmethod
    async def connect(cls) -> Kube:
        """Use the in-cluster ServiceAccount when there is one, else ``$KUBECONFIG``."""
        cfg = client.Configuration()
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(client_configuration=cfg)
        cfg.connection_pool_maxsize = 32
        return cls(client.ApiClient(configuration=cfg))

    async def close(self) -> None:
        await self.api.close()

    # ------------------------------------------------------------ custom resources

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                crd.GROUP, crd.VERSION, namespace, plural, name
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return obj

    async def list_objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            res = await self.custom.list_cluster_custom_object(crd.GROUP, crd.VERSION, plural)
        else:
            res = await self.custom.list_namespaced_custom_object(
                crd.GROUP, crd.VERSION, namespace, plural
            )
        items: list[dict[str, Any]] = res.get("items", [])
        return items

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch ``.status``; None when the object is gone."""
        try:
            obj: dict[str, Any] = await self.custom.patch_namespaced_custom_object_status(
                crd.GROUP,
                crd.VERSION,
                namespace,
                plural,
                name,
                {"status": status},
                _content_type="application/merge-patch+json",  # type: ignore[call-arg]
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return obj

    async def consents(self, namespace: str) -> list[tuple[str, ConsentSpec]]:
        """The namespace's OperationConsents; malformed ones are skipped with a warning."""
        out: list[tuple[str, ConsentSpec]] = []
        for item in await self.list_objects(crd.CONSENT_PLURAL, namespace):
            name = item["metadata"]["name"]
            try:
                out.append((name, ConsentSpec.model_validate(item.get("spec") or {})))
            except ValueError as e:
                log.warning("ignoring malformed OperationConsent %s/%s: %s", namespace, name, e)
        return out

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = await self.core.read_namespace(namespace)
        return dict(ns.metadata.labels or {})

    # ------------------------------------------------------------ events

    async def event(
        self,
        obj: dict[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
    ) -> None:
        """Record a core/v1 Event on ``obj`` (shown by ``kubectl describe``). Never raises:
        an Event is worth less than the reconcile that emits it."""
        meta = obj.get("metadata", {})
        now = datetime.now(UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                generate_name=f"{meta.get('name', 'object')}.",
                namespace=meta.get("namespace"),
            ),
            involved_object=client.V1ObjectReference(
                api_version=obj.get("apiVersion"),
                kind=obj.get("kind"),
                name=meta.get("name"),
                namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component=crd.MANAGED_BY),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            reporting_component=crd.MANAGED_BY,
            reporting_instance=os.environ.get("HOSTNAME", "local"),
        )
        try:
            await self.core.create_namespaced_event(meta.get("namespace"), body)
        except (ApiException, OSError) as e:
            log.warning("could not record event %s on %s: %s", reason, meta.get("name"), e)

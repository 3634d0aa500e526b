"""The per-service ``spec.config`` models: each agent validates its own config with one.

The operator validates ``spec.config`` against the same model before enqueueing, so a bad
config fails at once with a clear reason instead of burning a worker's attempts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from aop_contracts.models import OperationType, Service


class _Config(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class NoopSimulateConfig(_Config):
    """``noop/simulate``: a job that only reports progress, for tests, demos and capacity checks."""

    duration_seconds: float = Field(default=1.0, ge=0, le=3600)
    steps: int = Field(default=4, ge=1, le=100)
    fail_attempts: int = Field(default=0, ge=0, le=10)
    permanent_failure: bool = False


class BrowserConfig(_Config):
    headless: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)


class ShopifyConfig(BrowserConfig):
    store_url: str = Field(pattern=r"^https?://[^\s/]+(/.*)?$")
    dev_dashboard_url: str = Field(
        default="https://dev.shopify.com", pattern=r"^https?://[^\s/]+(/.*)?$"
    )
    flow: Literal["dev_dashboard", "legacy_admin"] = "dev_dashboard"
    app_name: str = Field(default="autonomous-operator", min_length=1, max_length=64)
    scopes: list[str] = Field(default_factory=lambda: ["read_products"], min_length=1)


class WooCommerceConfig(BrowserConfig):
    store_url: str = Field(pattern=r"^https?://[^\s/]+(/.*)?$")
    description: str = Field(default="autonomous-operator", min_length=1, max_length=200)
    permissions: Literal["read", "write", "read_write"] = "read_write"


CONFIG_MODELS: dict[tuple[Service, OperationType], type[_Config]] = {
    (Service.NOOP, OperationType.SIMULATE): NoopSimulateConfig,
    (Service.SHOPIFY, OperationType.API_CREDENTIAL_GENERATION): ShopifyConfig,
    (Service.SHOPIFY, OperationType.CREDENTIAL_ROTATION): ShopifyConfig,
    (Service.SHOPIFY, OperationType.TOKEN_REFRESH): ShopifyConfig,
    (Service.WOOCOMMERCE, OperationType.API_CREDENTIAL_GENERATION): WooCommerceConfig,
    (Service.WOOCOMMERCE, OperationType.CREDENTIAL_ROTATION): WooCommerceConfig,
}


class ConfigError(ValueError):
    """``spec.config`` does not fit the service's model, or the pair is unknown."""


def validate_config(service: str, operation: str, config: dict[str, object]) -> _Config:
    """Parse ``config`` with the model registered for ``(service, operation)``."""
    try:
        key = (Service(service), OperationType(operation))
    except ValueError as e:
        raise ConfigError(f"unknown service/operation {service}/{operation}") from e
    model = CONFIG_MODELS.get(key)
    if model is None:
        raise ConfigError(f"service {service!r} has no operation {operation!r}")
    try:
        return model.model_validate(config)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(f"invalid config for {service}/{operation}: {problems}") from e

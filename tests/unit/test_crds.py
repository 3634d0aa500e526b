"""The committed CRDs match the models, teach every field, and the examples are valid.

No I/O beyond reading ``crds/`` and ``examples/``; the API server's view of the same
schemas is checked in ``tests/integration/test_crd_schema.py``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from aop_contracts import crd, crdgen
from aop_contracts.configs import validate_config
from aop_contracts.models import (
    CONFIG_MAX_PROPERTIES,
    SERVICE_OPERATIONS,
    ConsentSpec,
    OperationSpec,
    OperationStatus,
    OperationType,
    QueueSpec,
    QueueStatus,
    Service,
)

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
EXAMPLES = ROOT / "examples"

JsonDict = dict[str, Any]


def _version(crd_body: JsonDict) -> JsonDict:
    (version,) = crd_body["spec"]["versions"]
    return typing.cast(JsonDict, version)


def _root_schema(crd_body: JsonDict) -> JsonDict:
    return typing.cast(JsonDict, _version(crd_body)["schema"]["openAPIV3Schema"])


def _committed(name: str) -> JsonDict:
    return typing.cast(JsonDict, yaml.safe_load((CRD_DIR / name).read_text()))


# (CRD file, part of the root schema, model, whether the API server applies its defaults)
MODEL_SCHEMAS = [
    ("autonomousoperations.yaml", "spec", OperationSpec, True),
    ("autonomousoperations.yaml", "status", OperationStatus, False),
    ("operationqueues.yaml", "spec", QueueSpec, True),
    ("operationqueues.yaml", "status", QueueStatus, False),
    ("operationconsents.yaml", "spec", ConsentSpec, True),
]


# --- the files in crds/ are what the generator builds ---------------------------------


def test_crd_files_are_exactly_the_generated_ones() -> None:
    assert sorted(p.name for p in CRD_DIR.glob("*.yaml")) == sorted(crdgen.CRDS)


@pytest.mark.parametrize("name", sorted(crdgen.CRDS))
def test_committed_crd_equals_generator_output(name: str) -> None:
    text = (CRD_DIR / name).read_text()
    assert text.startswith(crdgen.HEADER), "the header comment says the file is generated"
    assert yaml.safe_load(text) == crdgen.CRDS[name](), (
        f"crds/{name} is stale: run `uv run scripts/gen-crds.py` and commit the result"
    )


@pytest.mark.parametrize(
    ("name", "kind", "plural", "short_name"),
    [
        ("autonomousoperations.yaml", crd.OPERATION_KIND, crd.OPERATION_PLURAL, "aop"),
        ("operationqueues.yaml", crd.QUEUE_KIND, crd.QUEUE_PLURAL, "aopq"),
        ("operationconsents.yaml", crd.CONSENT_KIND, crd.CONSENT_PLURAL, "aopconsent"),
    ],
)
def test_names_version_and_subresources(name: str, kind: str, plural: str, short_name: str) -> None:
    body = _committed(name)
    assert body["apiVersion"] == "apiextensions.k8s.io/v1"
    assert body["metadata"]["name"] == f"{plural}.{crd.GROUP}"
    spec = body["spec"]
    assert spec["group"] == crd.GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind
    assert spec["names"]["plural"] == plural
    assert spec["names"]["shortNames"] == [short_name]
    assert spec["names"]["categories"] == [crd.CATEGORY]
    version = _version(body)
    assert (version["name"], version["served"], version["storage"]) == (crd.VERSION, True, True)
    assert version["subresources"] == {"status": {}}
    status = _root_schema(body)["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True, "kopf writes status.kopf"


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        (
            "autonomousoperations.yaml",
            [
                ("Service", "string", ".spec.service"),
                ("Operation", "string", ".spec.operation"),
                ("Priority", "string", ".spec.priority"),
                ("Phase", "string", ".status.phase"),
                ("Progress", "integer", ".status.progress.percent"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "operationqueues.yaml",
            [
                ("Waiting", "integer", ".status.waiting"),
                ("Active", "integer", ".status.active"),
                ("Failed", "integer", ".status.failed"),
                ("Desired", "integer", ".status.workers.desired"),
                ("Ready", "integer", ".status.workers.ready"),
                ("Paused", "boolean", ".spec.paused"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "operationconsents.yaml",
            [
                ("Organization", "string", ".spec.organizationId"),
                ("Services", "string", ".spec.services"),
                ("Revoked", "boolean", ".spec.revoked"),
                ("Expires", "string", ".spec.expiresAt"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
    ],
)
def test_printer_columns(name: str, columns: list[tuple[str, str, str]]) -> None:
    body = _committed(name)
    defined = _version(body)["additionalPrinterColumns"]
    default_view = [(c["name"], c["type"], c["jsonPath"]) for c in defined if not c.get("priority")]
    assert default_view == columns
    assert all(c["description"] for c in defined)
    schema = _root_schema(body)
    for column in defined:
        path = column["jsonPath"].lstrip(".").split(".")
        if path[0] != "metadata":
            _schema_at(schema, path)  # every column points at a field that exists


def _schema_at(schema: JsonDict, path: list[str]) -> JsonDict:
    for part in path:
        schema = schema["properties"][part]
    return schema


# --- every model field is in the schema, with its type, enum and default --------------


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1, annotation
        return args[0]
    return annotation


def _model_default(field: FieldInfo) -> Any:
    """What the API server should default the field to: the pydantic default as JSON."""
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return {}  # nested defaults are filled in level by level
    if isinstance(value, StrEnum):
        return value.value
    return value


def _check_type(annotation: Any, schema: JsonDict, where: str, with_defaults: bool) -> None:
    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        assert schema["type"] == "object", where
        _check_model(annotation, schema, where, with_defaults)
    elif isinstance(annotation, type) and issubclass(annotation, StrEnum):
        assert schema["type"] == "string", where
        assert schema["enum"] == [m.value for m in annotation], where
    elif origin is typing.Literal:
        assert schema["type"] == "string", where
        assert schema["enum"] == list(typing.get_args(annotation)), where
    elif origin is dict:
        assert schema["type"] == "object", where
        assert schema["x-kubernetes-preserve-unknown-fields"] is True, where
    elif origin is list:
        assert schema["type"] == "array", where
        (item,) = typing.get_args(annotation)
        _check_type(item, schema["items"], f"{where}[]", with_defaults)
    elif annotation is datetime:
        assert (schema["type"], schema["format"]) == ("string", "date-time"), where
    else:
        expected = {str: "string", int: "integer", bool: "boolean", float: "number"}
        assert schema["type"] == expected[annotation], where


def _check_model(model: type[BaseModel], schema: JsonDict, where: str, with_defaults: bool) -> None:
    properties = schema["properties"]
    aliases = {field.alias or name for name, field in model.model_fields.items()}
    assert set(properties) == aliases, f"{where}: CRD and {model.__name__} list other fields"
    required = sorted(
        field.alias or name for name, field in model.model_fields.items() if field.is_required()
    )
    assert sorted(schema.get("required", [])) == required, where
    for name, field in model.model_fields.items():
        alias = field.alias or name
        prop = properties[alias]
        here = f"{where}.{alias}"
        _check_type(field.annotation, prop, here, with_defaults)
        assert prop["description"] == field.description, here
        if field.is_required() or not with_defaults or _model_default(field) is None:
            assert "default" not in prop, here
        else:
            assert prop["default"] == _model_default(field), here
        for constraint in field.metadata:
            for attr, keyword in (
                ("ge", "minimum"),
                ("le", "maximum"),
                ("pattern", "pattern"),
            ):
                if getattr(constraint, attr, None) is not None:
                    assert prop[keyword] == getattr(constraint, attr), f"{here} {keyword}"
            if getattr(constraint, "max_length", None) is not None:
                keyword = {"object": "maxProperties", "array": "maxItems"}.get(
                    prop["type"], "maxLength"
                )
                assert prop[keyword] == constraint.max_length, f"{here} {keyword}"


@pytest.mark.parametrize(
    ("name", "part", "model", "with_defaults"),
    MODEL_SCHEMAS,
    ids=[f"{n.split('.')[0]}.{p}" for n, p, _, _ in MODEL_SCHEMAS],
)
def test_every_model_field_is_in_the_crd(
    name: str, part: str, model: type[BaseModel], with_defaults: bool
) -> None:
    schema = _root_schema(_committed(name))["properties"][part]
    _check_model(model, schema, part, with_defaults)


def _apply_defaults(schema: JsonDict, value: Any) -> Any:
    """Structural defaulting as the API server does it: top-down, objects only."""
    if not isinstance(value, dict):
        if isinstance(value, list) and "items" in schema:
            return [_apply_defaults(schema["items"], v) for v in value]
        return value
    out = dict(value)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = sub["default"]
        if key in out:
            out[key] = _apply_defaults(sub, out[key])
    return out


@pytest.mark.parametrize(
    ("name", "model", "given"),
    [
        ("operationqueues.yaml", QueueSpec, {}),
        (
            "autonomousoperations.yaml",
            OperationSpec,
            {"organizationId": "acme", "userId": "u", "service": "noop", "operation": "simulate"},
        ),
        (
            "operationconsents.yaml",
            ConsentSpec,
            {"organizationId": "acme", "grantedBy": "a", "services": ["noop"]},
        ),
    ],
)
def test_server_side_defaults_equal_the_models_defaults(
    name: str, model: type[BaseModel], given: JsonDict
) -> None:
    schema = _root_schema(_committed(name))["properties"]["spec"]
    expected = model.model_validate(given).model_dump(mode="json", by_alias=True)
    assert _apply_defaults(schema, given) == _without_none(expected)


def _without_none(value: Any) -> Any:
    """A model dump as the API server stores it: a None field is simply absent."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


# --- structural, and documented everywhere ----------------------------------------------


def _walk(schema: JsonDict, path: str) -> Iterator[tuple[str, JsonDict]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("name", sorted(crdgen.CRDS))
def test_every_property_has_a_description(name: str) -> None:
    root = _root_schema(_committed(name))
    undocumented = [
        path
        for path, node in _walk(root, "")
        # The API server owns metadata's schema and forbids a description there.
        if path != ".metadata" and not str(node.get("description", "")).strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("name", sorted(crdgen.CRDS))
def test_schema_is_structural(name: str) -> None:
    for path, node in _walk(_root_schema(_committed(name)), ""):
        assert not {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title"} & node.keys(), path
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not isinstance(node.get("additionalProperties"), bool), path
        assert node.get("default", 0) is not None, path


def test_config_is_open_but_bounded() -> None:
    config = _root_schema(_committed("autonomousoperations.yaml"))["properties"]["spec"][
        "properties"
    ]["config"]
    assert config["type"] == "object"
    assert config["x-kubernetes-preserve-unknown-fields"] is True
    assert config["maxProperties"] == CONFIG_MAX_PROPERTIES


def _rules(schema: JsonDict) -> dict[str, str]:
    return {r["rule"]: r["message"] for r in schema.get("x-kubernetes-validations", [])}


def test_operation_cel_rules() -> None:
    spec = _root_schema(_committed("autonomousoperations.yaml"))["properties"]["spec"]
    for field in ("organizationId", "service", "operation"):
        assert _rules(spec["properties"][field]) == {"self == oldSelf": f"{field} is immutable"}
    rules = "\n".join(_rules(spec))
    # One rule per service, naming exactly the operations its agent implements.
    for service, operations in SERVICE_OPERATIONS.items():
        names = ", ".join(f"'{o}'" for o in sorted(operations))
        assert f"self.service != '{service}' || self.operation in [{names}]" in rules
    assert "has(self.credentialsSecretRef)" in rules


# --- the examples are valid for the models and the agents' configs ----------------------


def _documents(path: Path) -> list[JsonDict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
PARSERS: dict[str, Callable[[JsonDict], BaseModel]] = {
    crd.OPERATION_KIND: OperationSpec.model_validate,
    crd.QUEUE_KIND: QueueSpec.model_validate,
    crd.CONSENT_KIND: ConsentSpec.model_validate,
}


def test_expected_examples_exist() -> None:
    assert {p.name for p in EXAMPLE_FILES} >= {
        "queue-default.yaml",
        "consent-acme.yaml",
        "noop-simulate.yaml",
        "shopify-credentials.yaml",
        "woocommerce-credentials.yaml",
    }
    kinds = {d["kind"] for p in EXAMPLE_FILES for d in _documents(p)}
    assert kinds >= set(PARSERS)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_example_is_valid(path: Path) -> None:
    documents = _documents(path)
    secrets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Secret"}
    for doc in documents:
        assert "namespace" not in doc["metadata"], "examples apply to the current namespace"
        if doc["kind"] == "Secret":
            data: JsonDict = doc.get("stringData") or doc.get("data") or {}
            assert {"username", "password"} <= data.keys()
            continue
        assert doc["apiVersion"] == crd.API_VERSION
        spec = PARSERS[doc["kind"]](doc["spec"])
        if isinstance(spec, OperationSpec):
            assert spec.operation in SERVICE_OPERATIONS[spec.service]
            validate_config(spec.service, spec.operation, spec.config)
            if spec.service.needs_credentials:
                assert spec.credentials_secret_ref is not None
                assert spec.credentials_secret_ref.name in secrets, "its Secret is in the file"


def test_named_examples() -> None:
    (queue,) = _documents(EXAMPLES / "queue-default.yaml")
    assert queue["kind"] == crd.QUEUE_KIND
    assert queue["metadata"]["name"] == "default"

    (consent,) = _documents(EXAMPLES / "consent-acme.yaml")
    parsed = ConsentSpec.model_validate(consent["spec"])
    assert parsed.organization_id == "acme"
    assert set(parsed.services) == set(Service)

    (noop,) = _documents(EXAMPLES / "noop-simulate.yaml")
    spec = OperationSpec.model_validate(noop["spec"])
    assert (spec.service, spec.operation, spec.priority) == (
        Service.NOOP,
        OperationType.SIMULATE,
        "high",
    )
    assert spec.config == {"steps": 5, "durationSeconds": 4}

    for name, url in (
        ("shopify", "http://127.0.0.1:8081"),
        ("woocommerce", "http://127.0.0.1:8082"),
    ):
        docs = _documents(EXAMPLES / f"{name}-credentials.yaml")
        (op,) = [d for d in docs if d["kind"] == crd.OPERATION_KIND]
        assert op["spec"]["service"] == name
        assert op["spec"]["config"]["storeUrl"] == url
        assert op["spec"]["organizationId"] == parsed.organization_id, "covered by the consent"

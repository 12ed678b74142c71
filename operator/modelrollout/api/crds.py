"""Generating the CustomResourceDefinition from the pydantic models.

Pydantic writes JSON Schema 2020-12; a CRD wants a *structural* OpenAPI v3 schema. The
differences handled here: references are inlined, `null` alternatives become optional
fields, numeric `exclusiveMinimum` becomes the boolean form, `additionalProperties:
false` is dropped (structural schemas prune instead, and kubectl's strict field
validation refuses unknown fields), and the defaults of nested objects are spelled
out, because the API server only defaults what the schema names.
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from datetime import timedelta
from typing import Any, Final

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from modelrollout import names
from modelrollout.api import durations, v1alpha1

_DROP_KEYS: Final = {"title", "$defs"}
_PRINTER_COLUMNS: Final = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.name"},
    {"name": "Version", "type": "string", "jsonPath": ".spec.model.version"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight", "description": "Canary traffic (%)"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stableVersion"},
    {"name": "Canary", "type": "string", "jsonPath": ".status.canaryVersion", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _models_reachable(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model class under `root`, by class name (pydantic's `$defs` keys)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                return
            found[tp.__name__] = tp
            for field in tp.model_fields.values():
                visit(field.annotation)
            return
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            visit(typing.get_args(tp)[0])
        elif origin is not None or isinstance(tp, types.UnionType):
            for arg in typing.get_args(tp):
                visit(arg)

    visit(root)
    return found


def _factory_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Defaults of fields built by a factory, as the JSON the API server should fill in."""
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.default_factory is None:
            continue
        value = field.default_factory()  # type: ignore[call-arg]
        alias = field.alias or name
        if isinstance(value, BaseModel):
            defaults[alias] = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        elif isinstance(value, list):
            defaults[alias] = [
                v.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(v, BaseModel) else v
                for v in value
            ]
        elif isinstance(value, dict):
            defaults[alias] = value
    return defaults


def _structural(node: Any, defs: dict[str, Any], models: dict[str, type[BaseModel]], *, defaults: bool) -> Any:
    """pydantic's JSON schema made structural, the way the API server wants it."""
    if isinstance(node, list):
        return [_structural(n, defs, models, defaults=defaults) for n in node]
    if not isinstance(node, dict):
        return node
    node = _resolve_ref(dict(node), defs, models, defaults=defaults)
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = node.pop("allOf")[0]
        node = {**_structural(inner, defs, models, defaults=defaults), **node}
    node = _nullable(node, defs, models, defaults=defaults)
    node = _kubernetes_keywords(node, defaults=defaults)
    return {key: _children(key, value, defs, models, defaults=defaults) for key, value in node.items()}


def _resolve_ref(
    node: dict[str, Any], defs: dict[str, Any], models: dict[str, type[BaseModel]], *, defaults: bool
) -> dict[str, Any]:
    """A `$ref` inlined, with the defaults of factory-built fields spelled out."""
    if "$ref" not in node:
        return node
    name = node.pop("$ref").rsplit("/", 1)[-1]
    merged: dict[str, Any] = copy.deepcopy(defs[name])
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    if defaults and name in models:
        for alias, value in _factory_defaults(models[name]).items():
            merged.setdefault("properties", {}).setdefault(alias, {}).setdefault("default", value)
    return merged


def _nullable(
    node: dict[str, Any], defs: dict[str, Any], models: dict[str, type[BaseModel]], *, defaults: bool
) -> dict[str, Any]:
    """`X | None` (an anyOf/oneOf with null) as `nullable: true` on X."""
    for key in ("anyOf", "oneOf"):
        alternatives = node.get(key)
        if alternatives and any(a.get("type") == "null" for a in alternatives):
            rest = [a for a in alternatives if a.get("type") != "null"]
            node.pop(key)
            if len(rest) == 1:
                node = {**_structural(rest[0], defs, models, defaults=defaults), **node}
            else:
                node[key] = rest
            node["nullable"] = True
            if node.get("default", 0) is None:
                node.pop("default")
    return node


def _kubernetes_keywords(node: dict[str, Any], *, defaults: bool) -> dict[str, Any]:
    """JSON-schema keywords rewritten in the OpenAPI v3 dialect the API server accepts."""
    for key in _DROP_KEYS:
        node.pop(key, None)
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and node.get("type") == "string":
        # CEL cost estimation needs a bound on every string it compares.
        node.setdefault("maxLength", max(len(v) for v in node["enum"]))
    if not defaults:
        node.pop("default", None)
    return node


def _children(key: str, value: Any, defs: dict[str, Any], models: dict[str, type[BaseModel]], *, defaults: bool) -> Any:
    if key == "properties":
        return {p: _structural(s, defs, models, defaults=defaults) for p, s in value.items()}
    if key in {"items", "additionalProperties"} and isinstance(value, dict):
        return _structural(value, defs, models, defaults=defaults)
    if key in {"x-kubernetes-validations", "default", "example", "enum", "required"}:
        return value
    return _structural(value, defs, models, defaults=defaults)


class _Schema(GenerateJsonSchema):
    def encode_default(self, dft: Any) -> Any:
        # A field's own serializer does not reach its default here: write durations as
        # the manifest's text ("30m"), not ISO 8601.
        if isinstance(dft, timedelta):
            return durations.text(dft)
        return super().encode_default(dft)


def _schema_of(model: type[BaseModel], *, defaults: bool) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_Schema)
    defs = raw.get("$defs", {})
    models = _models_reachable(model)
    top = _structural(raw, defs, models, defaults=defaults)
    if defaults:
        for alias, value in _factory_defaults(model).items():
            top["properties"][alias].setdefault("default", value)
    result: dict[str, Any] = top
    return result


def openapi_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the ModelDeployment CRD."""
    spec = _schema_of(v1alpha1.ModelDeploymentSpec, defaults=True)
    status = _schema_of(v1alpha1.ModelDeploymentStatus, defaults=False)
    return {
        "type": "object",
        "description": (v1alpha1.ModelDeployment.__doc__ or "").strip(),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version: modelrollout.io/v1alpha1."},
            "kind": {"type": "string", "description": "ModelDeployment."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": names.CRD_NAME,
            "labels": {names.LABEL_NAME: names.APP_NAME, names.LABEL_MANAGED_BY: names.MANAGER},
        },
        "spec": {
            "group": names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": list(names.SHORT_NAMES),
                "categories": ["all", "modelrollout"],
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _enum_representer(dumper: yaml.SafeDumper, value: enum.Enum) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value.value))


_Dumper.add_representer(str, _str_representer)
_Dumper.add_multi_representer(enum.Enum, _enum_representer)


def render() -> str:
    """The CRD as YAML, stable byte for byte from one run to the next."""
    header = "# Generated by `modelrollout crd` from operator/modelrollout/api/. Do not edit.\n"
    return header + yaml.dump(crd(), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)

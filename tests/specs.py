"""The table of invalid specs shared by the model tests and the API-server tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).parent / "data" / "invalid-specs.yaml"


@dataclass(frozen=True)
class InvalidCase:
    name: str
    spec: dict[str, Any]
    message: str  # from the pydantic models
    server: str  # from the API server (the CRD schema and CEL)


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TABLE.read_text())
    return copy.deepcopy(data["base"])


def invalid_cases() -> list[InvalidCase]:
    data = yaml.safe_load(TABLE.read_text())
    cases = []
    for case in data["cases"]:
        spec = merge(data["base"], case.get("patch", {}))
        for key in case.get("drop", []):
            spec.pop(key)
        cases.append(InvalidCase(case["name"], spec, case["message"], case.get("server", case["message"])))
    return cases

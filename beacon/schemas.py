"""Our own JSON Schemas (the project's `schemas/` folder), loaded and compiled once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def load_schema(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.json"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


@cache
def _registry() -> Registry[Any]:
    """Every schema of ours under its `$id`, so one may `$ref` another (`beacon:config#/...`)."""
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def compile_schema(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    """Every violation as `where: what`, sorted so messages are stable."""
    found = []
    for error in validator.iter_errors(instance):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        found.append(f"{where}: {_describe(error)}")
    return sorted(found)


def _describe(error: Any) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown parameter(s) {', '.join(extra)}"
    if error.validator == "pattern":
        if str(error.absolute_path[-1] if error.absolute_path else "").startswith("token"):
            return "is not an environment variable name or path (a token itself never goes here)"
        return f"{error.instance!r} has characters that are not allowed"
    message: str = error.message
    return message if len(message) < 200 else message[:200] + "..."


@dataclass(frozen=True)
class Validators:
    """Compiled validators the apps use on every request."""

    request: Draft202012Validator

    @classmethod
    def load(cls) -> Validators:
        return cls(request=compile_schema("g_variants_request"))

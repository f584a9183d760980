"""Load the JSON Schemas shipped in this package and validate documents against them (draft 2020-12)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


class SchemaError(ValueError):
    """A document does not match its schema; `path` is the JSON path of the first failure."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@cache
def schema_names() -> list[str]:
    """The shipped schemas: `inventory`, `analysis_quality`, …"""
    files = resources.files("skill_insights.schemas").iterdir()
    return sorted(f.name.removesuffix(".schema.json") for f in files if f.name.endswith(".schema.json"))


def schema_text(name: str) -> str:
    return resources.files("skill_insights.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """`inventory` → the parsed `inventory.schema.json`."""
    return json.loads(schema_text(name))


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate(doc: Any, name: str) -> None:
    """Raise SchemaError naming the failing path (e.g. `$.skills[3].locations[0].scope`)."""
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        e = errors[0]
        raise SchemaError(e.json_path, e.message if len(e.message) < 300 else e.message[:300] + "…")

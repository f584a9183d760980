"""Load the JSON Schemas shipped in this package and validate documents against them (draft 2020-12)."""

from __future__ import annotations

import json
import re
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


_MAX_MESSAGE = 300
_JSON_PATH_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")  # the names jsonschema's json_path writes bare


@cache
def _validator(name: str) -> Any:
    """The compiled validator (jsonschema-rs), the only one: hundreds of times faster than the pure-Python
    `jsonschema` on a large inventory. Compiling it also checks the schema against its meta-schema."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(load_schema(name), validate_formats=True)


def is_valid(doc: Any, name: str) -> bool:
    """Whether `doc` matches schema `name`, by the cached compiled validator. OSError when there is no such
    schema; ValueError, TypeError or OverflowError for a value with no JSON form."""
    return _validator(name).is_valid(doc)


def json_path(parts: Any) -> str:
    """Instance path parts → `$.skills[3].locations[0].scope`, the form of jsonschema's `json_path`."""
    path = "$"
    for p in parts:
        if isinstance(p, int):
            path += f"[{p}]"
        elif _JSON_PATH_NAME.match(p):
            path += "." + p
        else:
            path += "['" + p.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return path


def _first(errors: Any, path_of: Any) -> Any:
    # The shallowest failure first, then by path: the same pick whichever validator found them.
    return min(errors, key=lambda e: (len(path_of(e)), list(map(str, path_of(e)))), default=None)


def _short(message: str) -> str:
    return message if len(message) < _MAX_MESSAGE else message[:_MAX_MESSAGE] + "…"


def _rs_message(e: Any) -> str:
    kind = e.kind
    if type(kind).__name__ == "Enum":  # jsonschema-rs elides all but two options: name them all
        return f"{e.instance!r} is not one of {list(kind.options)!r}"
    return e.message


def _json_form(doc: Any) -> Any:
    """The document as JSON carries it (keys as strings), for one the compiled validator can't take as it is
    (a frontmatter key YAML read as a number); SchemaError when it has no JSON form at all."""
    try:
        return json.loads(json.dumps(doc, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as e:
        raise SchemaError("$", _short(f"not a JSON document: {e}")) from None


def _errors(doc: Any, name: str) -> list[Any]:
    """The compiled validator's errors for `doc`; [] when valid."""
    v = _validator(name)
    try:
        return [] if v.is_valid(doc) else list(v.iter_errors(doc))
    except (ValueError, TypeError, OverflowError):  # a value with no JSON form as it is
        doc = _json_form(doc)
        return [] if v.is_valid(doc) else list(v.iter_errors(doc))


def validate(doc: Any, name: str) -> None:
    """Raise SchemaError naming the failing path (e.g. `$.skills[3].locations[0].scope`)."""
    e = _first(_errors(doc, name), lambda e: e.instance_path)
    if e is not None:
        raise SchemaError(json_path(e.instance_path), _short(_rs_message(e)))


def problems(doc: Any, name: str, limit: int = 5) -> list[tuple[list[str | int], str]]:
    """Up to `limit` failures as (instance path parts, message), in path order; [] when `doc` is valid."""
    try:
        errors = _errors(doc, name)
    except SchemaError as e:
        return [([], e.message)]
    errors.sort(key=lambda e: list(map(str, e.instance_path)))
    return [(list(e.instance_path), _short(_rs_message(e))) for e in errors[:limit]]


def _first_failure(doc: Any, name: str) -> tuple[str, str] | None:
    """validate() as a value: (path, message) of the failure, or None. A tuple crosses a pipe; SchemaError's
    own arguments would not survive pickling."""
    try:
        validate(doc, name)
    except SchemaError as e:
        return e.path, e.message
    return None


class SchemaCheck:
    """validate(doc, name), started now and judged by `wait()`, which raises SchemaError as validate would.

    With `background`, a forked child checks while the caller goes on (on a large inventory the caller
    spends that time storing the same document instead); without it, or when no child can start,
    `wait()` checks in this process. `wait()` gives the same verdict however often it is called."""

    def __init__(self, doc: Any, name: str, *, background: bool) -> None:
        self.doc, self.name = doc, name
        self._judged = False
        self._failure: tuple[str, str] | None = None
        self._child: Any = None
        if background:
            from skill_insights.processes import Forked

            self._child = Forked(_first_failure, doc, name)

    def wait(self) -> None:
        if not self._judged:
            self._failure = self._from_child() if self._child is not None else _first_failure(self.doc, self.name)
            self._judged = True
        if self._failure is not None:
            raise SchemaError(*self._failure)

    def close(self) -> None:
        """Stop a check still running in its child (the verdict is no longer wanted) and reap the child."""
        if self._child is not None:
            self._child.cancel()
            self._child = None

    def _from_child(self) -> tuple[str, str] | None:
        from skill_insights.processes import ChildFailed

        try:
            return self._child.result()
        except ChildFailed:  # it could not start, or died: checked here instead
            return _first_failure(self.doc, self.name)
        finally:
            self._child = None

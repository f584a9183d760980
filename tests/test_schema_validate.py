"""schemas.validate: the error contract (JSON path of the first failure, a readable message) over the one
validator (the compiled jsonschema-rs), documents it can't take as they are included."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest

from skill_insights.schemas.validate import SchemaError, json_path, validate


def _doc() -> dict[str, Any]:
    loc = {"path": "/r/.claude/skills/a", "agent": "claude-code", "scope": "project", "is_link": False}
    skill = {
        "id": "sk_0123456789abcdef",
        "name": "a",
        "description": None,
        "content_hash": "0" * 64,
        "locations": [loc],
        "files": [],
        "findings": [],
        "frontmatter": {"name": "a"},
    }
    return {
        "schema_version": "1.0",
        "generated_at": "2026-01-02T03:04:05Z",
        "roots": [{"path": "/r", "kind": "root", "scope": "project"}],
        "skills": [copy.deepcopy(skill), copy.deepcopy(skill)],
        "manifests": [],
    }


def _error(doc: Any) -> SchemaError:
    with pytest.raises(SchemaError) as e:
        validate(doc, "inventory")
    return e.value


def test_valid_document_passes() -> None:
    validate(_doc(), "inventory")


def test_first_failure_is_the_shallowest_then_by_path() -> None:
    doc = _doc()
    doc["skills"][1]["locations"][0]["scope"] = "galaxy"
    doc["skills"][0]["files"] = [{"path": "x", "size": -1, "sha256": None, "kind": "other", "is_link": False}]
    e = _error(doc)
    assert e.path == "$.skills[0].files[0].size"
    doc["skills"][0]["files"] = []
    e = _error(doc)
    assert e.path == "$.skills[1].locations[0].scope"
    assert e.message == "'galaxy' is not one of ['user', 'project', 'plugin', 'tile']"
    del doc["manifests"]
    assert _error(doc).path == "$" and "manifests" in _error(doc).message


def test_format_and_pattern_are_asserted() -> None:
    doc = _doc()
    doc["generated_at"] = "yesterday"
    assert _error(doc).path == "$.generated_at"
    doc = _doc()
    doc["skills"][0]["content_hash"] = "zz"
    assert _error(doc).path == "$.skills[0].content_hash"


def test_json_path_form() -> None:
    assert json_path([]) == "$"
    assert json_path(["skills", 3, "locations", 0, "scope"]) == "$.skills[3].locations[0].scope"
    assert json_path(["frontmatter", "allowed-tools", "it's"]) == "$.frontmatter['allowed-tools']['it\\'s']"


def test_values_without_a_json_form_are_validated_in_their_json_form() -> None:
    doc = _doc()
    doc["skills"][0]["frontmatter"] = {1: "non-string key"}  # fine for the schema (any object)
    validate(doc, "inventory")
    doc["skills"][1]["name"] = ""
    e = _error(doc)
    assert e.path == "$.skills[1].name"


def test_one_validator_the_pure_python_one_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from skill_insights.schemas.validate import SchemaError, problems, validate\n"
        "doc = {'schema_version': '1.0', 'generated_at': 'x', 'roots': [], 'skills': [{1: 2}], 'manifests': []}\n"
        "try:\n    validate(doc, 'inventory')\nexcept SchemaError:\n    pass\n"
        "assert problems({'phase': 'quality'}, 'analysis_quality')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'jsonschema'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_long_messages_are_cut() -> None:
    doc = _doc()
    doc["skills"][0]["locations"][0]["is_link"] = "x" * 2000
    e = _error(doc)
    assert e.path == "$.skills[0].locations[0].is_link" and len(e.message) <= 301

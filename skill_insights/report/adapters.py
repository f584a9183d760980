"""Read the inventory and analysis tables (owned by the scan and analyze subsystems) into report records.

Read-only, and tolerant: a table that is not there yet gives an empty section with `available: False`.

Record shapes the report relies on:
  skill     {id, name, description, agents[], scopes[], locations[{path, agent, scope, is_link}], files,
             content_hash, last_changed, score, tile, activations?, sessions?, last_used?, use_keys[]}
  finding   {phase, skill_id, rule, severity, message, fix, evidence}
  group     {id, kind, similarity, skills[{id, name}]}
  manifest  {path, kind, name, version, mode, dependencies[{name, installed, latest, behind, status}]}
  change    {skill_id, name, change, at, detail}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skill_insights.report.data import Store


def inventory(st: Store) -> dict[str, Any]:
    return {"available": False, "skills": [], "manifests": [], "changes": [], "scan_findings": [],
            "scanned_at": None}


def analysis(st: Store) -> dict[str, Any]:
    return {"available": False, "findings": [], "duplicate_groups": [], "scores": {}, "phases": []}

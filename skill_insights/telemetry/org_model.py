"""The org usage document (`org-usage fetch --output FILE`): a pydantic model, and the JSON Schema shipped from it.

Its shape is the one the org dashboards' fetcher writes: per-window counts keyed `"<days>d"`, all-repos rollups
and the per-repo views. Regenerate the shipped schema after changing a model:

    python -m skill_insights.telemetry.org_model
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, StringConstraints

SCHEMA_VERSION = "1.4"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "org-usage.schema.json"

WindowKey = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*d$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Counts(_Strict):
    activations: NonNegativeInt
    users: NonNegativeInt
    sessions: NonNegativeInt


class ProviderCounts(_Strict):
    activations: NonNegativeInt
    users: NonNegativeInt


class Totals(_Strict):
    activations: NonNegativeInt
    users: NonNegativeInt
    sessions: NonNegativeInt
    tiled_activations: NonNegativeInt
    untiled_activations: NonNegativeInt
    providers: dict[str, ProviderCounts]


class FilterWindow(_Strict):
    events_total: NonNegativeInt
    events_no_gitrepo: NonNegativeInt
    events_with_gitrepo: NonNegativeInt
    events_matched_filter: NonNegativeInt
    events_matched_by_repo: NonNegativeInt
    events_matched_by_email: NonNegativeInt
    events_excluded_by_filter: NonNegativeInt


class Filter(_Strict):
    repos: list[str]
    email_domains: list[str]
    match_kind: Literal["prefix-or-email-domain"] = "prefix-or-email-domain"
    events_per_window: dict[WindowKey, FilterWindow]


class Source(_Strict):
    kind: Literal["posthog"] = "posthog"
    host: str
    project_id: int


class Tile(_Strict):
    tile: str
    windows: dict[WindowKey, Counts]


class Skill(_Strict):
    tile: str
    name: str
    windows: dict[WindowKey, Counts]
    providers: dict[str, NonNegativeInt]
    first_seen: str | None
    last_seen: str | None


class UntiledCounts(_Strict):
    activations: NonNegativeInt
    users: NonNegativeInt


class UntiledSkill(_Strict):
    name: str
    windows: dict[WindowKey, UntiledCounts]


class LoadedCounts(_Strict):
    users: NonNegativeInt


class LoadedSkill(_Strict):
    tile: str | None
    name: str
    scope: str | None
    windows: dict[WindowKey, LoadedCounts]


class McpTool(_Strict):
    tool: str
    windows: dict[WindowKey, Counts]


class SessionAggregate(_Strict):
    sessions: NonNegativeInt
    users: NonNegativeInt
    messages: NonNegativeInt
    tool_calls: NonNegativeInt
    skill_calls: NonNegativeInt
    tessl_skill_calls: NonNegativeInt
    tessl_mcp_calls: NonNegativeInt
    tessl_cli_calls: NonNegativeInt


class RepoSessionAggregate(SessionAggregate):
    repo: str


class Repo(_Strict):
    repo: str
    windows: dict[WindowKey, Totals]


class TileByRepo(_Strict):
    tile: str
    repo: str
    windows: dict[WindowKey, Counts]


class SkillByRepo(_Strict):
    tile: str
    name: str
    repo: str
    windows: dict[WindowKey, Counts]


class UntiledByRepo(_Strict):
    name: str
    repo: str
    windows: dict[WindowKey, UntiledCounts]


class McpByRepo(_Strict):
    tool: str
    repo: str
    windows: dict[WindowKey, Counts]


class OrgUsage(_Strict):
    """What the organisation's agents did, per window, as PostHog's agent-signal events say."""

    model_config = ConfigDict(extra="forbid", title="skill-insights org usage")

    schema_version: Literal["1.4"] = "1.4"
    fetched_at: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    tool_version: str
    source: Source
    windows: list[Annotated[int, Field(gt=0)]] = Field(min_length=1)
    primary_window_days: Annotated[int, Field(gt=0)]
    top_tiles_detail: NonNegativeInt
    top_untiled: NonNegativeInt
    top_loaded: NonNegativeInt
    top_repos: NonNegativeInt
    filter: Filter
    totals: dict[WindowKey, Totals]
    tiles: list[Tile]
    skills: list[Skill]
    untiled_skills: list[UntiledSkill]
    loaded_skills: list[LoadedSkill]
    mcp_tools: list[McpTool]
    session_aggregates: dict[WindowKey, SessionAggregate]
    repos: list[Repo]
    tiles_by_repo: list[TileByRepo]
    skills_by_repo: list[SkillByRepo]
    untiled_skills_by_repo: list[UntiledByRepo]
    mcp_tools_by_repo: list[McpByRepo]
    session_aggregates_by_repo: dict[WindowKey, list[RepoSessionAggregate]]


def json_schema() -> dict[str, Any]:
    schema = OrgUsage.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://skill-insights.local/schemas/org-usage.schema.json",
        **schema,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()

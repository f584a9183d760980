"""The HogQL texts of the org dashboards' queries (the agent-signal events, per window, optionally narrowed to
repo prefixes or to people's email domains).

Every value a user or the server supplies reaches PostHog as a HogQL `values` placeholder, never as query text;
the text holds only our own column names and constant limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skill_insights.telemetry.signals import MCP_ACTIVATION, SESSION_PROCESSED, SKILL_ACTIVATION

TOP_TILES_DETAIL = 50
TOP_UNTILED = 100
TOP_LOADED = 5000
TOP_REPOS = 200

# HogQL placeholders: {days}, {repo_prefixes}, {email_domains}, {tiles}, {repos}. Our own substitutions are
# <<name>> markers, replaced before sending, with our own column names only.

_WINDOW = "timestamp > now() - toIntervalDay({days})"


@dataclass(frozen=True)
class Filters:
    repos: list[str]
    email_domains: list[str]

    def values(self) -> dict[str, Any]:
        return {"repo_prefixes": self.repos, "email_domains": self.email_domains}

    def repo_body(self, prop: str) -> str:
        if not self.repos:
            return ""
        return (
            f"arrayExists(p -> (ifNull(toString({prop}), '') = p"
            f" OR startsWith(ifNull(toString({prop}), ''), concat(p, '/'))), {{repo_prefixes}})"
        )

    def email_body(self) -> str:
        if not self.email_domains:
            return ""
        return (
            "arrayExists(d -> endsWith(ifNull(toString(person.properties.email), ''), concat('@', d)), {email_domains})"
        )

    def body(self, prop: str = "properties.gitRepo") -> str:
        parts = [b for b in (self.repo_body(prop), self.email_body()) if b]
        return "(" + " OR ".join(parts) + ")" if parts else ""

    def where(self, prop: str = "properties.gitRepo") -> str:
        body = self.body(prop)
        return f"AND {body}" if body else ""


def _q(template: str, **parts: str) -> str:
    for name, text in parts.items():
        template = template.replace(f"<<{name}>>", text)
    return " ".join(template.split())


_PROVIDER_COLS = """countIf(properties.provider = 'claude-code') AS cc_act,
    countIf(properties.provider = 'cursor-ide') AS ci_act,
    uniqIf(distinct_id, properties.provider = 'claude-code') AS cc_users,
    uniqIf(distinct_id, properties.provider = 'cursor-ide') AS ci_users"""


def q_filter_meta(f: Filters) -> str:
    return _q(
        f"""SELECT count() AS total, countIf(properties.gitRepo IS NULL) AS no_attribution,
        countIf(properties.gitRepo IS NOT NULL) AS with_attribution, countIf(<<combined>>) AS matched,
        countIf(<<repo>>) AS matched_by_repo, countIf(<<email>>) AS matched_by_email
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW}""",
        combined=f.body() or "true",
        repo=f.repo_body("properties.gitRepo") or "false",
        email=f.email_body() or "false",
    )


def q_totals(f: Filters) -> str:
    return _q(
        f"""SELECT count() AS act, uniq(distinct_id) AS users, uniq(toString(properties.sessionId)) AS sessions,
        countIf(properties.skillTile IS NOT NULL) AS tiled, countIf(properties.skillTile IS NULL) AS untiled,
        {_PROVIDER_COLS}
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW} <<where>>""",
        where=f.where(),
    )


def q_tiles(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.skillTile) AS tile, count() AS act, uniq(distinct_id) AS users,
        uniq(toString(properties.sessionId)) AS sessions
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW} AND properties.skillTile IS NOT NULL <<where>>
        GROUP BY tile ORDER BY act DESC LIMIT 500""",
        where=f.where(),
    )


def q_skill_detail(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.skillTile) AS tile, toString(properties.skillName) AS skill,
        count() AS act, uniq(distinct_id) AS users, uniq(toString(properties.sessionId)) AS sessions,
        min(timestamp) AS first_seen, max(timestamp) AS last_seen,
        countIf(properties.provider = 'claude-code') AS cc, countIf(properties.provider = 'cursor-ide') AS ci
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW}
          AND has({{tiles}}, toString(properties.skillTile)) <<where>>
        GROUP BY tile, skill ORDER BY act DESC LIMIT 1000""",
        where=f.where(),
    )


def q_untiled(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.skillName) AS skill, count() AS act, uniq(distinct_id) AS users
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW}
          AND properties.skillTile IS NULL AND properties.skillName IS NOT NULL <<where>>
        GROUP BY skill ORDER BY act DESC LIMIT {TOP_UNTILED}""",
        where=f.where(),
    )


def q_mcp(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.tool) AS tool, count() AS act, uniq(distinct_id) AS users,
        uniq(toString(properties.sessionId)) AS sessions
        FROM events WHERE event = '{MCP_ACTIVATION}' AND {_WINDOW} <<where>>
        GROUP BY tool ORDER BY act DESC""",
        where=f.where(),
    )


_SESSION_SUMS = """sum(toFloatOrZero(toString(properties.totalMessages))) AS messages,
    sum(toFloatOrZero(toString(properties.totalToolCalls))) AS tool_calls,
    sum(toFloatOrZero(toString(properties.totalSkillCalls))) AS skill_calls,
    sum(toFloatOrZero(toString(properties.tesslSkillCalls))) AS tessl_skill_calls,
    sum(toFloatOrZero(toString(properties.tesslMcpCalls))) AS tessl_mcp_calls,
    sum(toFloatOrZero(toString(properties.tesslToolCalls))) AS tessl_cli_calls"""


def q_sessions(f: Filters) -> str:
    # session-processed events carry sessionGitRepo, not gitRepo.
    return _q(
        f"""SELECT count() AS sessions, uniq(distinct_id) AS users, {_SESSION_SUMS}
        FROM events WHERE event = '{SESSION_PROCESSED}' AND {_WINDOW} <<where>>""",
        where=f.where("properties.sessionGitRepo"),
    )


def q_loaded(f: Filters) -> str:
    return _q(
        f"""WITH unrolled AS (
            SELECT distinct_id,
                   arrayJoin(JSONExtractArrayRaw(coalesce(toString(properties.installedSkills), '[]'))) AS s_json
            FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW}
              AND properties.installedSkills IS NOT NULL <<where>>)
        SELECT JSONExtractString(s_json, 'tile') AS tile, JSONExtractString(s_json, 'name') AS name,
               JSONExtractString(s_json, 'scope') AS scope, uniq(distinct_id) AS loaded_users
        FROM unrolled GROUP BY tile, name, scope ORDER BY loaded_users DESC LIMIT {TOP_LOADED}""",
        where=f.where(),
    )


def q_repo_totals(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.gitRepo) AS repo, count() AS act, uniq(distinct_id) AS users,
        uniq(toString(properties.sessionId)) AS sessions,
        countIf(properties.skillTile IS NOT NULL) AS tiled, countIf(properties.skillTile IS NULL) AS untiled,
        {_PROVIDER_COLS}
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW} AND properties.gitRepo IS NOT NULL <<where>>
        GROUP BY repo ORDER BY act DESC LIMIT {TOP_REPOS}""",
        where=f.where(),
    )


def q_tiles_by_repo(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.skillTile) AS tile, toString(properties.gitRepo) AS repo,
        count() AS act, uniq(distinct_id) AS users, uniq(toString(properties.sessionId)) AS sessions
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW} AND properties.skillTile IS NOT NULL
          AND has({{repos}}, toString(properties.gitRepo)) <<where>>
        GROUP BY tile, repo ORDER BY act DESC LIMIT 10000""",
        where=f.where(),
    )


def q_skills_by_repo(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.skillTile) AS tile, toString(properties.skillName) AS skill,
        toString(properties.gitRepo) AS repo, count() AS act, uniq(distinct_id) AS users,
        uniq(toString(properties.sessionId)) AS sessions
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW}
          AND has({{tiles}}, toString(properties.skillTile)) AND has({{repos}}, toString(properties.gitRepo)) <<where>>
        GROUP BY tile, skill, repo ORDER BY act DESC LIMIT 10000""",
        where=f.where(),
    )


def q_untiled_by_repo(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.skillName) AS skill, toString(properties.gitRepo) AS repo,
        count() AS act, uniq(distinct_id) AS users
        FROM events WHERE event = '{SKILL_ACTIVATION}' AND {_WINDOW}
          AND properties.skillTile IS NULL AND properties.skillName IS NOT NULL
          AND has({{repos}}, toString(properties.gitRepo)) <<where>>
        GROUP BY skill, repo ORDER BY act DESC LIMIT 10000""",
        where=f.where(),
    )


def q_mcp_by_repo(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.tool) AS tool, toString(properties.gitRepo) AS repo,
        count() AS act, uniq(distinct_id) AS users, uniq(toString(properties.sessionId)) AS sessions
        FROM events WHERE event = '{MCP_ACTIVATION}' AND {_WINDOW}
          AND has({{repos}}, toString(properties.gitRepo)) <<where>>
        GROUP BY tool, repo ORDER BY act DESC LIMIT 5000""",
        where=f.where(),
    )


def q_sessions_by_repo(f: Filters) -> str:
    return _q(
        f"""SELECT toString(properties.sessionGitRepo) AS repo, count() AS sessions,
        uniq(distinct_id) AS users, {_SESSION_SUMS}
        FROM events WHERE event = '{SESSION_PROCESSED}' AND {_WINDOW}
          AND has({{repos}}, toString(properties.sessionGitRepo)) <<where>>
        GROUP BY repo ORDER BY sessions DESC LIMIT {TOP_REPOS}""",
        where=f.where("properties.sessionGitRepo"),
    )

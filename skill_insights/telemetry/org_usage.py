"""Org-wide usage fetched back from PostHog with HogQL, and joined with this machine's inventory.

The query texts are in `org_queries`. Every value a user or the server supplies — windows, filter values, the
top tiles and repos carried into follow-up queries — reaches PostHog as a HogQL `values` placeholder, never as
query text.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skill_insights import __version__
from skill_insights.telemetry.org_model import SCHEMA_VERSION, OrgUsage
from skill_insights.telemetry.org_queries import (
    TOP_LOADED,
    TOP_REPOS,
    TOP_TILES_DETAIL,
    TOP_UNTILED,
    Filters,
    q_filter_meta,
    q_loaded,
    q_mcp,
    q_mcp_by_repo,
    q_repo_totals,
    q_sessions,
    q_sessions_by_repo,
    q_skill_detail,
    q_skills_by_repo,
    q_tiles,
    q_tiles_by_repo,
    q_totals,
    q_untiled,
    q_untiled_by_repo,
)

DEFAULT_WINDOWS = (7, 30, 90)
DEFAULT_PRIMARY_WINDOW = 30
RETRY_STATUSES = (502, 503, 504)
RETRY_BACKOFF_S = (5.0, 15.0)
KEY_ENV = ("SKILL_INSIGHTS_POSTHOG_PERSONAL_API_KEY", "POSTHOG_PERSONAL_API_KEY")
PROVIDERS = ("claude-code", "cursor-ide")


class OrgUsageError(RuntimeError):
    """A one-line reason the org usage could not be fetched."""


# -- the API key ------------------------------------------------------------------------------------------


def read_personal_key(key_file: Path | None) -> str:
    """The personal API key (query:read): from the environment, else a file only its owner can read."""
    for name in KEY_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    if key_file is None:
        raise OrgUsageError(f"no PostHog personal API key: set {KEY_ENV[0]} or write it to a 0600 key file")
    try:
        st = key_file.stat()
    except OSError:
        raise OrgUsageError(f"no PostHog personal API key: {key_file} does not exist (or set {KEY_ENV[0]})") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise OrgUsageError(f"key file {key_file} is readable by others (chmod 600 it)")
    try:
        key = key_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise OrgUsageError(f"cannot read key file {key_file}: {e}") from None
    if not key:
        raise OrgUsageError(f"key file {key_file} is empty")
    return key


# -- the HogQL client -------------------------------------------------------------------------------------


class HogQL:
    """`POST /api/projects/:id/query/` with a HogQLQuery; 502/503/504 are retried with backoff."""

    def __init__(
        self,
        host: str,
        project_id: int,
        api_key: str,
        *,
        timeout_s: float = 60.0,
        backoff_s: tuple[float, ...] = RETRY_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.host = host.rstrip("/")
        self.project_id = project_id
        self._client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {api_key}"})
        self.backoff_s = backoff_s
        self.sleep = sleep

    def close(self) -> None:
        self._client.close()

    def query(self, text: str, values: dict[str, Any]) -> list[list[Any]]:
        import httpx

        body = {"query": {"kind": "HogQLQuery", "query": text, "values": values}}
        url = f"{self.host}/api/projects/{self.project_id}/query/"
        problem = ""
        for pause in (0.0, *self.backoff_s):
            if pause:
                self.sleep(pause)
            try:
                resp = self._client.post(url, json=body)
            except httpx.HTTPError as e:
                problem = f"{type(e).__name__}: cannot reach {self.host}"
                continue
            if resp.status_code in RETRY_STATUSES:
                problem = f"HTTP {resp.status_code}"
                continue
            if resp.status_code != 200:
                raise OrgUsageError(f"PostHog query failed (HTTP {resp.status_code}): {_detail(resp)}")
            try:
                doc = resp.json()
            except ValueError:
                raise OrgUsageError("PostHog answered a query with something that is not JSON") from None
            if not isinstance(doc, dict) or doc.get("error"):
                raise OrgUsageError(f"PostHog query failed: {doc.get('error') if isinstance(doc, dict) else doc}")
            rows = doc.get("results")
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise OrgUsageError("PostHog answered a query without a results list")
            return rows
        raise OrgUsageError(f"PostHog query failed after {len(self.backoff_s) + 1} attempts: {problem}")


def _detail(resp: Any) -> str:
    try:
        doc = resp.json()
        text = str(doc.get("detail") or doc.get("error") or doc) if isinstance(doc, dict) else str(doc)
    except ValueError:
        text = resp.text
    return text.replace("\n", " ")[:200]


# -- fetch + assemble ----------------------------------------------------------------------------------------


def _n(v: Any) -> int:
    try:
        return max(0, int(float(v or 0)))
    except (TypeError, ValueError):
        return 0


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _stamp(v: Any) -> str | None:
    return str(v) if v not in (None, "") else None


def _providers(cc: Any, ci: Any, ccu: Any, ciu: Any) -> dict[str, dict[str, int]]:
    return {
        "claude-code": {"activations": _n(cc), "users": _n(ccu)},
        "cursor-ide": {"activations": _n(ci), "users": _n(ciu)},
    }


def _totals(row: list[Any]) -> dict[str, Any]:
    act, users, sessions, tiled, untiled, cc, ci, ccu, ciu = (list(row) + [0] * 9)[:9]
    return {
        "activations": _n(act),
        "users": _n(users),
        "sessions": _n(sessions),
        "tiled_activations": _n(tiled),
        "untiled_activations": _n(untiled),
        "providers": _providers(cc, ci, ccu, ciu),
    }


_SESSION_KEYS = (
    "sessions",
    "users",
    "messages",
    "tool_calls",
    "skill_calls",
    "tessl_skill_calls",
    "tessl_mcp_calls",
    "tessl_cli_calls",
)


def _ranked(entries: dict[Any, dict[str, Any]], primary: str, measure: str = "activations") -> list[dict[str, Any]]:
    """By the primary window's count, descending; entries without one last, by their largest window."""

    def key(e: dict[str, Any]) -> tuple[int, int, int]:
        p = e["windows"].get(primary, {}).get(measure, 0)
        most = max((w.get(measure, 0) for w in e["windows"].values()), default=0)
        return (0 if p > 0 else 1, -p, -most)

    return sorted(entries.values(), key=key)


def fetch(client: HogQL, windows: list[int], primary_window: int, filters: Filters) -> OrgUsage:
    """Every query, per window, assembled into the org usage document (validated by its model)."""
    windows = sorted({*windows, primary_window})
    primary = f"{primary_window}d"
    base = filters.values()

    def run(query: str, days: int, **extra: Any) -> list[list[Any]]:
        return client.query(query, {**base, "days": days, **extra})

    filter_active = bool(filters.repos or filters.email_domains)
    meta: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    tiles: dict[str, dict[str, Any]] = {}
    untiled: dict[str, dict[str, Any]] = {}
    mcp: dict[str, dict[str, Any]] = {}
    sessions: dict[str, Any] = {}
    loaded: dict[tuple[str, str, str], dict[str, Any]] = {}
    repos: dict[str, dict[str, Any]] = {}
    for d in windows:
        w = f"{d}d"
        rows = run(q_filter_meta(filters), d)
        total, no_attr, with_attr, matched, matched_repo, matched_email = (
            ([_n(x) for x in rows[0]] + [0] * 6)[:6] if rows else [0] * 6
        )
        meta[w] = {
            "events_total": total,
            "events_no_gitrepo": no_attr,
            "events_with_gitrepo": with_attr,
            "events_matched_filter": matched,
            "events_matched_by_repo": matched_repo,
            "events_matched_by_email": matched_email,
            "events_excluded_by_filter": max(0, total - matched) if filter_active else 0,
        }
        rows = run(q_totals(filters), d)
        totals[w] = _totals(rows[0] if rows else [])
        for tile, act, users, sess in (r[:4] for r in run(q_tiles(filters), d)):
            if _s(tile):
                tiles.setdefault(tile, {"tile": tile, "windows": {}})["windows"][w] = {
                    "activations": _n(act),
                    "users": _n(users),
                    "sessions": _n(sess),
                }
        for name, act, users in (r[:3] for r in run(q_untiled(filters), d)):
            if _s(name):
                untiled.setdefault(name, {"name": name, "windows": {}})["windows"][w] = {
                    "activations": _n(act),
                    "users": _n(users),
                }
        for tool, act, users, sess in (r[:4] for r in run(q_mcp(filters), d)):
            if _s(tool):
                mcp.setdefault(tool, {"tool": tool, "windows": {}})["windows"][w] = {
                    "activations": _n(act),
                    "users": _n(users),
                    "sessions": _n(sess),
                }
        rows = run(q_sessions(filters), d)
        sessions[w] = dict(zip(_SESSION_KEYS, [_n(x) for x in (rows[0] if rows else [])] + [0] * 8, strict=False))
        for tile, name, scope, users in (r[:4] for r in run(q_loaded(filters), d)):
            if _s(name):
                entry = loaded.setdefault(
                    (tile or "", name, scope or ""), {"tile": _s(tile), "name": name, "scope": _s(scope), "windows": {}}
                )
                entry["windows"][w] = {"users": _n(users)}
        for row in run(q_repo_totals(filters), d):
            if row and _s(row[0]):
                repos.setdefault(row[0], {"repo": row[0], "windows": {}})["windows"][w] = _totals(row[1:])

    tiles_sorted = _ranked(tiles, primary)
    top_tiles = [t["tile"] for t in tiles_sorted[:TOP_TILES_DETAIL]]
    repos_sorted = _ranked(repos, primary)[:TOP_REPOS]
    top_repos = [r["repo"] for r in repos_sorted]

    skills: dict[tuple[str, str], dict[str, Any]] = {}
    by_repo: dict[str, dict[tuple, dict[str, Any]]] = {k: {} for k in ("tiles", "skills", "untiled", "mcp")}
    sessions_by_repo: dict[str, list[dict[str, Any]]] = {}
    for d in windows:
        w = f"{d}d"
        if top_tiles:
            for tile, name, act, users, sess, first, last, cc, ci in (
                r[:9] for r in run(q_skill_detail(filters), d, tiles=top_tiles)
            ):
                if not (_s(tile) and _s(name)):
                    continue
                entry = skills.setdefault(
                    (tile, name),
                    {"tile": tile, "name": name, "windows": {}, "providers": {}, "first_seen": None, "last_seen": None},
                )
                entry["windows"][w] = {"activations": _n(act), "users": _n(users), "sessions": _n(sess)}
                if d == primary_window:
                    entry["providers"] = {"claude-code": _n(cc), "cursor-ide": _n(ci)}
                    entry["first_seen"], entry["last_seen"] = _stamp(first), _stamp(last)
        sessions_by_repo[w] = []
        if not top_repos:
            continue
        for tile, repo, act, users, sess in (r[:5] for r in run(q_tiles_by_repo(filters), d, repos=top_repos)):
            if _s(tile) and _s(repo):
                by_repo["tiles"].setdefault((tile, repo), {"tile": tile, "repo": repo, "windows": {}})["windows"][w] = {
                    "activations": _n(act),
                    "users": _n(users),
                    "sessions": _n(sess),
                }
        if top_tiles:
            for tile, name, repo, act, users, sess in (
                r[:6] for r in run(q_skills_by_repo(filters), d, tiles=top_tiles, repos=top_repos)
            ):
                if _s(tile) and _s(name) and _s(repo):
                    by_repo["skills"].setdefault(
                        (tile, name, repo), {"tile": tile, "name": name, "repo": repo, "windows": {}}
                    )["windows"][w] = {"activations": _n(act), "users": _n(users), "sessions": _n(sess)}
        for name, repo, act, users in (r[:4] for r in run(q_untiled_by_repo(filters), d, repos=top_repos)):
            if _s(name) and _s(repo):
                by_repo["untiled"].setdefault((name, repo), {"name": name, "repo": repo, "windows": {}})["windows"][
                    w
                ] = {"activations": _n(act), "users": _n(users)}
        for tool, repo, act, users, sess in (r[:5] for r in run(q_mcp_by_repo(filters), d, repos=top_repos)):
            if _s(tool) and _s(repo):
                by_repo["mcp"].setdefault((tool, repo), {"tool": tool, "repo": repo, "windows": {}})["windows"][w] = {
                    "activations": _n(act),
                    "users": _n(users),
                    "sessions": _n(sess),
                }
        for row in run(q_sessions_by_repo(filters), d, repos=top_repos):
            if row and _s(row[0]):
                vals = [_n(x) for x in row[1:9]] + [0] * 8
                sessions_by_repo[w].append({"repo": row[0], **dict(zip(_SESSION_KEYS, vals, strict=False))})

    doc = {
        "schema_version": SCHEMA_VERSION,
        "fetched_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool_version": f"skill-insights@{__version__}",
        "source": {"kind": "posthog", "host": client.host, "project_id": client.project_id},
        "windows": windows,
        "primary_window_days": primary_window,
        "top_tiles_detail": TOP_TILES_DETAIL,
        "top_untiled": TOP_UNTILED,
        "top_loaded": TOP_LOADED,
        "top_repos": TOP_REPOS,
        "filter": {
            "repos": filters.repos,
            "email_domains": filters.email_domains,
            "match_kind": "prefix-or-email-domain",
            "events_per_window": meta,
        },
        "totals": totals,
        "tiles": tiles_sorted,
        "skills": _ranked(skills, primary),
        "untiled_skills": _ranked(untiled, primary),
        "loaded_skills": _ranked(loaded, primary, "users"),
        "mcp_tools": _ranked(mcp, primary),
        "session_aggregates": sessions,
        "repos": repos_sorted,
        "tiles_by_repo": list(by_repo["tiles"].values()),
        "skills_by_repo": list(by_repo["skills"].values()),
        "untiled_skills_by_repo": list(by_repo["untiled"].values()),
        "mcp_tools_by_repo": list(by_repo["mcp"].values()),
        "session_aggregates_by_repo": sessions_by_repo,
    }
    return OrgUsage.model_validate(doc)


# -- options ---------------------------------------------------------------------------------------------------


def parse_windows(text: str) -> list[int]:
    out: list[int] = []
    for tok in (t.strip() for t in text.split(",")):
        if not tok:
            continue
        if not tok.isdigit() or int(tok) <= 0 or int(tok) > 3650:
            raise ValueError(f"--windows: {tok!r} is not a number of days between 1 and 3650")
        out.append(int(tok))
    if not out:
        raise ValueError("--windows: give at least one number of days")
    return sorted(set(out))


def parse_list(text: str | None, strip: str = "") -> list[str]:
    if not text:
        return []
    return [t for t in (tok.strip().strip(strip).rstrip("/") for tok in text.split(",")) if t]


# -- this machine vs the org ---------------------------------------------------------------------------------


def compare_with_local(org: dict[str, Any], local: dict[str, set[str]], limit: int = 20) -> dict[str, Any]:
    """Popular org skills not installed here, and skills installed here that nobody in the org used.

    `local` maps each skill installed on this machine to every name an activation of it may carry (`review`,
    `plugin:review`); the org's counts are by the name Claude Code invoked.
    """
    primary = f"{org['primary_window_days']}d"
    org_skills = [*org.get("skills", []), *org.get("untiled_skills", [])]
    org_used: dict[str, dict[str, Any]] = {}
    for s in org_skills:
        counts = s["windows"].get(primary) or {}
        best = org_used.get(s["name"])
        if best is None or counts.get("users", 0) > best["users"]:
            org_used[s["name"]] = {
                "name": s["name"],
                "tile": s.get("tile"),
                "users": counts.get("users", 0),
                "activations": counts.get("activations", 0),
            }
    used_anywhere = {s["name"] for s in org_skills if any(w.get("activations", 0) for w in s["windows"].values())}
    installed = set().union(*local.values()) if local else set()
    popular = sorted(
        (e for e in org_used.values() if e["users"] > 0 and e["name"] not in installed),
        key=lambda e: (-e["users"], -e["activations"], e["name"]),
    )[:limit]
    unused = sorted(name for name, names in local.items() if not names & used_anywhere)
    return {"window": primary, "popular_not_installed": popular, "installed_unused_org_wide": unused}


def local_skills(conn: Any) -> dict[str, set[str]]:
    """{skill name: every name an activation of it may carry} for the skills the newest inventory holds."""
    out: dict[str, set[str]] = {}
    for name, names in conn.execute("SELECT name, names FROM skills WHERE name IS NOT NULL"):
        try:
            aliases = {n for n in json.loads(names or "[]") if isinstance(n, str)}
        except ValueError:
            aliases = set()
        out.setdefault(name, set()).update({name, *aliases})
    return out


def org_section(org_file: Path, conn: Any) -> dict[str, Any] | None:
    """What the report's org section shows: the stored org usage (the copy `org-usage fetch` keeps) compared
    with this machine's skills; None when there is none or it does not match its schema."""
    from skill_insights.schemas.validate import SchemaError, validate

    try:
        doc = json.loads(org_file.read_text(encoding="utf-8"))
        validate(doc, "org-usage")
    except (OSError, ValueError, SchemaError):
        return None
    return {
        "fetched_at": doc["fetched_at"],
        "totals": doc["totals"].get(f"{doc['primary_window_days']}d"),
        **compare_with_local(doc, local_skills(conn)),
    }

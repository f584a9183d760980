"""Everything the report shows, gathered from the store into one plain dict.

Reads only SQLite (never a transcript). The capture tables always exist; the inventory and analysis tables
arrive with their own migrations, so every reader here checks what is there and returns an empty section
when it is not: a report on a capture-only store is still a complete page.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from skill_insights import __version__
from skill_insights.report import adapters
from skill_insights.report.sources import sources_section
from skill_insights.report.tables import Store, json_or
from skill_insights.usage import TOKEN_FIELDS

SEVERITIES = ("critical", "error", "high", "warning", "medium", "info", "low")
# Severity rank for ordering: lower is worse. Unknown severities sort with "info".
SEV_RANK = {"critical": 0, "error": 1, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3}


# -- capture ------------------------------------------------------------------------------------------------


def _daily(st: Store, start: date, end: date) -> list[dict]:
    by_day: dict[str, dict] = {}
    for r in st.rows(
        f"""SELECT date, model, responses, {", ".join(TOKEN_FIELDS)}, cost_usd FROM usage_daily
            WHERE date >= ? AND date <= ? ORDER BY date""",
        [start.isoformat(), end.isoformat()],
    ):
        d = by_day.setdefault(r["date"], {"tokens": 0, "cost": 0.0, "responses": 0, "models": {}})
        toks = sum(r[f] or 0 for f in TOKEN_FIELDS)
        d["tokens"] += toks
        d["cost"] += r["cost_usd"] or 0.0
        d["responses"] += r["responses"] or 0
        d["models"][r["model"]] = d["models"].get(r["model"], 0) + toks
    out = []
    day = start
    while day <= end:
        d = by_day.get(day.isoformat(), {"tokens": 0, "cost": 0.0, "responses": 0, "models": {}})
        out.append({"date": day.isoformat(), **d})
        day += timedelta(days=1)
    return out


def _chart_days(st: Store, since: date, today: date) -> list[dict]:
    """Days for the chart: the window, trimmed to start near the first captured day (at least 14 days shown)."""
    first = st.rows("SELECT min(date) AS d FROM usage_daily WHERE date >= ?", [since.isoformat()])
    start = since
    if first and first[0]["d"]:
        start = max(since, min(date.fromisoformat(first[0]["d"]) - timedelta(days=1), today - timedelta(days=13)))
    return _daily(st, start, today)


def _by_model(st: Store, since: str) -> list[dict]:
    rows = st.rows(
        f"""SELECT model, sum(responses) AS responses, {", ".join(f"sum({f}) AS {f}" for f in TOKEN_FIELDS)},
                   sum(cost_usd) AS cost, sum(unpriced_responses) AS unpriced
            FROM usage_daily WHERE date >= ? GROUP BY model""",
        [since],
    )
    for r in rows:
        r["tokens"] = sum(r[f] or 0 for f in TOKEN_FIELDS)
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), -r["tokens"]))


def _by_project(st: Store, since: str) -> list[dict]:
    rows = st.rows(
        """SELECT coalesce(project, '(unknown)') AS project, max(git_repo) AS repo, count(*) AS sessions,
                  sum(total_tokens) AS tokens, sum(cost_usd) AS cost, sum(active_seconds) AS active
           FROM sessions WHERE last_date >= ? GROUP BY 1""",
        [since],
    )
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), -(r["tokens"] or 0)))


def _period(st: Store, start: date, end: date) -> dict:
    r = st.rows(
        f"""SELECT {" + ".join(f"coalesce(sum({f}), 0)" for f in TOKEN_FIELDS)} AS tokens,
                   coalesce(sum(cost_usd), 0) AS cost, coalesce(sum(responses), 0) AS responses
            FROM usage_daily WHERE date >= ? AND date <= ?""",
        [start.isoformat(), end.isoformat()],
    )
    s = st.rows(
        "SELECT count(*) AS n FROM sessions WHERE last_date >= ? AND last_date <= ?",
        [start.isoformat(), end.isoformat()],
    )
    out = r[0] if r else {"tokens": 0, "cost": 0.0, "responses": 0}
    out["sessions"] = s[0]["n"] if s else 0
    out["from"], out["to"] = start.isoformat(), end.isoformat()
    return out


def _tools(st: Store, since: str) -> list[dict]:
    rows = st.rows(
        """SELECT tool, sum(calls) AS calls, sum(errors) AS errors FROM tools_daily
           WHERE date >= ? GROUP BY tool ORDER BY calls DESC, tool""",
        [since],
    )
    for r in rows:
        r["error_rate"] = (r["errors"] or 0) / r["calls"] if r["calls"] else 0.0
    return rows


def _skill_usage(st: Store) -> dict[str, dict]:
    """Per activated skill name: activations, sessions, first and last day used (the store's one count)."""
    from skill_insights.store.queries import skill_usage_by_name

    try:
        usage = skill_usage_by_name(st.db)
    except sqlite3.Error:  # a capture table mid-migration: no usage section rather than no report
        return {}
    return {name: {"skill": name, "activations": t.activations, "sessions": len(t.sessions),
                   "last_used": t.last_date, "first_used": t.first_date} for name, t in usage.items()}


def _mcp(st: Store, since: str, tools: list[dict]) -> list[dict]:
    """MCP servers by calls; `tools` are the window's `_tools` rows (for their errors)."""
    servers: dict[str, dict] = {}
    for r in st.rows(
        """SELECT name AS server, detail AS tool, count(*) AS calls, count(DISTINCT session_id) AS sessions,
                  max(date) AS last_used
           FROM events WHERE kind = 'mcp' AND date >= ? GROUP BY name, detail""",
        [since],
    ):
        s = servers.setdefault(r["server"] or "?", {"server": r["server"] or "?", "calls": 0, "tools": [],
                                                    "last_used": r["last_used"]})
        s["calls"] += r["calls"]
        s["tools"].append({"tool": r["tool"], "calls": r["calls"]})
        s["last_used"] = max(s["last_used"] or "", r["last_used"] or "")
    errors = {r["tool"]: r["errors"] for r in tools if r["tool"].startswith("mcp__")}
    for s in servers.values():
        s["tools"].sort(key=lambda t: -t["calls"])
        s["errors"] = sum(errors.get(f"mcp__{s['server']}__{t['tool']}", 0) for t in s["tools"])
    return sorted(servers.values(), key=lambda s: -s["calls"])


def _subagents(st: Store, since: str) -> list[dict]:
    agg: dict[str, dict] = {}
    for r in st.rows("SELECT subagents FROM sessions WHERE last_date >= ? AND subagents != '[]'", [since]):
        for sa in json_or(r["subagents"], []):
            t = sa.get("type") or "(unknown)"
            a = agg.setdefault(t, {"type": t, "calls": 0, "tokens": 0, "cost": 0.0})
            a["calls"] += 1
            a["tokens"] += sa.get("total_tokens") or 0
            a["cost"] += sa.get("cost_usd") or 0.0
    return sorted(agg.values(), key=lambda a: (-a["calls"], a["type"]))


def _sessions(st: Store, limit: int | None = None) -> list[dict]:
    sql = """SELECT session_id, project, git_branch, git_repo, started_at, ended_at, last_date, wall_seconds,
                    active_seconds, user_messages, primary_model, total_tokens, cost_usd, tool_calls, tool_errors,
                    skill_calls, subagent_calls, mcp_calls, skills, tools
             FROM sessions ORDER BY coalesce(started_at, '') DESC, session_id"""
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for r in st.rows(sql):
        tools = json_or(r.pop("tools"), {})
        top = sorted(tools.items(), key=lambda kv: -kv[1].get("calls", 0))[:4]
        out.append(
            {
                **r,
                "skills": sorted(json_or(r["skills"], {})),
                "top_tools": [f"{k} ×{v.get('calls', 0)}" for k, v in top],
            }
        )
    return out


# -- assembly -----------------------------------------------------------------------------------------------


def _staleness(last: str | None, today: date) -> int | None:
    if not last:
        return None
    try:
        return (today - date.fromisoformat(last[:10])).days
    except ValueError:
        return None


def gather(
    db: sqlite_utils.Database,
    *,
    now: datetime | None = None,
    days: int = 30,
    never_used_days: int = 30,
    session_limit: int | None = None,
) -> dict[str, Any]:
    """The whole report as plain data (JSON-serialisable)."""
    now = now or datetime.now(UTC)
    today = now.astimezone().date()
    since = today - timedelta(days=days - 1)
    st = Store(db)
    tools = _tools(st, since.isoformat())

    this_week = _period(st, today - timedelta(days=6), today)
    last_week = _period(st, today - timedelta(days=13), today - timedelta(days=7))
    usage = {
        "days": days,
        "since": since.isoformat(),
        "daily": _chart_days(st, since, today),
        "by_model": _by_model(st, since.isoformat()),
        "by_project": _by_project(st, since.isoformat()),
        "tools": tools,
        "mcp": _mcp(st, since.isoformat(), tools),
        "subagents": _subagents(st, since.isoformat()),
        "this_week": this_week,
        "last_week": last_week,
    }
    # Skills, locations, manifests, changes and the analysis: empty sections until those tables exist.
    inv = adapters.inventory(st)
    ana = adapters.analysis(st)
    skill_use = _skill_usage(st)

    # Join: findings, scores and duplicate groups onto skills; usage onto skills by name.
    findings_by_skill: dict[str, list[dict]] = defaultdict(list)
    for f in ana["findings"]:
        if f.get("skill_id"):
            findings_by_skill[f["skill_id"]].append(f)
    for f in inv.get("scan_findings", []):
        if f.get("skill_id"):
            findings_by_skill[f["skill_id"]].append(f)
    group_of: dict[str, int] = {}
    for g in ana["duplicate_groups"]:
        for s in g["skills"]:
            group_of.setdefault(s["id"], g["id"])
    by_name_used: set[str] = set()
    facts = ana.get("skill_facts", {})
    for s in inv["skills"]:
        sid = s["id"]
        fact = facts.get(sid) or {}
        s["last_changed"] = s.get("last_changed") or fact.get("last_changed")
        s["git"] = {k: fact.get(k) for k in ("last_commit", "commits", "contributors")} if fact else None
        s["score"] = ana["scores"].get(sid, s.get("score"))
        s["findings"] = sorted(findings_by_skill.get(sid, []), key=lambda f: SEV_RANK.get(f["severity"], 3))
        s["group"] = group_of.get(sid)
        if s.get("activations") is None:
            use = None
            for key in s.get("use_keys") or [s["name"]]:
                if key in skill_use:
                    use = skill_use[key]
                    by_name_used.add(key)
                    break
            s["activations"] = use["activations"] if use else 0
            s["sessions"] = use["sessions"] if use else 0
            s["last_used"] = use["last_used"] if use else None
        else:
            by_name_used.update(s.get("use_keys") or [s["name"]])
        s["days_since_change"] = _staleness(s.get("last_changed"), today)
        s["never_used"] = not s["activations"]
        s.pop("use_keys", None)

    skills_activity = [
        {**u, "skill": name, "installed": name in by_name_used or not inv["available"], "never_used": False}
        for name, u in skill_use.items()
    ]
    skills_activity += [
        {"skill": s["name"], "activations": 0, "sessions": 0, "last_used": None, "installed": True,
         "never_used": True, "skill_id": s["id"]}
        for s in inv["skills"] if s["never_used"]
    ]
    skills_activity.sort(key=lambda r: (-(r["activations"] or 0), r["skill"] or ""))
    usage["skills"] = skills_activity

    # Recently changed: the scan's own diffs, then skills whose git history moved in the window.
    changes = list(inv["changes"])
    seen_changes = {(c.get("skill_id"), c.get("at")) for c in changes}
    for s in inv["skills"]:
        if s["days_since_change"] is not None and s["days_since_change"] <= days and s.get("git"):
            g = s["git"]
            if (s["id"], s["last_changed"]) in seen_changes:
                continue
            detail = f"last commit {g['last_commit']}" if g.get("last_commit") else "uncommitted edits"
            if g.get("commits"):
                detail += f" · {g['commits']} commit{'s' if g['commits'] != 1 else ''}"
            if g.get("contributors"):
                detail += " · " + ", ".join(g["contributors"][:3])
            changes.append({"skill_id": s["id"], "name": s["name"], "change": "edited", "at": s["last_changed"],
                            "detail": detail})
    changes.sort(key=lambda c: c.get("at") or "", reverse=True)
    first_path = {s["id"]: (s["locations"][0]["path"] if s.get("locations") else None) for s in inv["skills"]}
    for g in ana["duplicate_groups"]:
        for m in g["skills"]:
            m["path"] = first_path.get(m["id"])

    findings = ana["findings"] + inv.get("scan_findings", [])
    names = {s["id"]: s["name"] for s in inv["skills"]}
    for f in findings:
        f.setdefault("skill_name", names.get(f.get("skill_id") or "", f.get("skill_id")))
    top = sorted(findings, key=lambda f: (SEV_RANK.get(f["severity"], 3), f.get("phase") or "", f.get("rule") or ""))

    sev_counts: dict[str, int] = defaultdict(int)
    for f in findings:
        sev_counts[f["severity"]] += 1
    scores = [s["score"] for s in inv["skills"] if isinstance(s.get("score"), int | float)]
    agents = sorted({a for s in inv["skills"] for a in s.get("agents", [])})
    sessions = _sessions(st, session_limit)
    health = {
        "skills": len(inv["skills"]),
        "locations": sum(len(s.get("locations", [])) for s in inv["skills"]),
        "agents": agents,
        "avg_score": round(sum(scores) / len(scores)) if scores else None,
        "low_scores": sum(1 for x in scores if x < 60),
        "findings": len(findings),
        "by_severity": dict(sorted(sev_counts.items(), key=lambda kv: SEV_RANK.get(kv[0], 3))),
        "duplicate_groups": len(ana["duplicate_groups"]),
        "never_used": sum(1 for s in inv["skills"] if s["never_used"]),
        "sessions": len(sessions),
        "this_week": this_week,
        "last_week": last_week,
    }
    return {
        "meta": {
            "generated_at": now.isoformat(timespec="seconds"),
            "today": today.isoformat(),
            "version": __version__,
            "never_used_days": never_used_days,
            "inventory": inv["available"],
            "analysis": ana["available"],
            "phases": ana.get("phases", []),
            "scanned_at": inv.get("scanned_at"),
        },
        "health": health,
        "top_issues": top,
        "changes": changes,
        "usage": usage,
        "skills": inv["skills"],
        "duplicate_groups": ana["duplicate_groups"],
        "manifests": inv["manifests"],
        "sessions": sessions,
        "sources": sources_section(db, now.timestamp()),
    }

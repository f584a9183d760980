"""Everything the report shows, gathered from the store into one plain dict.

Reads only SQLite (never a transcript). The capture tables always exist; the inventory and analysis tables
arrive with their own migrations, so every reader here checks what is there and returns an empty section
when it is not: a report on a capture-only store is still a complete page.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from skill_insights import __version__
from skill_insights.analyzers.problems import counts, merge
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


# A chart of more days than this shows weeks: a bar per day would be a hairline.
MAX_DAILY_BARS = 120


def _chart_buckets(st: Store, start: date, end: date) -> list[dict]:
    """Bars for the chart: one per day, or one per week (dated by its first day) over a long period."""
    days = _daily(st, start, end)
    if len(days) <= MAX_DAILY_BARS:
        return days
    weeks: list[dict] = []
    for i in range(0, len(days), 7):
        chunk = days[i : i + 7]
        models: dict[str, int] = defaultdict(int)
        for d in chunk:
            for m, t in d["models"].items():
                models[m] += t
        weeks.append(
            {
                "date": chunk[0]["date"],
                "week": True,
                "tokens": sum(d["tokens"] for d in chunk),
                "cost": sum(d["cost"] for d in chunk),
                "responses": sum(d["responses"] for d in chunk),
                "models": dict(models),
            }
        )
    return weeks


def _by_model(st: Store, since: str, until: str) -> list[dict]:
    rows = st.rows(
        f"""SELECT model, sum(responses) AS responses, {", ".join(f"sum({f}) AS {f}" for f in TOKEN_FIELDS)},
                   sum(cost_usd) AS cost, sum(unpriced_responses) AS unpriced
            FROM usage_daily WHERE date >= ? AND date <= ? GROUP BY model""",
        [since, until],
    )
    for r in rows:
        r["tokens"] = sum(r[f] or 0 for f in TOKEN_FIELDS)
    return sorted(rows, key=lambda r: (-(r["cost"] or 0), -r["tokens"]))


def short_project(path: str | None, repo: str | None, home: str) -> str:
    """A project's short name: the repository's name, else the path with the home folder as `~`."""
    if repo:
        name = repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        if name:
            return name
    if not path:
        return "(unknown)"
    if home and (path == home or path.startswith(home.rstrip("/") + "/")):
        return "~" + path[len(home.rstrip("/")) :]
    return path


def _by_project(st: Store, since: str, until: str, home: str) -> list[dict]:
    rows = st.rows(
        """SELECT coalesce(project, '(unknown)') AS project, max(git_repo) AS repo, count(*) AS sessions,
                  sum(total_tokens) AS tokens, sum(cost_usd) AS cost, sum(active_seconds) AS active
           FROM sessions WHERE last_date >= ? AND last_date <= ? GROUP BY 1""",
        [since, until],
    )
    for r in rows:
        r["short"] = short_project(r["project"] if r["project"] != "(unknown)" else None, r["repo"], home)
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
    out: dict[str, Any] = r[0] if r else {"tokens": 0, "cost": 0.0, "responses": 0}
    out["sessions"] = s[0]["n"] if s else 0
    out["from"], out["to"] = start.isoformat(), end.isoformat()
    return out


def _tools(st: Store, since: str, until: str) -> list[dict]:
    rows = st.rows(
        """SELECT tool, sum(calls) AS calls, sum(errors) AS errors FROM tools_daily
           WHERE date >= ? AND date <= ? GROUP BY tool ORDER BY calls DESC, tool""",
        [since, until],
    )
    for r in rows:
        r["error_rate"] = (r["errors"] or 0) / r["calls"] if r["calls"] else 0.0
    return rows


def _activations(st: Store) -> list:
    from skill_insights.store.queries import skill_activations

    try:
        return skill_activations(st.db)
    except sqlite3.Error:  # a capture table mid-migration: no usage section rather than no report
        return []


def _skill_usage(activations: list, since: str | None = None, until: str | None = None) -> dict[str, dict]:
    """Per activated skill name: activations, sessions, first and last day used (the store's one count)."""
    from skill_insights.store.queries import usage_by_name

    if since is not None:
        activations = [a for a in activations if a.date and since <= a.date <= (until or a.date)]
    usage = usage_by_name(activations)
    return {
        name: {
            "skill": name,
            "activations": t.activations,
            "sessions": len(t.sessions),
            "last_used": t.last_date,
            "first_used": t.first_date,
        }
        for name, t in usage.items()
    }


def _mcp(st: Store, since: str, until: str, tools: list[dict]) -> list[dict]:
    """MCP servers by calls; `tools` are the window's `_tools` rows (for their errors)."""
    servers: dict[str, dict] = {}
    for r in st.rows(
        """SELECT name AS server, detail AS tool, count(*) AS calls, count(DISTINCT session_id) AS sessions,
                  max(date) AS last_used
           FROM events WHERE kind = 'mcp' AND date >= ? AND date <= ? GROUP BY name, detail""",
        [since, until],
    ):
        s = servers.setdefault(
            r["server"] or "?", {"server": r["server"] or "?", "calls": 0, "tools": [], "last_used": r["last_used"]}
        )
        s["calls"] += r["calls"]
        s["tools"].append({"tool": r["tool"], "calls": r["calls"]})
        s["last_used"] = max(s["last_used"] or "", r["last_used"] or "")
    errors = {r["tool"]: r["errors"] for r in tools if r["tool"].startswith("mcp__")}
    for s in servers.values():
        s["tools"].sort(key=lambda t: -t["calls"])
        s["errors"] = sum(errors.get(f"mcp__{s['server']}__{t['tool']}", 0) for t in s["tools"])
    return sorted(servers.values(), key=lambda s: -s["calls"])


def _subagents(st: Store, since: str, until: str) -> list[dict]:
    agg: dict[str, dict] = {}
    for r in st.rows(
        "SELECT subagents FROM sessions WHERE last_date >= ? AND last_date <= ? AND subagents != '[]'",
        [since, until],
    ):
        for sa in json_or(r["subagents"], []):
            t = sa.get("type") or "(unknown)"
            a = agg.setdefault(t, {"type": t, "calls": 0, "tokens": 0, "cost": 0.0})
            a["calls"] += 1
            a["tokens"] += sa.get("total_tokens") or 0
            a["cost"] += sa.get("cost_usd") or 0.0
    return sorted(agg.values(), key=lambda a: (-a["calls"], a["type"]))


def _data_range(st: Store) -> tuple[date, date] | None:
    """The first and last day anything was captured, or None for an empty store."""
    r = st.rows("SELECT min(date) AS a, max(date) AS b FROM usage_daily")
    s = st.rows("SELECT min(first_date) AS a, max(last_date) AS b FROM sessions")
    firsts = [x for x in (r and r[0]["a"], s and s[0]["a"]) if x]
    lasts = [x for x in (r and r[0]["b"], s and s[0]["b"]) if x]
    if not firsts or not lasts:
        return None
    try:
        return date.fromisoformat(min(firsts)[:10]), date.fromisoformat(max(lasts)[:10])
    except ValueError:
        return None


def _periods(
    today: date, data_range: tuple[date, date] | None, since: date | None, until: date | None
) -> tuple[list[dict], str]:
    """The period control's choices as (key, label, from, to), and the key shown first."""
    first = data_range[0] if data_range else today
    last = max(data_range[1], today) if data_range else today
    out = [
        {"key": "7d", "label": "7 d", "from": today - timedelta(days=6), "to": today},
        {"key": "30d", "label": "30 d", "from": today - timedelta(days=29), "to": today},
        {"key": "90d", "label": "90 d", "from": today - timedelta(days=89), "to": today},
        {"key": "all", "label": "All time", "from": min(first, today), "to": last},
    ]
    default = "30d"
    if since or until:
        lo = since or min(first, today)
        hi = until or last
        out.append({"key": "custom", "label": f"{lo.isoformat()} → {hi.isoformat()}", "from": lo, "to": hi})
        default = "custom"
    return out, default


TREND_POINTS = 30


def _trend(per_day: dict[str, int], start: date, days: int) -> list[int]:
    """Counts over the period in at most TREND_POINTS buckets, oldest first (a sparkline's points)."""
    n = max(1, min(days, TREND_POINTS))
    out = [0] * n
    for d, count in per_day.items():
        try:
            i = (date.fromisoformat(d) - start).days
        except ValueError:
            continue
        if 0 <= i < days:
            out[i * n // days] += count
    return out


def _alias_identical(periods: list[dict]) -> None:
    """A period whose panels would equal an earlier one's (90 days and all time over a short history) is drawn
    once: the earlier panel answers to both keys (`keys`), the later one is marked `same_as`."""
    own = ("key", "label", "since", "until", "days", "keys", "same_as")

    def body(x: dict) -> dict:
        return {
            **{k: v for k, v in x.items() if k not in own},
            "totals": {k: v for k, v in x["totals"].items() if k not in ("from", "to")},
        }

    for i, p in enumerate(periods):
        p.setdefault("keys", [p["key"]])
        for q in periods[:i]:
            if q.get("same_as") is None and body(q) == body(p):
                p["same_as"] = q["key"]
                q["keys"].append(p["key"])
                break


def _usage_for(st: Store, p: dict, activations: list, home: str) -> dict:
    since, until = p["from"].isoformat(), p["to"].isoformat()
    tools = _tools(st, since, until)
    # The chart starts near the first captured day of a long period rather than at its empty start.
    start = p["from"]
    if (p["to"] - p["from"]).days > 13:
        first = st.rows("SELECT min(date) AS d FROM usage_daily WHERE date >= ? AND date <= ?", [since, until])
        if first and first[0]["d"]:
            start = max(p["from"], min(date.fromisoformat(first[0]["d"]), p["to"] - timedelta(days=13)))
    skills = _skill_usage(activations, since, until)
    days = (p["to"] - start).days + 1
    tool_days: dict[str, dict[str, int]] = defaultdict(dict)
    for r in st.rows(
        "SELECT tool, date, sum(calls) AS n FROM tools_daily WHERE date >= ? AND date <= ? GROUP BY tool, date",
        [start.isoformat(), until],
    ):
        tool_days[r["tool"]][r["date"]] = r["n"] or 0
    skill_days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for a in activations:
        if a.date and start.isoformat() <= a.date <= until:
            skill_days[a.name][a.date] += 1
    for t in tools:
        t["trend"] = _trend(tool_days.get(t["tool"], {}), start, days)
    for sk in skills.values():
        sk["trend"] = _trend(skill_days.get(sk["skill"], {}), start, days)
    return {
        "key": p["key"],
        "label": p["label"],
        "since": since,
        "until": until,
        "days": (p["to"] - p["from"]).days + 1,
        "totals": _period(st, p["from"], p["to"]),
        "daily": _chart_buckets(st, start, p["to"]),
        "by_model": _by_model(st, since, until),
        "by_project": _by_project(st, since, until, home),
        "tools": tools,
        "mcp": _mcp(st, since, until, tools),
        "subagents": _subagents(st, since, until),
        "skills": sorted(skills.values(), key=lambda r: (-(r["activations"] or 0), r["skill"] or "")),
    }


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


def _fold_bulk_adds(changes: list[dict], at_least: int = 4) -> list[dict]:
    """Many skills added by one scan (the first, or a new folder scanned) read as one row, not a screenful."""
    added: dict[str, list[dict]] = defaultdict(list)
    for c in changes:
        if c.get("change") == "added":
            added[c.get("at") or ""].append(c)
    out: list[dict] = []
    for c in changes:
        group = added.get(c.get("at") or "") if c.get("change") == "added" else None
        if not group or len(group) < at_least:
            out.append(c)
        elif c is group[0]:
            names = sorted(x.get("name") or "" for x in group)
            out.append(
                {
                    "skill_id": None,
                    "name": f"{len(group)} skills",
                    "change": "added",
                    "at": c.get("at"),
                    "detail": ", ".join(names),
                }
            )
    return out


def _group_issues(findings: list[dict]) -> list[dict]:
    """Top issues as cards: findings of one rule, severity and fix across several skills share a card."""
    cards: dict[tuple, dict] = {}
    for f in findings:
        key = (f["severity"], tuple(f.get("rules") or [f.get("rule")]), f.get("fix") or "")
        card = cards.get(key)
        if card is None:
            cards[key] = {**f, "skills": [f.get("skill_name") or "(workspace)"], "count": 1}
        else:
            card["skills"].append(f.get("skill_name") or "(workspace)")
            card["count"] += 1
    return list(cards.values())


def gather(
    db: sqlite_utils.Database,
    *,
    now: datetime | None = None,
    since: date | None = None,
    until: date | None = None,
    never_used_days: int = 30,
    session_limit: int | None = None,
    demo: bool = False,
    home: str | None = None,
    org: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report as plain data (JSON-serialisable). `since`/`until` make the period shown first."""
    now = now or datetime.now(UTC)
    today = now.astimezone().date()
    home = home if home is not None else str(Path.home())
    st = Store(db)
    data_range = _data_range(st)
    choices, default = _periods(today, data_range, since, until)
    activations = _activations(st)
    periods = [_usage_for(st, p, activations, home) for p in choices]
    _alias_identical(periods)
    this_week = _period(st, today - timedelta(days=6), today)
    last_week = _period(st, today - timedelta(days=13), today - timedelta(days=7))
    all_time = next(p["totals"] for p in periods if p["key"] == "all")
    last_session = st.rows("SELECT max(last_date) AS d FROM sessions")
    usage = {
        "periods": periods,
        "default": default,
        "range": {"from": data_range[0].isoformat(), "to": data_range[1].isoformat()} if data_range else None,
        "all_time": all_time,
        "last_session": last_session[0]["d"] if last_session and last_session[0]["d"] else None,
        "this_week": this_week,
        "last_week": last_week,
    }
    days = 30
    # Skills, locations, manifests, changes and the analysis: empty sections until those tables exist.
    inv = adapters.inventory(st)
    ana = adapters.analysis(st)
    skill_use = _skill_usage(activations)

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
        s["findings"] = merge(findings_by_skill.get(sid, []))
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
        s["all_keys"] = s.pop("use_keys", None) or [s["name"]]

    installed_keys = {k for s in inv["skills"] for k in s.get("all_keys") or [s["name"]]}
    never_used_rows = [
        {
            "skill": s["name"],
            "activations": 0,
            "sessions": 0,
            "last_used": None,
            "installed": True,
            "never_used": True,
            "skill_id": s["id"],
        }
        for s in inv["skills"]
        if s["never_used"]
    ]
    for p in periods:
        for r in p["skills"]:
            r["installed"] = r["skill"] in installed_keys or not inv["available"]
            r["never_used"] = False
        p["skills"] += never_used_rows
    # All-time activity per skill, as before periods existed (other consumers read it here).
    usage["skills"] = next(p["skills"] for p in periods if p["key"] == "all")

    # Recently changed: the scan's own diffs, then skills whose files or git history moved in the window.
    changes = list(inv["changes"])
    changed_ids = {c.get("skill_id") for c in changes}
    for s in inv["skills"]:
        if s["days_since_change"] is None or s["days_since_change"] > days or not s.get("git"):
            continue
        if s["id"] in changed_ids:  # the scan already lists it (added, changed): once is enough
            continue
        g = s["git"]
        if g.get("last_commit"):
            detail = f"last commit {g['last_commit']}"
        elif g.get("commits") == 0:
            detail = "not committed yet"
        else:  # outside any repository: git has nothing to say
            detail = "files changed"
        if g.get("commits"):
            detail += f" · {g['commits']} commit{'s' if g['commits'] != 1 else ''}"
        if g.get("contributors"):
            detail += " · " + ", ".join(g["contributors"][:3])
        changes.append(
            {"skill_id": s["id"], "name": s["name"], "change": "edited", "at": s["last_changed"], "detail": detail}
        )
    changes.sort(key=lambda c: c.get("at") or "", reverse=True)
    changes = _fold_bulk_adds(changes)
    first_path = {s["id"]: (s["locations"][0]["path"] if s.get("locations") else None) for s in inv["skills"]}
    for g in ana["duplicate_groups"]:
        for m in g["skills"]:
            m["path"] = first_path.get(m["id"])

    names = {s["id"]: s["name"] for s in inv["skills"]}
    for f in ana["findings"] + inv.get("scan_findings", []):
        f.setdefault("skill_name", names.get(f.get("skill_id") or "", f.get("skill_id")))
    # Each problem once, however many phases saw it: `analyze` counts the same list.
    findings = merge(ana["findings"] + inv.get("scan_findings", []))
    top = _group_issues(findings)
    sev_counts = counts(findings)
    scores = [s["score"] for s in inv["skills"] if isinstance(s.get("score"), int | float)]
    agents = sorted({a for s in inv["skills"] for a in s.get("agents", [])})
    sessions = _sessions(st, session_limit)
    for x in sessions:
        x["short"] = short_project(x.get("project"), x.get("git_repo"), home)
    health = {
        "skills": len(inv["skills"]),
        "locations": sum(len(s.get("locations", [])) for s in inv["skills"]),
        "agents": agents,
        "avg_score": round(sum(scores) / len(scores)) if scores else None,
        "low_scores": sum(1 for x in scores if x < 60),
        "findings": len(findings),
        "by_severity": sev_counts,
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
            "demo": demo,
        },
        "org": org,
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

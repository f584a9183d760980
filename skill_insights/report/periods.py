"""The usage half of the report: capture totals per period (tokens, cost, tools, skills, MCP, subagents) and
the sessions list, read from the capture tables.

Reads only SQLite; a capture table mid-migration gives an empty usage section rather than no report.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from skill_insights.report.tables import Store, json_or
from skill_insights.usage import TOKEN_FIELDS


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


def period_totals(st: Store, start: date, end: date) -> dict:
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


def read_activations(st: Store) -> list:
    from skill_insights.store.queries import skill_activations

    try:
        return skill_activations(st.db)
    except sqlite3.Error:  # a capture table mid-migration: no usage section rather than no report
        return []


def skill_usage(activations: list, since: str | None = None, until: str | None = None) -> dict[str, dict]:
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


def read_date_range(st: Store) -> tuple[date, date] | None:
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


def period_choices(
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


def alias_identical(periods: list[dict]) -> None:
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


def usage_for(st: Store, p: dict, activations: list, home: str) -> dict:
    since, until = p["from"].isoformat(), p["to"].isoformat()
    tools = _tools(st, since, until)
    # The chart starts near the first captured day of a long period rather than at its empty start.
    start = p["from"]
    if (p["to"] - p["from"]).days > 13:
        first = st.rows("SELECT min(date) AS d FROM usage_daily WHERE date >= ? AND date <= ?", [since, until])
        if first and first[0]["d"]:
            start = max(p["from"], min(date.fromisoformat(first[0]["d"]), p["to"] - timedelta(days=13)))
    skills = skill_usage(activations, since, until)
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
        "totals": period_totals(st, p["from"], p["to"]),
        "daily": _chart_buckets(st, start, p["to"]),
        "by_model": _by_model(st, since, until),
        "by_project": _by_project(st, since, until, home),
        "tools": tools,
        "mcp": _mcp(st, since, until, tools),
        "subagents": _subagents(st, since, until),
        "skills": sorted(skills.values(), key=lambda r: (-(r["activations"] or 0), r["skill"] or "")),
    }


def read_sessions(st: Store, limit: int | None = None) -> list[dict]:
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

"""Everything the report shows, gathered from the store into one plain dict.

Reads only SQLite (never a transcript). The capture tables always exist; the inventory and analysis tables
arrive with their own migrations, so every reader here checks what is there and returns an empty section
when it is not: a report on a capture-only store is still a complete page. The usage per period and the
sessions are read in `periods`; here the skills meet their findings, usage and changes, and all is assembled.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from skill_insights import __version__
from skill_insights.analyzers.problems import counts, merge
from skill_insights.report import adapters
from skill_insights.report.periods import (
    alias_identical,
    period_choices,
    period_totals,
    read_activations,
    read_date_range,
    read_sessions,
    short_project,
    skill_usage,
    usage_for,
)
from skill_insights.report.sources import sources_section
from skill_insights.report.tables import Store

SEVERITIES = ("critical", "error", "high", "warning", "medium", "info", "low")
# Severity rank for ordering: lower is worse. Unknown severities sort with "info".
SEV_RANK = {"critical": 0, "error": 1, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3}


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
    data_range = read_date_range(st)
    choices, default = period_choices(today, data_range, since, until)
    activations = read_activations(st)
    periods = [usage_for(st, p, activations, home) for p in choices]
    alias_identical(periods)
    this_week = period_totals(st, today - timedelta(days=6), today)
    last_week = period_totals(st, today - timedelta(days=13), today - timedelta(days=7))
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
    skill_use = skill_usage(activations)

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
    sessions = read_sessions(st, session_limit)
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

"""The report's "Sources" section and `usage sources`: what every plugin, marketplace, tile and scope brings
(skills, agents, commands, MCP servers), what of it is used, and what it costs in context on every session.

Reads the store only: captured events and the newest stored inventory, joined by `analyzers.attribution`.
"""

from __future__ import annotations

import time
from typing import Any

from skill_insights.analyzers.attribution import KINDS, sources_doc
from skill_insights.collectors.skills.store import latest_inventory


def usage_sources(
    db: Any,
    *,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    by_day: bool = False,
    now: float | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """`usage sources --json`."""
    return sources_doc(
        db, latest_inventory(db), since=since, until=until, kind=kind, by_day=by_day, now=now, project=project
    )


def _tokens(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def sources_table(doc: dict[str, Any]) -> list[str]:
    """`usage sources` as text lines."""
    rows = doc["rows"]
    if not doc["inventory"]:
        out = ["no inventory yet: run `skill-insights scan` (every name is `unknown` until then)"]
    else:
        out = []
    if not rows:
        return [*out, "no activations captured and nothing installed"]
    day = "date" in rows[0]
    head = f"{'date':<11}" if day else ""
    out.append(
        f"{head}{'kind':<8} {'name':<34} {'source':<30} {'uses':>6} {'errors':>6} {'sessions':>8} "
        f"{'30 days':>7} {'tokens':>9} {'ctx/session':>11}"
    )
    for r in rows:
        lead = f"{r['date']:<11}" if day else ""
        ctx = "-" if r["always_loaded_tokens"] is None else f"~{r['always_loaded_tokens']}"
        out.append(
            f"{lead}{r['kind']:<8} {r['name'][:34]:<34} {r['source'][:30]:<30} {r['invocations']:>6} "
            f"{r['errors']:>6} {r['sessions']:>8} {r['uses_30d']:>7} {_tokens(r['tokens']):>9} {ctx:>11}"
        )
    al = doc["always_loaded"]
    out.append(
        f"always loaded: ~{al['tokens']} tokens per session from installed skills, agents and commands; "
        "MCP tool schemas: unknown"
    )
    for src in al["by_source"]:
        n = src["items"]
        out.append(
            f"  {src['source']}: ~{src['always_loaded_tokens']} tokens per session from {n} item{'s' if n != 1 else ''}"
        )
    for n in doc["never_used"]:
        out.append(f"never used: {n['kind']} {n['name']} ({n['source']}): {n['note']}")
    return out


def sources_section(db: Any, now: float | None = None) -> dict[str, Any]:
    """The "Sources" section's data: per source, per kind, what is installed, used and costs in context; the
    never-used list over all four kinds; the MCP servers with their uses."""
    now = time.time() if now is None else now
    try:
        doc = usage_sources(db, now=now)
    except Exception as e:  # a store without capture tables yet, or an inventory of another shape: no section
        import sqlite3

        if not isinstance(e, (sqlite3.Error, KeyError, TypeError, ValueError)):
            raise
        return {
            "available": False,
            "inventory": False,
            "sources": [],
            "never_used": [],
            "mcp": [],
            "always_loaded_tokens": 0,
        }
    groups: dict[str, dict[str, Any]] = {}
    for r in doc["rows"]:
        if r["source"] == "builtin" or r["kind"] == "tool":
            continue
        g = groups.setdefault(
            r["source"],
            {
                "source": r["source"],
                "always_loaded_tokens": 0,
                "invocations": 0,
                "tokens": 0,
                "kinds": {k: {"installed": 0, "used": 0, "always_loaded_tokens": 0} for k in KINDS if k != "tool"},
            },
        )
        k = g["kinds"][r["kind"]]
        if r["installed"]:
            k["installed"] += 1
        if r["invocations"]:
            k["used"] += 1
        k["always_loaded_tokens"] += r["always_loaded_tokens"] or 0
        g["always_loaded_tokens"] += r["always_loaded_tokens"] or 0
        g["invocations"] += r["invocations"]
        g["tokens"] += r["tokens"]
    sources = sorted(groups.values(), key=lambda g: (g["source"] == "unknown", -g["always_loaded_tokens"], g["source"]))
    items = [r for r in doc["rows"] if r["kind"] != "tool" and r["source"] != "builtin"]
    return {
        "available": doc["inventory"] or bool(items),
        "inventory": bool(doc["inventory"]),
        "always_loaded_tokens": doc["always_loaded"]["tokens"],
        "method": doc["always_loaded"]["method"],
        "sources": sources,
        "items": items,
        "never_used": doc["never_used"],
        "mcp": [r for r in doc["rows"] if r["kind"] == "mcp"],
        "mcp_note": doc["mcp_schema_cost"],
    }

"""What the usage commands print in a terminal: `usage` tables, `session show`, and the rich console they go to."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill_insights.usage import blocks_for_display, fmt_duration, short_model

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

EMPTY_USAGE = (
    "nothing captured yet: run `skill-insights ingest` to read Claude Code's history, or "
    "`skill-insights install` to capture from now on"
)
NO_MATCH = "no usage matches these filters (without --since, --until and --project: all of it)"
# The column that names a row, per `usage` period.
KEYS = {"daily": "date", "weekly": "week", "monthly": "month", "session": "session_id", "blocks": "start"}


def console() -> Console:
    """A rich console for tables; a reader that goes away (`| head`) raises BrokenPipeError, which the CLI
    turns into a quiet exit."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich's own exits 1
            raise BrokenPipeError

    # Piped output is not cut to 80 columns: a table that truncates numbers is worse than a wide one.
    return _Console(width=None if sys.stdout.isatty() else 160)


def fmt_cost(v: float | None) -> str:
    # Tables show cents; `--json` keeps full precision.
    return "n/a" if v is None else f"${v:,.2f}"


def _wall(row: dict[str, Any]) -> float | None:
    try:
        a = datetime.fromisoformat(str(row["started_at"]).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(row["ended_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return (b - a).total_seconds()


def usage_view(
    doc: dict[str, Any], period: str, tz: Any, timezone: str | None, filtered: bool
) -> tuple[Table, str | None]:
    """The table of a `usage PERIOD` document, and what to say on stderr first when it has no rows."""
    if period == "blocks":
        doc, title, empty = blocks_for_display(doc, tz), "Claude Code usage, 5-hour blocks", EMPTY_USAGE
    else:
        title = f"Claude Code usage, {period}" + (f" ({timezone})" if timezone else "")
        empty = NO_MATCH if filtered else EMPTY_USAGE
    return usage_table(doc, KEYS[period], title), None if doc["rows"] else empty


def usage_table(doc: dict[str, Any], key: str, title: str) -> Table:
    from rich.table import Table

    sessions = key == "session_id"
    all_models = sorted({m for r in doc["rows"] for m in r["models"]})
    table = Table(title=title)
    lead = [key, "date", "project", "duration"] if sessions else [key]
    cols = [*lead, "models", "input", "output", "cache write", "cache read", "total", "cost"]
    for c in cols:
        table.add_column(c, justify="left" if c in (*lead, "models") else "right")
    if sessions:
        # report.data brings sqlite-utils, which costs more to import than a usage query: only for sessions.
        from skill_insights.report.data import short_project
    for r in doc["rows"]:
        extra = []
        if sessions:
            extra = [
                (r.get("last_date") or (r.get("started_at") or "")[:10]) or "–",
                short_project(r.get("project"), r.get("git_repo"), str(Path.home())),
                fmt_duration(_wall(r)),
            ]
        table.add_row(
            str(r[key])[: 8 if sessions else None],
            *extra,
            ", ".join(short_model(m, all_models) for m in r["models"]),
            *_token_cells(r),
            fmt_cost(r["cost_usd"]),
        )
    t = doc["totals"]
    table.add_row("total", *([""] * (len(lead) - 1)), "", *_token_cells(t), fmt_cost(t["cost_usd"]), style="bold")
    return table


def _token_cells(r: dict[str, Any]) -> list[str]:
    keys = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "total_tokens")
    return [f"{r[k]:,}" for k in keys]


def session_lines(stats: dict[str, Any]) -> list[str]:
    """`session show`: models, tokens, cost, tools, skills, subagents and time of one session."""
    lines = [
        f"session   {stats['session_id']}",
        f"project   {stats['project']}  ({stats['git_repo'] or 'no git remote'}, {stats['git_branch']})",
        f"time      {stats['started_at']} → {stats['ended_at']}  "
        f"wall {stats['duration_seconds']:.0f}s, active {stats['active_seconds']:.0f}s",
        f"messages  {stats['messages']['user']} user, {stats['messages']['assistant']} assistant",
        f"tokens    {stats['total_tokens']:,}  cost {fmt_cost(stats['estimated_cost_usd'])}",
    ]
    lines += [f"  {m}: {v['total_tokens']:,} tokens, {fmt_cost(v['cost_usd'])}" for m, v in stats["models"].items()]
    lines += [
        f"side calls  {m}: {v['total_tokens']:,} tokens, {fmt_cost(v['cost_usd'])} "
        "(in Claude Code's ledger, not in the transcript; counted above)"
        for m, v in stats.get("side_calls", {}).items()
    ]
    if stats["tools"]:
        lines.append(
            "tools     "
            + ", ".join(
                f"{k} ×{v['calls']}" + (f" ({v['errors']} errors)" if v["errors"] else "")
                for k, v in stats["tools"].items()
            )
        )
    if stats["skills_invoked"]:
        lines.append("skills    " + ", ".join(f"{k} ×{v}" for k, v in stats["skills_invoked"].items()))
    lines += [
        f"subagent  {sa['type']} ({sa['agent_id'] or '?'}): {sa['total_tokens']:,} tokens, {fmt_cost(sa['cost_usd'])}"
        for sa in stats["subagents"]
    ]
    if stats["mcp_calls"]:
        lines.append("mcp       " + ", ".join(f"{s}: {sum(t.values())}" for s, t in stats["mcp_calls"].items()))
    if stats["slash_commands"]:
        lines.append("commands  " + ", ".join(f"{k} ×{v}" for k, v in stats["slash_commands"].items()))
    return lines

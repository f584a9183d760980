"""Markdown for GitHub comments (a session's report, the summary) and reading their JSON back. Pure.

Everything that comes from a transcript, a repository or a skill (names, branches, commit subjects) is
escaped: it may hold Markdown, HTML, `@mentions` or a fence that would end the JSON block early.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SESSION_MARKER = "<!-- SESSION:{short} -->"
SUMMARY_MARKER = "<!-- SESSION_SUMMARY -->"
SESSION_JSON_SUMMARY = "Session Data (JSON)"
SUMMARY_JSON_SUMMARY = "Summary Data (JSON)"
_MARKER = re.compile(r"\A\s*<!-- SESSION:([0-9A-Za-z-]{1,64}) -->")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~])")
_JSON_BLOCK = "<details><summary>{title}</summary>\n\n```json\n"


def md(text: object) -> str:
    """Text safe inside a Markdown table cell or a line: no markup, no HTML, no mentions, no line breaks."""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = s.replace("@", "&#64;")
    return re.sub(r"[\r\n\t]+", " ", s)


def safe_json(doc: Any) -> str:
    """JSON with every backtick, angle bracket, ampersand and at sign written as a \\u escape: it cannot end its
    fence, open an HTML tag, mention anyone or be read as anything but the document."""
    text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=True)
    return (
        text.replace("`", "\\u0060")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("@", "\\u0040")
    )


def session_marker(short: str) -> str:
    return SESSION_MARKER.format(short=short)


def marker_of(body: str) -> str | None:
    """The short session id a comment body is marked with (first line), else None."""
    m = _MARKER.match(body or "")
    return m.group(1) if m else None


def is_summary(body: str) -> bool:
    return (body or "").lstrip().startswith(SUMMARY_MARKER)


class BadJSONBlock(ValueError):
    """A marked comment whose JSON block is missing or is not valid JSON."""


def json_block(body: str, title: str = SESSION_JSON_SUMMARY) -> Any:
    head = _JSON_BLOCK.format(title=title)
    start = body.find(head)
    if start < 0:
        raise BadJSONBlock(f"no '{title}' block")
    start += len(head)
    end = body.find("\n```", start)
    if end < 0:
        raise BadJSONBlock("its JSON block is not closed")
    try:
        return json.loads(body[start:end])
    except ValueError as e:
        raise BadJSONBlock(f"its JSON block is not valid JSON ({e})") from None


def money(v: float | None) -> str:
    return "n/a" if v is None else f"${cents(v)}"


def cents(v: float) -> Decimal:
    return Decimal(repr(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def count(n: int) -> str:
    return f"{n:,}"


def compact(n: int) -> str:
    """12,345,678 → 12.3M: the cache columns run to billions."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


def duration(minutes: float) -> str:
    total = round(minutes)
    h, m = divmod(total, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m"


def _short_model(name: str) -> str:
    return name.removeprefix("claude-")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


# GitHub refuses a comment body over 65,536 characters.
MAX_COMMENT_CHARS = 65_536


class CommentTooLong(ValueError):
    """Even without its diagrams, a report is longer than GitHub takes."""


def session_comment(stats: dict[str, Any], diagrams: dict[str, str] | None = None) -> str:
    """The report of one session, as a comment body (first line: its marker). Diagrams that would take it
    over GitHub's limit are left out (the JSON, which the summary reads, never is)."""
    body = _session_comment(stats, diagrams)
    if len(body) > MAX_COMMENT_CHARS and diagrams:
        body = _session_comment(stats, None, dropped=len(diagrams))
    if len(body) > MAX_COMMENT_CHARS:
        raise CommentTooLong(
            f"the report of session {stats['session_id_short']} is {len(body):,} characters, "
            f"over GitHub's {MAX_COMMENT_CHARS:,}"
        )
    return body


def _session_comment(stats: dict[str, Any], diagrams: dict[str, str] | None, dropped: int = 0) -> str:
    s = stats
    short = s["session_id_short"]
    models = s["models"]
    primary = max(models, key=lambda m: models[m]["output_tokens"] + models[m]["input_tokens"], default=None)
    skills = [k["skill"] for k in s["skills_invoked"]]
    tldr = [
        f"Session `{md(short)}`",
        md(_short_model(primary)) if primary else "no model",
        duration(s["duration_minutes"]),
        money(s["estimated_cost_usd"]),
        f"{len(s['commits'])} commit{'s' if len(s['commits']) != 1 else ''}",
    ]
    if skills:
        tldr.append(", ".join(md(k) for k in skills))
    lines = [
        session_marker(short),
        "## Claude Code Session Report",
        "",
        "**TL;DR:** " + " | ".join(tldr),
        "",
        f"**Session:** `{md(short)}` | **Branch:** {md(s['branch']) if s['branch'] else 'n/a'} | "
        f"**Duration:** {duration(s['duration_minutes'])}",
        "",
    ]

    lines += ["### Token Usage", ""]
    rows = [
        [
            md(name),
            count(m["input_tokens"]),
            count(m["output_tokens"]),
            compact(m["cache_creation_tokens"]),
            compact(m["cache_read_tokens"]),
            money(m["cost_usd"]),
        ]
        for name, m in models.items()
    ]
    t = s["total_tokens"]
    rows.append(
        [
            "**Total**",
            f"**{count(t['input'])}**",
            f"**{count(t['output'])}**",
            f"**{compact(t['cache_creation'])}**",
            f"**{compact(t['cache_read'])}**",
            f"**{money(s['estimated_cost_usd'])}**",
        ]
    )
    lines += [*_table(["Model", "Input", "Output", "Cache Create", "Cache Read", "Est. Cost"], rows), ""]

    if s["subagents"]:
        lines += ["### Subagents", ""]
        lines += [
            *_table(
                ["ID", "Type", "Model", "Input", "Output", "Est. Cost"],
                [
                    [
                        md(a["id"] or "?"),
                        md(a["type"] or "?"),
                        md(a["model"] or "?"),
                        count(a["tokens"]["input"]),
                        count(a["tokens"]["output"]),
                        money(a["cost_usd"]),
                    ]
                    for a in s["subagents"]
                ],
            ),
            "",
        ]

    lines += ["### Skills & Tools", ""]
    if s["skills_invoked"]:
        lines += [
            *_table(
                ["Skill", "Invocations", "Status", "Tokens after", "Est. Cost"],
                [
                    [
                        md(k["skill"]),
                        str(k["count"]),
                        k["status"],
                        count(sum(k["tokens"].values())),
                        money(k["cost_usd"]),
                    ]
                    for k in s["skills_invoked"]
                ],
            ),
            "",
        ]
    else:
        lines += ["No skill was invoked.", ""]
    if s["tools"]:
        lines += ["<details><summary>Tool Usage</summary>", ""]
        lines += _table(
            ["Tool", "Count", "Errors"],
            [[md(name), str(n), str(s["tool_errors"].get(name, 0))] for name, n in s["tools"].items()],
        )
        lines += ["", "</details>", ""]

    for skill, src in (diagrams or {}).items():
        lines += [f"### Workflow: {md(skill)}", "", "```mermaid", _fence_safe(src), "```", ""]
    if dropped:
        lines += [f"{dropped} workflow diagram(s) left out: the comment would be longer than GitHub takes.", ""]

    if s["problems_faced"]:
        lines += ["### Problems Faced", ""]
        lines += [
            *_table(
                ["Problem", "Resolved", "Iterations"],
                [
                    [md(p["description"]), "yes" if p["resolved"] else "no", str(p["iterations"])]
                    for p in s["problems_faced"]
                ],
            ),
            "",
        ]

    lines += ["### Commits", ""]
    if s["commits"]:
        lines += [f"- `{md(c['sha'][:7])}` - {md(c['message'])}" for c in s["commits"]]
    else:
        lines += ["No commit in the session's repository while it ran."]
    lines += ["", _JSON_BLOCK.format(title=SESSION_JSON_SUMMARY) + safe_json(stats), "```", "", "</details>", ""]
    return "\n".join(lines)


def _fence_safe(src: str) -> str:
    # A line of backticks inside the diagram would end the fence and let the rest render as Markdown.
    return "\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("```", "~~~")))


def aggregate(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary's numbers, from the session documents alone (never an earlier summary)."""
    models: dict[str, dict[str, Any]] = {}
    for s in sessions:
        for name, m in s.get("models", {}).items():
            acc = models.setdefault(
                name,
                {
                    "messages": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation_tokens": 0,
                    "cache_read_tokens": 0,
                    "cost_usd": 0.0,
                },
            )
            for k in ("messages", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens"):
                acc[k] += m.get(k, 0)
            acc["cost_usd"] = (
                None if acc["cost_usd"] is None or m.get("cost_usd") is None else acc["cost_usd"] + m["cost_usd"]
            )
    costs = [s.get("estimated_cost_usd") for s in sessions]
    total_cost = sum(c for c in costs if c is not None)
    tokens = {
        k: sum(s.get("total_tokens", {}).get(k, 0) for s in sessions)
        for k in ("input", "output", "cache_creation", "cache_read")
    }
    return {
        "sessions": len(sessions),
        "session_ids": [s.get("session_id") for s in sessions],
        "total_cost_usd": round(total_cost, 6),
        "unpriced_sessions": sum(c is None for c in costs),
        "total_commits": sum(len(s.get("commits", [])) for s in sessions),
        "total_duration_minutes": round(sum(s.get("duration_minutes", 0) for s in sessions), 2),
        "total_tokens": tokens,
        "models": {
            k: {**v, "cost_usd": None if v["cost_usd"] is None else round(v["cost_usd"], 6)}
            for k, v in sorted(models.items())
        },
    }


def summary_comment(sessions: list[dict[str, Any]], skipped: list[str] | None = None) -> str:
    sessions = sorted(sessions, key=lambda s: (s.get("started_at") or "", s.get("session_id") or ""))
    agg = aggregate(sessions)
    shown_costs = [
        cents(s["estimated_cost_usd"]) if s.get("estimated_cost_usd") is not None else None for s in sessions
    ]
    cost_sum = sum((c for c in shown_costs if c is not None), Decimal("0.00"))
    lines = [
        SUMMARY_MARKER,
        "## Claude Code Summary",
        "",
        f"**TL;DR:** {agg['sessions']} session{'s' if agg['sessions'] != 1 else ''} | ${cost_sum} total | "
        f"{agg['total_commits']} commit{'s' if agg['total_commits'] != 1 else ''}",
        "",
        f"**Sessions:** {agg['sessions']} | **Total Cost:** ${cost_sum} | **Commits:** {agg['total_commits']}",
        "",
    ]
    lines += ["### Aggregate Token Usage", ""]
    lines += [
        *_table(
            ["Model", "Input", "Output", "Cache Create", "Cache Read", "Est. Cost"],
            [
                [
                    md(name),
                    compact(m["input_tokens"]),
                    compact(m["output_tokens"]),
                    compact(m["cache_creation_tokens"]),
                    compact(m["cache_read_tokens"]),
                    money(m["cost_usd"]),
                ]
                for name, m in agg["models"].items()
            ],
        ),
        "",
    ]
    lines += ["### Session History", ""]
    lines += [
        *_table(
            ["#", "Session", "Duration", "Cost", "Skills", "Commits"],
            [
                [
                    str(i),
                    f"`{md(s.get('session_id_short', '?'))}`",
                    duration(s.get("duration_minutes", 0)),
                    money(s.get("estimated_cost_usd")),
                    ", ".join(md(k["skill"]) for k in s.get("skills_invoked", [])) or "-",
                    str(len(s.get("commits", []))),
                ]
                for i, s in enumerate(sessions, 1)
            ],
        ),
        "",
    ]
    lines += ["### Totals Verification", ""]
    parts = " + ".join(f"${c}" if c is not None else "n/a" for c in shown_costs) or "0"
    lines.append(f"- Sum of session costs: {parts} = **${cost_sum}**")
    commits = [len(s.get("commits", [])) for s in sessions]
    lines.append(f"- Sum of session commits: {' + '.join(map(str, commits)) or '0'} = **{sum(commits)}**")
    tokens = [sum(s.get("total_tokens", {}).values()) for s in sessions]
    lines.append(f"- Sum of session tokens: {' + '.join(f'{t:,}' for t in tokens) or '0'} = **{sum(tokens):,}**")
    if skipped:
        lines += ["", f"{len(skipped)} session comment(s) skipped: their JSON block could not be read."]
    lines += ["", _JSON_BLOCK.format(title=SUMMARY_JSON_SUMMARY) + safe_json(agg), "```", "", "</details>", ""]
    return "\n".join(lines)


def stats_lines(data: dict[str, Any]) -> list[str]:
    """`session stats` for a person: the session, its time, tokens and cost, skills, subagents, commits, problems."""
    lines = [
        f"session   {data['session_id']}  ({data['project'] or '?'}, {data['branch'] or 'no branch'})",
        f"time      {data['started_at']} → {data['ended_at']}  {duration(data['duration_minutes'])}",
        f"tokens    {sum(data['total_tokens'].values()):,}  cost {money(data['estimated_cost_usd'])}",
    ]
    lines += [
        f"skill     {k['skill']} ×{k['count']} {k['status']}, {sum(k['tokens'].values()):,} tokens after"
        for k in data["skills_invoked"]
    ]
    lines += [
        f"subagent  {a['type']} ({a['id'] or '?'}, {a['model'] or '?'}): {sum(a['tokens'].values()):,} tokens"
        for a in data["subagents"]
    ]
    lines += [f"commit    {c['sha'][:7]} {c['message']}" for c in data["commits"]]
    lines += [f"problem   {p['description']}" for p in data["problems_faced"]]
    return lines


def diagram_blocks(found: dict[str, str]) -> list[str]:
    """`session mermaid`: each skill's workflow diagram as a fenced mermaid block under a comment naming it."""
    return [f"%% workflow of skill {skill}\n```mermaid\n{src}\n```" for skill, src in found.items()]

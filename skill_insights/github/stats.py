"""The per-session stats document, computed from a session's stored facts (pure, apart from `build`'s git
query for the commits)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

import orjson

from skill_insights.github import mermaid
from skill_insights.github.facts import CallFact, ResponseFact, SessionFacts
from skill_insights.github.model import (
    Commit,
    Invocation,
    ModelUsage,
    Problem,
    SessionStats,
    SkillInvocation,
    Subagent,
    Target,
    Tokens,
)

_SHORT_ID = re.compile(r"[^0-9A-Za-z-]")


def short_id(session_id: str) -> str:
    """The first 8 characters of the id, limited to what a comment marker may hold."""
    return _SHORT_ID.sub("", session_id)[:8] or "unknown"


def _ts(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _iso(ts: float, timespec: str = "seconds") -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def project_name(git_repo: str | None, cwd: str | None) -> str | None:
    """`github.com/org/repo` → `org/repo`; without a remote, the folder's name."""
    if git_repo:
        parts = git_repo.split("/")
        if len(parts) >= 3:
            return "/".join(parts[-2:])
        return git_repo
    if cwd:
        return cwd.rstrip("/").rsplit("/", 1)[-1] or None
    return None


def _add(tokens: Tokens, r: ResponseFact) -> None:
    tokens.input += r.input
    tokens.output += r.output
    tokens.cache_creation += r.cache_creation
    tokens.cache_read += r.cache_read


def _round_cost(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def skills_invoked(calls: list[CallFact], responses: list[ResponseFact]) -> list[SkillInvocation]:
    """Each skill invoked, in the main thread or a subagent's: count, status and the tokens from each invocation
    until the next skill invocation of that thread (or the end). A main-thread span counts the subagents'
    responses in it too (their work was started from there); a subagent's span counts its own."""
    threads: dict[str | None, list[CallFact]] = {}
    for c in calls:
        threads.setdefault(c.agent_id, []).append(c)
    spans: dict[str, dict] = {}
    for agent_id, thread in threads.items():
        own = responses if agent_id is None else [r for r in responses if r.agent_id == agent_id]
        _thread_spans(thread, own, spans)
    out = []
    for name, rec in spans.items():
        if rec["failed_calls"] == rec["count"]:
            status: Literal["pass", "errors", "failed"] = "failed"
        elif rec["open_errors"]:
            status = "errors"
        else:
            status = "pass"
        out.append(
            SkillInvocation(
                skill=name,
                count=rec["count"],
                status=status,
                tokens=rec["tokens"],
                cost_usd=None if rec["unpriced"] else _round_cost(rec["cost"]),
                invocations=sorted(rec["invocations"], key=lambda i: i.at or ""),
            )
        )
    return out


def _thread_spans(thread: list[CallFact], responses: list[ResponseFact], spans: dict[str, dict]) -> None:
    invocations = [(i, c, c.skill) for i, c in enumerate(thread) if c.skill]
    for n, (i, call, skill) in enumerate(invocations):
        start = call.ts
        nxt = invocations[n + 1][1].ts if n + 1 < len(invocations) else None
        rec = spans.setdefault(
            skill,
            {
                "count": 0,
                "failed_calls": 0,
                "open_errors": 0,
                "tokens": Tokens(),
                "cost": 0.0,
                "unpriced": False,
                "invocations": [],
            },
        )
        one = Invocation(
            at=_iso(start, "milliseconds") if start is not None else None,
            agent_id=call.agent_id,
            failed=call.failed,
            tokens=Tokens(),
        )
        rec["invocations"].append(one)
        rec["count"] += 1
        rec["failed_calls"] += call.failed
        end_index = invocations[n + 1][0] if n + 1 < len(invocations) else len(thread)
        if not call.failed:
            rec["open_errors"] += sum(p.resolved is False for p in problems(thread[i + 1 : end_index]))
        if start is None:
            continue
        for r in responses:
            if r.ts is None or r.ts <= start or (nxt is not None and r.ts > nxt):
                continue
            _add(rec["tokens"], r)
            _add(one.tokens, r)
            if r.cost_usd is None:
                rec["unpriced"] = True
            else:
                rec["cost"] += r.cost_usd


def problems(calls: Iterable[CallFact]) -> list[Problem]:
    """Runs of failed calls of one tool (per thread) and how many calls it took until one succeeded."""
    out: list[Problem] = []
    open_runs: dict[tuple[str | None, str], dict] = {}

    def close(key: tuple[str | None, str], resolved: bool) -> None:
        run = open_runs.pop(key)
        who = f" (subagent {key[0]})" if key[0] else ""
        failures = run["failures"]
        if resolved:
            text = f"{key[1]} failed {failures}x{who}, then succeeded"
        else:
            text = f"{key[1]} failed {failures}x{who}, never succeeded after"
        out.append(
            Problem(
                description=text,
                tool=key[1],
                resolved=resolved,
                failures=failures,
                iterations=run["calls"],
                retries=run["calls"] - 1 if resolved else None,
            )
        )

    for c in calls:
        key = (c.agent_id, c.tool)
        run = open_runs.get(key)
        if c.failed:
            if run is None:
                open_runs[key] = {"failures": 1, "calls": 1}
            else:
                run["failures"] += 1
                run["calls"] += 1
        elif run is not None:
            run["calls"] += 1
            close(key, True)
    for key in list(open_runs):
        close(key, False)
    return out


def subagents(facts: SessionFacts) -> list[Subagent]:
    by_agent: dict[str, dict] = defaultdict(
        lambda: {"tokens": Tokens(), "cost": 0.0, "unpriced": False, "models": Counter()}
    )
    for r in facts.responses:
        if r.agent_id is None:
            continue
        rec = by_agent[r.agent_id]
        _add(rec["tokens"], r)
        rec["models"][r.model] += r.input + r.output + r.cache_creation + r.cache_read
        if r.cost_usd is None:
            rec["unpriced"] = True
        else:
            rec["cost"] += r.cost_usd
    by_call = {tool_use_id: agent for agent, (_, tool_use_id) in facts.agent_links.items() if tool_use_id}
    out: list[Subagent] = []
    seen: set[str] = set()

    def one(agent_id: str | None, stype: str | None) -> Subagent:
        rec = by_agent.get(agent_id) if agent_id else None
        if rec is None:
            return Subagent(id=agent_id, type=stype, model=None, tokens=Tokens(), cost_usd=None)
        model = rec["models"].most_common(1)[0][0] if rec["models"] else None
        return Subagent(
            id=agent_id,
            type=stype,
            model=model,
            tokens=rec["tokens"],
            cost_usd=None if rec["unpriced"] else _round_cost(rec["cost"]),
        )

    for call in facts.calls:
        if call.subagent_type is None:
            continue
        agent_id = by_call.get(call.key)
        out.append(one(agent_id, call.subagent_type))
        if agent_id:
            seen.add(agent_id)
    for agent_id in sorted(by_agent):
        if agent_id not in seen:
            out.append(one(agent_id, facts.agent_links.get(agent_id, (None, None))[0]))
    return out


def workflow(facts: SessionFacts) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per invoked skill with a flowchart in its SKILL.md: edges traversed, and those left from a failed step."""
    edges: dict[str, dict[str, int]] = {}
    errors: dict[str, dict[str, int]] = {}
    main = [c for c in facts.calls if c.agent_id is None]
    for skill, text in sorted(facts.skill_md.items()):
        src = mermaid.extract_mermaid(text)
        if src is None:
            continue
        first = next((i for i, c in enumerate(main) if c.skill == skill), None)
        if first is None:
            continue
        chart = mermaid.parse_flowchart(src)
        counts, errs, _ = mermaid.traverse(chart, steps(main[first:]))
        edges[skill] = dict(sorted(counts.items()))
        if errs:
            errors[skill] = dict(sorted(errs.items()))
    return edges, errors


def steps(calls: Iterable[CallFact]) -> list[mermaid.Step]:
    return [mermaid.Step(c.skill or c.tool, c.failed) for c in calls]


def compute(facts: SessionFacts, commits: list[tuple[str, float, str]], target: Target | None = None) -> SessionStats:
    row = facts.row
    models_doc = orjson.loads(row.get("models") or "{}")
    models = {
        name: ModelUsage(
            messages=m.get("responses", 0),
            input_tokens=m.get("input_tokens", 0),
            output_tokens=m.get("output_tokens", 0),
            cache_creation_tokens=m.get("cache_creation_input_tokens", 0),
            cache_read_tokens=m.get("cache_read_input_tokens", 0),
            cost_usd=_round_cost(m.get("cost_usd")),
        )
        for name, m in sorted(models_doc.items())
    }
    tools = Counter(c.tool for c in facts.calls)
    tool_errors = Counter(c.tool for c in facts.calls if c.failed)
    edges, error_edges = workflow(facts)
    return SessionStats(
        session_id=facts.session_id,
        session_id_short=short_id(facts.session_id),
        project=project_name(row.get("git_repo"), row.get("project")),
        branch=row.get("git_branch"),
        target=target,
        started_at=row.get("started_at"),
        ended_at=row.get("ended_at"),
        duration_minutes=round((row.get("wall_seconds") or 0.0) / 60, 2),
        models=models,
        total_tokens=Tokens(
            input=row.get("input_tokens") or 0,
            output=row.get("output_tokens") or 0,
            cache_creation=row.get("cache_creation_input_tokens") or 0,
            cache_read=row.get("cache_read_input_tokens") or 0,
        ),
        estimated_cost_usd=_round_cost(row.get("cost_usd")),
        tools=dict(sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))),
        tool_errors=dict(sorted(tool_errors.items())),
        skills_invoked=skills_invoked(facts.calls, facts.responses),
        subagents=subagents(facts),
        commits=[Commit(sha=sha, message=msg, committed_at=_iso(ts)) for sha, ts, msg in commits],
        problems_faced=problems(facts.calls),
        workflow_edges=edges,
        workflow_error_edges=error_edges,
    )


def build(conn, session_id: str, target: Target | None = None) -> SessionStats | None:
    """Stats of one stored session, with the commits made in its folder's repository while it ran."""
    from skill_insights.collectors.git import commits_between
    from skill_insights.github.facts import session_facts

    facts = session_facts(conn, session_id)
    if facts is None:
        return None
    start, end = _ts(facts.row.get("started_at")), _ts(facts.row.get("ended_at"))
    cwd = facts.row.get("project")
    commits = commits_between(cwd, start, end) if cwd and start is not None and end is not None else []
    return compute(facts, commits, target)


def diagrams(conn, session_id: str) -> dict[str, str]:
    """{skill: annotated mermaid source} for every invoked skill whose SKILL.md holds a flowchart."""
    from skill_insights.github.facts import session_facts

    facts = session_facts(conn, session_id)
    if facts is None:
        return {}
    main = [c for c in facts.calls if c.agent_id is None]
    out: dict[str, str] = {}
    for skill, text in sorted(facts.skill_md.items()):
        src = mermaid.extract_mermaid(text)
        first = next((i for i, c in enumerate(main) if c.skill == skill), None)
        if src is None or first is None:
            continue
        counts, errs, visited = mermaid.traverse(mermaid.parse_flowchart(src), steps(main[first:]))
        out[skill] = mermaid.annotate(src, counts, errs, visited)
    return out

"""Session analytics of a repository's pull requests and issues over a period, read back from their session
comments: `analytics.csv`, `analytics.md` and `dashboard.html` (written by `dashboard.render`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from skill_insights.github import render
from skill_insights.github.client import GitHub, GitHubError
from skill_insights.github.publish import collect_sessions

COLUMNS = (
    "pr_number",
    "target_type",
    "pr_title",
    "pr_author",
    "pr_status",
    "session_id",
    "session_started",
    "session_duration_min",
    "models_used",
    "total_input_tokens",
    "total_output_tokens",
    "total_cache_create",
    "total_cache_read",
    "estimated_cost_usd",
    "commits_count",
    "commit_shas",
    "ci_runs",
    "ci_pass_rate",
    "skills_used",
    "per_skill_tokens",
    "subagent_count",
    "per_subagent_tokens",
    "problems_count",
    "problems_resolved",
    "review_comments",
    "lines_added",
    "lines_removed",
    "time_to_merge_hours",
    "acceptance_status",
)


@dataclass
class Thread:
    """A pull request or issue with session comments."""

    number: int
    kind: str  # "pr" | "issue"
    title: str
    author: str
    status: str  # open | closed | merged
    created_at: str
    sessions: list[dict[str, Any]]
    review_comments: int | None = None
    lines_added: int | None = None
    lines_removed: int | None = None
    hours_to_merge: float | None = None
    ci_runs: int | None = None
    ci_pass_rate: float | None = None


@dataclass
class Extract:
    repo: str
    start: date
    end: date
    threads: list[Thread] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> list[tuple[Thread, dict[str, Any]]]:
        return [(t, s) for t in self.threads for s in t.sessions]


def _day(iso: str | None) -> date | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).date()
    except ValueError:
        return None


def _hours(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    try:
        return round((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600, 2)
    except ValueError:
        return None


def collect(gh: GitHub, repo: str, start: date, end: date, warn: Callable[[str], None] | None = None) -> Extract:
    """Every PR/issue updated since `start` and opened by `end`, with its sessions that started in the period."""
    out = Extract(repo, start, end)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    for item in gh.paginate(
        f"repos/{repo}/issues", {"state": "all", "since": since, "sort": "created", "direction": "asc"}
    ):
        created = _day(item.get("created_at"))
        if created is not None and created > end:
            continue
        found = collect_sessions(gh.issue_comments(repo, item["number"]))
        out.skipped += [f"#{item['number']}: {line}" for line in found.skipped]
        sessions = [s for s in found.sessions if (d := _day(s.get("started_at"))) is None or start <= d <= end]
        if not sessions:
            continue
        is_pr = bool(item.get("pull_request"))
        t = Thread(
            number=item["number"],
            kind="pr" if is_pr else "issue",
            title=str(item.get("title") or ""),
            author=str((item.get("user") or {}).get("login") or ""),
            status=str(item.get("state") or "open"),
            created_at=str(item.get("created_at") or ""),
            sessions=sorted(sessions, key=lambda s: s.get("started_at") or ""),
        )
        if is_pr:
            _pull_facts(gh, repo, t, warn)
        out.threads.append(t)
    for line in out.skipped:
        if warn:
            warn(line)
    return out


def _pull_facts(gh: GitHub, repo: str, t: Thread, warn: Callable[[str], None] | None) -> None:
    try:
        pr = gh.pull(repo, t.number)
    except GitHubError as e:
        if warn:
            warn(f"#{t.number}: pull request details unavailable: {e}")
        return
    if pr.get("merged_at"):
        t.status = "merged"
        t.hours_to_merge = _hours(pr.get("created_at"), pr.get("merged_at"))
    t.review_comments = pr.get("review_comments")
    t.lines_added = pr.get("additions")
    t.lines_removed = pr.get("deletions")
    sha = (pr.get("head") or {}).get("sha")
    if not sha:
        return
    try:
        runs = gh.get(f"repos/{repo}/actions/runs", {"head_sha": sha, "per_page": 100})
    except GitHubError:
        return  # Actions off or not visible to this token: the CI columns stay empty
    items = runs.get("workflow_runs") if isinstance(runs, dict) else None
    if not isinstance(items, list):
        return
    t.ci_runs = int(runs.get("total_count") or len(items))
    done = [r for r in items if r.get("status") == "completed"]
    if done:
        t.ci_pass_rate = round(100 * sum(r.get("conclusion") == "success" for r in done) / len(done), 1)


def _blank(v: object) -> object:
    return "" if v is None else v


def rows(ex: Extract) -> list[dict[str, Any]]:
    out = []
    for t, s in ex.sessions:
        tokens = s.get("total_tokens", {})
        per_skill = {
            k["skill"]: {"in": k["tokens"]["input"], "out": k["tokens"]["output"]} for k in s.get("skills_invoked", [])
        }
        per_sub: dict[str, dict[str, int]] = {}
        for a in s.get("subagents", []):
            acc = per_sub.setdefault(a.get("type") or "?", {"in": 0, "out": 0})
            acc["in"] += a["tokens"]["input"]
            acc["out"] += a["tokens"]["output"]
        problems = s.get("problems_faced", [])
        out.append(
            {
                "pr_number": t.number,
                "target_type": t.kind,
                "pr_title": t.title,
                "pr_author": t.author,
                "pr_status": t.status,
                "session_id": s["session_id"],
                "session_started": _blank(s.get("started_at")),
                "session_duration_min": s.get("duration_minutes", 0),
                "models_used": ",".join(s.get("models", {})),
                "total_input_tokens": tokens.get("input", 0),
                "total_output_tokens": tokens.get("output", 0),
                "total_cache_create": tokens.get("cache_creation", 0),
                "total_cache_read": tokens.get("cache_read", 0),
                "estimated_cost_usd": _blank(s.get("estimated_cost_usd")),
                "commits_count": len(s.get("commits", [])),
                "commit_shas": ";".join(c["sha"] for c in s.get("commits", [])),
                "ci_runs": _blank(t.ci_runs),
                "ci_pass_rate": _blank(t.ci_pass_rate),
                "skills_used": ",".join(k["skill"] for k in s.get("skills_invoked", [])),
                "per_skill_tokens": json.dumps(per_skill, sort_keys=True),
                "subagent_count": len(s.get("subagents", [])),
                "per_subagent_tokens": json.dumps(per_sub, sort_keys=True),
                "problems_count": len(problems),
                "problems_resolved": sum(bool(p.get("resolved")) for p in problems),
                "review_comments": _blank(t.review_comments),
                "lines_added": _blank(t.lines_added),
                "lines_removed": _blank(t.lines_removed),
                "time_to_merge_hours": _blank(t.hours_to_merge),
                "acceptance_status": t.status,
            }
        )
    return out


def _cell(v: object) -> object:
    # A cell a spreadsheet would run as a formula is written as text.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def to_csv(ex: Extract) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows(ex):
        w.writerow({k: _cell(v) for k, v in r.items()})
    return buf.getvalue()


def figures(ex: Extract) -> dict[str, Any]:
    """The numbers the Markdown report and the dashboard share."""
    prs = [t for t in ex.threads if t.kind == "pr"]
    decided = [t for t in prs if t.status in ("merged", "closed")]
    merged = [t for t in prs if t.status == "merged"]
    sessions = [s for _, s in ex.sessions]
    cost = sum(s.get("estimated_cost_usd") or 0.0 for s in sessions)
    pr_cost = sum(s.get("estimated_cost_usd") or 0.0 for t in prs for s in t.sessions)
    hours = [t.hours_to_merge for t in merged if t.hours_to_merge is not None]
    models: dict[str, dict[str, Any]] = {}
    for s in sessions:
        for name, m in s.get("models", {}).items():
            acc = models.setdefault(name, {"sessions": 0, "tokens": 0, "cost_usd": 0.0})
            acc["sessions"] += 1
            acc["tokens"] += (
                m["input_tokens"] + m["output_tokens"] + m["cache_creation_tokens"] + m["cache_read_tokens"]
            )
            acc["cost_usd"] += m.get("cost_usd") or 0.0
    skills: dict[str, dict[str, Any]] = {}
    for s in sessions:
        for k in s.get("skills_invoked", []):
            acc = skills.setdefault(
                k["skill"], {"invocations": 0, "sessions": 0, "tokens": 0, "cost_usd": 0.0, "passed": 0}
            )
            acc["invocations"] += k["count"]
            acc["sessions"] += 1
            acc["tokens"] += sum(k["tokens"].values())
            acc["cost_usd"] += k.get("cost_usd") or 0.0
            acc["passed"] += k["status"] == "pass"
    days: dict[str, int] = {}
    for s in sessions:
        d = _day(s.get("started_at"))
        if d is not None:
            days[d.isoformat()] = days.get(d.isoformat(), 0) + sum(s.get("total_tokens", {}).values())
    return {
        "prs": len(prs),
        "issues": len(ex.threads) - len(prs),
        "sessions": len(sessions),
        "cost_usd": round(cost, 6),
        "commits": sum(len(s.get("commits", [])) for s in sessions),
        "avg_cost_per_pr": round(pr_cost / len(prs), 6) if prs else None,
        "acceptance_rate": round(100 * len(merged) / len(decided), 1) if decided else None,
        "avg_hours_to_merge": round(sum(hours) / len(hours), 2) if hours else None,
        "status_counts": {st: sum(t.status == st for t in prs) for st in ("merged", "closed", "open")},
        "models": dict(sorted(models.items(), key=lambda kv: -kv[1]["tokens"])),
        "skills": dict(sorted(skills.items(), key=lambda kv: (-kv[1]["invocations"], kv[0]))),
        "tokens_by_day": dict(sorted(days.items())),
        "cost_by_thread": [
            (
                f"{'PR' if t.kind == 'pr' else 'issue'} #{t.number}",
                round(sum(s.get("estimated_cost_usd") or 0.0 for s in t.sessions), 6),
            )
            for t in ex.threads
        ],
    }


def _opt(v: float | None, fmt: str) -> str:
    return "n/a" if v is None else fmt.format(v)


def to_markdown(ex: Extract) -> str:
    f = figures(ex)
    md = render.md
    lines = [
        "# Claude Code Analytics Report",
        "",
        f"**Period:** {ex.start.isoformat()} to {ex.end.isoformat()}",
        f"**Repository:** {md(ex.repo)}",
        "",
        "## Summary",
        "",
        "| Metric | Value |",
        "|---|---|",
        f"| PRs with session data | {f['prs']} |",
        f"| Issues with session data | {f['issues']} |",
        f"| Total sessions | {f['sessions']} |",
        f"| Total cost | {render.money(f['cost_usd'])} |",
        f"| Total commits | {f['commits']} |",
        f"| Average cost per PR | {render.money(f['avg_cost_per_pr'])} |",
        f"| PR acceptance rate | {_opt(f['acceptance_rate'], '{:.0f}%')} |",
        f"| Average time to merge | {_opt(f['avg_hours_to_merge'], '{:.1f}h')} |",
        "",
    ]
    lines += [
        "## Per-PR Breakdown",
        "",
        "| Target | Title | Author | Status | Sessions | Cost | Commits | Skills |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in ex.threads:
        cost = sum(s.get("estimated_cost_usd") or 0.0 for s in t.sessions)
        skills = sorted({k["skill"] for s in t.sessions for k in s.get("skills_invoked", [])})
        lines.append(
            f"| {'PR' if t.kind == 'pr' else 'issue'} #{t.number} | {md(t.title)} | {md(t.author)} | "
            f"{md(t.status)} | {len(t.sessions)} | {render.money(cost)} | "
            f"{sum(len(s.get('commits', [])) for s in t.sessions)} | "
            f"{', '.join(md(k) for k in skills) or '-'} |"
        )
    lines += ["", "## Model Usage Distribution", "", "| Model | Sessions | Tokens | Est. Cost |", "|---|---|---|---|"]
    for name, m in f["models"].items():
        lines.append(f"| {md(name)} | {m['sessions']} | {m['tokens']:,} | {render.money(m['cost_usd'])} |")
    lines += [
        "",
        "## Skill Effectiveness",
        "",
        "| Skill | Invocations | Sessions | Passed | Tokens after | Est. Cost |",
        "|---|---|---|---|---|---|",
    ]
    for name, k in f["skills"].items():
        lines.append(
            f"| {md(name)} | {k['invocations']} | {k['sessions']} | {k['passed']} | {k['tokens']:,} | "
            f"{render.money(k['cost_usd'])} |"
        )
    if ex.skipped:
        lines += ["", f"{len(ex.skipped)} session comment(s) skipped: their JSON block could not be read."]
    return "\n".join(lines) + "\n"


def write(ex: Extract, out_dir: Path) -> list[Path]:
    from skill_insights.github import dashboard
    from skill_insights.outputs import write_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "analytics.csv": to_csv(ex),
        "analytics.md": to_markdown(ex),
        "dashboard.html": dashboard.render(ex.repo, ex.start, ex.end, ex.sessions, figures(ex)),
    }
    paths = []
    for name, text in files.items():
        path = out_dir / name
        write_atomic(path, text.encode("utf-8"), mode=0o644)
        paths.append(path)
    return paths

"""Report render time and size on a large store: 2,000 sessions, 5,000 skills and their findings.

Synthetic rows go straight into the store's tables (capture, inventory, analysis), then the report is built
the way `skill-insights report` builds it. Prints wall time (target <= 3 s) and file size (target <= 3 MB).

    python bench/report.py [--sessions 2000] [--skills 5000] [--findings-per-skill 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from skill_insights.report import build_html
from skill_insights.store import open_db, write_transaction

MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
TOOLS = ("Bash", "Read", "Edit", "Write", "Grep", "Glob", "Skill", "Agent", "WebFetch", "mcp__github__search")
AGENTS = (
    ("claude-code", ".claude/skills"),
    ("agents", ".agents/skills"),
    ("codex", ".codex/skills"),
    ("tessl", ".tessl/tiles/acme/kit/skills"),
    ("cursor", ".cursor/skills"),
)
RULES = [
    (
        "quality",
        "quality.description.when",
        "warning",
        "`description` does not say when to use the skill",
        "Add a trigger: 'Use when …'.",
    ),
    (
        "quality",
        "quality.name.folder-mismatch",
        "error",
        "`name` '{name}' differs from its folder '{name}-v2'",
        "Rename the folder or the `name` so they match.",
    ),
    ("quality", "quality.body.long", "warning", "body has {n} lines (over 500)", "Move detail into references/."),
    (
        "staleness",
        "staleness.never-used",
        "info",
        "never used in any captured session",
        "Check that its description says when to use it, or remove the skill.",
    ),
    (
        "staleness",
        "staleness.broken-reference",
        "warning",
        "SKILL.md line {n} refers to 'references/{name}.md', which does not exist in the skill folder",
        "Restore the file, fix the path, or remove the reference.",
    ),
    (
        "duplicates",
        "duplicates.near",
        "info",
        "about {pct}% similar to {other}",
        "Merge the overlapping skills, or make their descriptions say how they differ.",
    ),
]


def populate(db, n_sessions: int, n_skills: int, per_skill: int, now: datetime) -> None:
    rnd = random.Random(7)
    today = now.date()
    skill_names = [f"skill-{i:05d}-{rnd.choice(['pdf', 'sql', 'review', 'deploy', 'docs'])}" for i in range(n_skills)]
    with write_transaction(db) as conn:
        sessions, usage, tools, skills_daily = [], {}, {}, {}
        for i in range(n_sessions):
            day = today - timedelta(days=rnd.randrange(60))
            model = rnd.choice(MODELS)
            toks = [
                rnd.randrange(1_000, 80_000),
                rnd.randrange(500, 20_000),
                rnd.randrange(0, 200_000),
                rnd.randrange(0, 900_000),
            ]
            cost = sum(toks) * 3e-6
            used = rnd.sample(skill_names[:400], rnd.randrange(0, 3))
            tcalls = {t: {"calls": rnd.randrange(1, 30), "errors": rnd.randrange(0, 3)} for t in rnd.sample(TOOLS, 4)}
            start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(minutes=rnd.randrange(1440))
            wall = rnd.uniform(30, 7200)
            sessions.append(
                (
                    f"{i:08d}-0000-4000-8000-{rnd.randrange(16**12):012x}",
                    f"/home/dev/code/project-{i % 40}",
                    f"feature/{i % 17}",
                    f"github.com/org/project-{i % 40}",
                    start.isoformat(),
                    (start + timedelta(seconds=wall)).isoformat(),
                    day.isoformat(),
                    wall,
                    wall * rnd.uniform(0.2, 0.9),
                    rnd.randrange(1, 40),
                    rnd.randrange(1, 200),
                    model,
                    json.dumps({model: {}}),
                    *toks,
                    sum(toks),
                    cost,
                    "[]",
                    sum(v["calls"] for v in tcalls.values()),
                    sum(v["errors"] for v in tcalls.values()),
                    len(used),
                    rnd.randrange(0, 3),
                    rnd.randrange(0, 5),
                    0,
                    len(tcalls),
                    len(used),
                    json.dumps(tcalls),
                    json.dumps(dict.fromkeys(used, 1)),
                    "[]",
                    "{}",
                    "{}",
                    1,
                    0,
                )
            )
            u = usage.setdefault((day.isoformat(), model), [0, 0, 0, 0, 0, 0.0])
            u[0] += rnd.randrange(5, 80)
            for k in range(4):
                u[1 + k] += toks[k]
            u[5] += cost
            for t, v in tcalls.items():
                tv = tools.setdefault((day.isoformat(), t), [0, 0])
                tv[0] += v["calls"]
                tv[1] += v["errors"]
            for s in used:
                sv = skills_daily.setdefault((day.isoformat(), s), [0, 0])
                sv[0] += 1
                sv[1] += 1
        conn.executemany(
            """INSERT INTO sessions (session_id, project, git_branch, git_repo, started_at, ended_at, last_date,
               wall_seconds, active_seconds, user_messages, assistant_messages, primary_model, models, input_tokens,
               output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, cost_usd,
               unpriced_models, tool_calls, tool_errors, skill_calls, subagent_calls, mcp_calls, slash_commands,
               distinct_tools, distinct_skills, tools, skills, subagents, mcp, slash, files, malformed)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                       ?, ?, ?, ?)""",
            sessions,
        )
        conn.executemany(
            """INSERT INTO usage_daily (date, model, responses, input_tokens, output_tokens,
               cache_creation_input_tokens, cache_read_input_tokens, cost_usd, unpriced_responses)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)""",
            [(d, m, *v) for (d, m), v in usage.items()],
        )
        conn.executemany("INSERT INTO tools_daily VALUES (?, ?, ?, ?)", [(*k, *v) for k, v in tools.items()])
        conn.executemany("INSERT INTO skills_daily VALUES (?, ?, ?, ?)", [(*k, *v) for k, v in skills_daily.items()])

        # Inventory: the scan document (what the inventory's reader returns) and its recent changes.
        skills = []
        for i, name in enumerate(skill_names):
            locs = []
            for agent, sub in rnd.sample(AGENTS, rnd.choice((1, 1, 1, 2, 3))):
                base = f"/home/dev/code/project-{i % 40}" if rnd.random() < 0.6 else "/home/dev"
                locs.append(
                    {
                        "path": f"{base}/{sub}/{name}",
                        "agent": agent,
                        "scope": "tile" if agent == "tessl" else ("project" if "code" in base else "user"),
                        "is_link": rnd.random() < 0.2,
                    }
                )
            skills.append(
                {
                    "id": f"sk_{i:016x}",
                    "name": name,
                    "names": [name],
                    "description": f"Does task {i} for {name.split('-')[-1]} work. Use when the user asks about "
                    + " ".join(
                        rnd.choice(["tables", "queries", "reviews", "deploys", "docs", "tests"])
                        for _ in range(rnd.randrange(5, 30))
                    ),
                    "content_hash": f"{rnd.randrange(16**64):064x}",
                    "locations": locs,
                    "files": [{"path": "SKILL.md", "size": 900}],
                    "findings": [],
                }
            )
        doc = {
            "schema_version": "1",
            "generated_at": now.isoformat(),
            "roots": [],
            "skills": skills,
            "manifests": [
                {
                    "kind": "tessl.json",
                    "path": f"/home/dev/code/project-{k}/tessl.json",
                    "mode": "vendored",
                    "dependencies": {f"acme/tile-{j}": {"version": f"1.{j}.0"} for j in range(6)},
                }
                for k in range(40)
            ],
            "findings": [],
        }
        conn.execute(
            "INSERT INTO scans (generated_at, schema_version, skills, document) VALUES (?, '1', ?, ?)",
            [now.isoformat(), n_skills, json.dumps(doc)],
        )
        conn.executemany(
            "INSERT INTO skills_changes (scan_id, at, change, skill_id, name, detail) VALUES (1, ?, ?, ?, ?, ?)",
            [
                (
                    (today - timedelta(days=i % 20)).isoformat(),
                    rnd.choice(["added", "changed", "removed"]),
                    f"sk_{i:016x}",
                    skill_names[i],
                    "content hash changed",
                )
                for i in range(0, n_skills, 25)
            ],
        )

        # Analysis: one run, three phases, `per_skill` findings per skill, scores and duplicate groups.
        conn.execute(
            "INSERT INTO analysis_runs (id, started_at, finished_at, status) VALUES (1, ?, ?, 'ok')",
            [now.isoformat(), now.isoformat()],
        )
        quality = {
            "skills": [{"skill": {"id": s["id"], "name": s["name"]}, "score": rnd.randrange(30, 101)} for s in skills]
        }
        staleness = {
            "skills": [
                {
                    "skill": {"id": s["id"], "name": s["name"]},
                    "last_change": (now - timedelta(days=rnd.randrange(400))).timestamp(),
                    "git": {
                        "last_commit": {"sha": f"{rnd.randrange(16**40):040x}"},
                        "commits": rnd.randrange(1, 40),
                        "contributors": [{"author": "Dev", "commits": 1}],
                    },
                    "stale": rnd.random() < 0.1,
                }
                for s in skills
            ]
        }
        for phase, out in (("quality", quality), ("staleness", staleness), ("duplicates", {"groups": []})):
            conn.execute(
                "INSERT INTO analysis_phase_results (run_id, phase, status, seconds, output) "
                "VALUES (1, ?, 'ok', 1.0, ?)",
                [phase, json.dumps(out)],
            )
        conn.executemany(
            """INSERT INTO analysis_findings (run_id, phase, skill_id, skill_name, rule, severity, message, fix,
               evidence) VALUES (1, ?, ?, ?, ?, ?, ?, ?, '{}')""",
            # Messages as the analyzers write them: some constant, some naming the skill, a path or a peer.
            [
                (
                    r[0],
                    s["id"],
                    s["name"],
                    r[1],
                    r[2],
                    r[3].format(
                        name=s["name"],
                        n=rnd.randrange(8, 900),
                        pct=rnd.randrange(60, 99),
                        other=rnd.choice(skill_names),
                    ),
                    r[4],
                )
                for s in skills
                for r in rnd.sample(RULES, per_skill)
            ],
        )
        conn.executemany(
            "INSERT INTO analysis_duplicate_groups (run_id, group_no, kind, similarity, skills, pairs) "
            "VALUES (1, ?, ?, ?, ?, '[]')",
            [
                (
                    g,
                    "exact" if g % 5 == 0 else "near",
                    1.0 if g % 5 == 0 else rnd.uniform(0.6, 0.95),
                    json.dumps([{"id": skills[j]["id"], "name": skills[j]["name"]} for j in range(g * 3, g * 3 + 3)]),
                )
                for g in range(min(300, n_skills // 3))
            ],
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--skills", type=int, default=5000)
    ap.add_argument("--findings-per-skill", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="Also write the report to this file.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        populate(db, args.sessions, args.skills, args.findings_per_skill, now)
        fill = time.perf_counter() - t0
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            html = build_html(db, now=now)
            out = Path(tmp) / "report.html"
            out.write_text(html, encoding="utf-8")
            runs.append(time.perf_counter() - t0)
        size = out.stat().st_size
        if args.keep:
            args.keep.write_text(html, encoding="utf-8")
    best, worst = min(runs), max(runs)
    print(
        f"store: {args.sessions} sessions, {args.skills} skills, {args.skills * args.findings_per_skill} findings "
        f"(filled in {fill:.2f}s)"
    )
    print(
        f"render wall time: best {best:.2f}s, worst {worst:.2f}s of {len(runs)} (target <= 3 s) "
        f"{'OK' if worst <= 3 else 'OVER'}"
    )
    print(f"file size: {size / 1e6:.2f} MB (target <= 3 MB) {'OK' if size <= 3e6 else 'OVER'}")
    return 0 if worst <= 3 and size <= 3e6 else 1


if __name__ == "__main__":
    sys.exit(main())

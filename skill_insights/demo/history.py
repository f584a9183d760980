"""The demo's generated history: a month of sessions in Claude Code's transcript shape, from a fixed seed.

Three projects, sessions on working hours (weekdays busier), plausible token counts, durations and models,
skills, subagents, slash commands and MCP calls; plus one session seven months ago that used the skill that
has since gone stale.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_NS = uuid.UUID("6f1c2a52-3c1e-4f7e-9a51-5d0c1e6b2a10")
SEED = 20261
VERSION = "2.1.197"

PROJECTS = ("webapp", "api", "docs-site")
MODELS = (("claude-sonnet-4-5", 0.72), ("claude-opus-4-1", 0.12), ("claude-haiku-4-5", 0.16))
BRANCHES = {
    "webapp": ("main", "feat/checkout-flow", "fix/cart-rounding", "feat/dark-mode"),
    "api": ("main", "feat/webhooks", "fix/rate-limit", "chore/pg16"),
    "docs-site": ("main", "docs/getting-started"),
}
PROMPTS = {
    "webapp": (
        "Add a loading state to the checkout button",
        "Why does the cart total round wrong for 3 items?",
        "Make the dark mode toggle remember the choice",
        "Split ProductCard into smaller components",
        "Fix the flaky cart.spec test",
        "Add keyboard navigation to the dropdown menu",
    ),
    "api": (
        "Add a webhook for order.created",
        "The rate limiter lets bursts through, find out why",
        "Write a migration that adds orders.currency",
        "Add pagination to GET /orders",
        "Upgrade the test database to Postgres 16",
        "Why is /healthz slow on cold start?",
    ),
    "docs-site": (
        "Rewrite the getting-started page for the new CLI",
        "Fix the broken links in the API guide",
        "Add a page about webhooks",
    ),
}
# skill → (projects where it is used, weight)
SKILL_USE = {
    "commit-message": (PROJECTS, 9),
    "pr-review": (PROJECTS, 6),
    "write-tests": (("webapp", "api"), 6),
    "debug-flaky-tests": (("webapp",), 3),
    "sql-migrations": (("api",), 4),
    "react-components": (("webapp",), 5),
    "tailwind-tokens": (("webapp",), 3),
    "openapi-client": (("api",), 3),
    "api-docs": (("api", "docs-site"), 2),
    "changelog": (PROJECTS, 2),
    "release-notes": (PROJECTS, 1),
}
TOOLS = (("Read", 30), ("Edit", 18), ("Bash", 20), ("Grep", 12), ("Glob", 6), ("Write", 4), ("TodoWrite", 3))
BASH = ("npm test -- --run", "pytest -q", "git status", "git diff --stat", "npm run lint", "make check")


def encode_project_dir(cwd: str) -> str:
    """Claude Code's folder name for a cwd: every non-alphanumeric character becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


class _Session:
    """Writes one session's JSONL lines in Claude Code's shape (one line per content block of a response)."""

    def __init__(self, rng: random.Random, sid: str, cwd: str, branch: str, model: str, start: datetime):
        self.rng, self.sid, self.cwd, self.branch, self.model = rng, sid, cwd, branch, model
        self.t = start
        self.lines: list[dict[str, Any]] = []
        self.parent: str | None = None
        self.context = rng.randint(14_000, 24_000)  # the cached prompt grows through the session
        self.n = 0
        self.agent_id: str | None = None  # set on a subagent's own transcript (isSidechain lines)
        self.subagents: dict[str, dict[str, Any]] = {}  # agent id → {meta, lines} of its own transcript

    def _id(self, kind: str) -> str:
        self.n += 1
        return str(uuid.uuid5(_NS, f"{self.sid}:{kind}:{self.n}"))

    def _base(self, kind: str) -> dict[str, Any]:
        u = self._id(kind)
        line = {
            "parentUuid": self.parent,
            "isSidechain": self.agent_id is not None,
            **({"agentId": self.agent_id} if self.agent_id else {}),
            "type": kind,
            "uuid": u,
            "timestamp": self.t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "userType": "external",
            "entrypoint": "cli",
            "cwd": self.cwd,
            "sessionId": self.sid,
            "version": VERSION,
            "gitBranch": self.branch,
        }
        self.parent = u
        return line

    def wait(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def user(self, content: Any, **extra: Any) -> None:
        self.lines.append({**self._base("user"), "message": {"role": "user", "content": content}, **extra})

    def response(self, blocks: list[dict[str, Any]], *, first: bool = False) -> None:
        rng = self.rng
        created = rng.randint(8_000, 16_000) if first else rng.randint(300, 4_500)
        usage = {
            "input_tokens": rng.randint(1, 12),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": 0 if first else self.context,
            "output_tokens": rng.randint(60, 900) if blocks[-1]["type"] == "tool_use" else rng.randint(150, 1600),
            "service_tier": "standard",
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": created},
        }
        self.context += created
        mid = "msg_01" + uuid.uuid5(_NS, f"{self.sid}:m:{self.n}").hex[:22]
        rid = "req_011C" + uuid.uuid5(_NS, f"{self.sid}:r:{self.n}").hex[:20]
        for block in blocks:  # one line per content block, each repeating the response's usage
            self.lines.append(
                {
                    **self._base("assistant"),
                    "requestId": rid,
                    "message": {
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [block],
                        "stop_reason": "tool_use" if block["type"] == "tool_use" else "end_turn",
                        "stop_sequence": None,
                        "usage": usage,
                    },
                }
            )
            self.wait(rng.uniform(0.5, 4))

    def tool(
        self,
        name: str,
        inp: dict[str, Any],
        result: str,
        *,
        error: bool = False,
        text: str | None = None,
        first: bool = False,
    ) -> None:
        tid = "toolu_01" + uuid.uuid5(_NS, f"{self.sid}:t:{self.n}").hex[:22]
        blocks = ([{"type": "text", "text": text}] if text else []) + [
            {"type": "tool_use", "id": tid, "name": name, "input": inp}
        ]
        self.wait(self.rng.uniform(3, 25))
        self.response(blocks, first=first)
        self.wait(self.rng.uniform(0.3, 20 if name == "Bash" else 2))
        self.user([{"type": "tool_result", "tool_use_id": tid, "content": result, "is_error": error}])

    def answer(self, text: str) -> None:
        self.wait(self.rng.uniform(4, 30))
        self.response([{"type": "text", "text": text}])

    def agent(self, subagent_type: str, description: str, prompt: str, result: str, *, first: bool = False) -> None:
        """An Agent call and the subagent's own transcript (`<session>/subagents/agent-<id>.jsonl`)."""
        tid = "toolu_01" + uuid.uuid5(_NS, f"{self.sid}:t:{self.n}").hex[:22]
        self.wait(self.rng.uniform(3, 25))
        self.response(
            [
                {
                    "type": "tool_use",
                    "id": tid,
                    "name": "Agent",
                    "input": {"description": description, "prompt": prompt, "subagent_type": subagent_type},
                }
            ],
            first=first,
        )
        aid = uuid.uuid5(_NS, f"{self.sid}:a:{self.n}").hex[:17]
        sub = _Session(self.rng, self.sid, self.cwd, self.branch, self.model, self.t)
        sub.agent_id, sub.n = aid, 100_000 * (len(self.subagents) + 1)  # ids apart from the parent's
        sub.user(prompt)
        first_sub = True
        for _ in range(self.rng.randint(2, 5)):
            name = self.rng.choice(("Read", "Grep", "Glob"))
            sub.tool(
                name,
                {"pattern": "TODO"} if name != "Read" else {"file_path": f"{self.cwd}/src/app.ts"},
                "ok",
                first=first_sub,
            )
            first_sub = False
        sub.answer(result)
        self.subagents[aid] = {
            "meta": {"agentType": subagent_type, "description": description, "toolUseId": tid, "spawnDepth": 1},
            "lines": sub.lines,
        }
        self.t = sub.t
        self.user(
            [{"type": "tool_result", "tool_use_id": tid, "content": [{"type": "text", "text": result}]}],
            toolUseResult={
                "status": "completed",
                "prompt": prompt,
                "agentId": aid,
                "agentType": subagent_type,
                "content": [{"type": "text", "text": result}],
            },
        )


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    names, weights = zip(*weighted, strict=True)
    return rng.choices(names, weights)[0]


def _session(
    rng: random.Random, i: int, project: str, cwd: str, start: datetime, *, forced_skill: str | None = None
) -> _Session:
    sid = str(uuid.uuid5(_NS, f"session:{i}"))
    s = _Session(rng, sid, cwd, rng.choice(BRANCHES[project]), _pick(rng, MODELS), start)
    skills = [(k, w) for k, (projs, w) in SKILL_USE.items() if project in projs]
    turns = rng.choice((1, 2, 2, 3, 3, 4, 5, 6))
    first = True
    for turn in range(turns):
        if turn == 0 and rng.random() < 0.18:
            s.user(
                "<command-name>/ship</command-name>\n<command-message>ship</command-message>\n"
                "<command-args></command-args>"
            )
        else:
            s.user(
                rng.choice(PROMPTS[project])
                if turn == 0
                else rng.choice(
                    (
                        "Looks good, now the tests",
                        "Also handle the empty case",
                        "Can you run the linter?",
                        "Commit this",
                        "That broke the build, have a look",
                        "Explain that change",
                    )
                )
            )
        skill = (
            forced_skill
            if (forced_skill and turn == 0)
            else (_pick(rng, skills) if skills and rng.random() < 0.45 else None)
        )
        if skill:
            s.tool("Skill", {"skill": skill}, f"Launching skill: {skill}", first=first)
            first = False
        if rng.random() < 0.12:
            s.agent(
                "code-reviewer",
                "Review the diff",
                "Review the staged changes",
                "No blocking issues; two nits.",
                first=first,
            )
            first = False
        if project == "webapp" and rng.random() < 0.2:
            s.tool(
                "mcp__linear__list_issues",
                {"team": "WEB", "state": "In Progress"},
                '[{"id": "WEB-142", "title": "Cart rounding"}]',
                first=first,
            )
            first = False
        for _ in range(rng.randint(2, 9)):
            name = _pick(rng, TOOLS)
            inp: dict[str, Any] = (
                {"command": rng.choice(BASH)}
                if name == "Bash"
                else {"pattern": "TODO"}
                if name in ("Grep", "Glob")
                else {"file_path": f"{cwd}/src/{rng.choice(('app', 'cart', 'orders', 'util'))}.ts"}
            )
            error = rng.random() < (0.1 if name == "Bash" else 0.03)
            s.tool(name, inp, "Exit code 1" if error else "ok", error=error, first=first)
            first = False
        s.answer("Done: the change is in place and the tests pass.")
        if turn < turns - 1:
            # the developer reads, thinks, sometimes steps away (long gaps split active time)
            s.wait(rng.choice((rng.uniform(30, 240), rng.uniform(240, 900), rng.uniform(900, 3600))))
    return s


def _plan(rng: random.Random, now: datetime) -> list[tuple[datetime, str]]:
    """(start, project) of every session in the last 30 days: weekdays busier, working hours."""
    local = now.astimezone()
    out: list[tuple[datetime, str]] = []
    for days_ago in range(29, -1, -1):
        day = local - timedelta(days=days_ago)
        n = rng.choice((2, 2, 3, 3, 4)) if day.weekday() < 5 else rng.choice((0, 0, 1))
        for _ in range(n):
            start = day.replace(
                hour=rng.randint(8, 18), minute=rng.randint(0, 59), second=rng.randint(0, 59), microsecond=0
            )
            if start > local - timedelta(hours=3):  # never in the future, and finished by now
                start = local - timedelta(hours=3, minutes=rng.randint(0, 90))
            out.append((start.astimezone(UTC), _pick(rng, (("webapp", 5), ("api", 4), ("docs-site", 1)))))
    return sorted(out)


def write_transcripts(home: Path, claude_dir: Path, now: datetime) -> None:
    """The sessions of the demo's month (and the stale skill's last use) as Claude Code writes them under
    `claude_dir/projects`; the projects are under `home/code`."""
    rng = random.Random(SEED)
    plan = _plan(rng, now)
    # The stale skill's last use: one session seven months ago, in the api project.
    plan.insert(0, ((now - timedelta(days=212)).replace(hour=14, minute=5, second=0, microsecond=0), "api"))
    for i, (start, project) in enumerate(plan):
        cwd = str(home / "code" / project)
        session = _session(rng, i, project, cwd, start, forced_skill="legacy-deploy" if i == 0 else None)
        folder = claude_dir / "projects" / encode_project_dir(cwd)
        _jsonl(folder / f"{session.sid}.jsonl", session.lines)
        for aid, sub in session.subagents.items():
            _jsonl(folder / session.sid / "subagents" / f"agent-{aid}.jsonl", sub["lines"])
            (folder / session.sid / "subagents" / f"agent-{aid}.meta.json").write_text(
                json.dumps(sub["meta"]), encoding="utf-8"
            )


def _jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines))

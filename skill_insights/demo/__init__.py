"""A generated demo: a month of one developer's Claude Code work, with a dozen skills and a few honest problems.

`build(root, now)` lays out `root/home` (HOME, with `.claude` as CLAUDE_CONFIG_DIR) and `root/skill-insights`
(SKILL_INSIGHTS_HOME). Everything is generated from a fixed seed and `now`, so the same day gives the same
demo: three projects, ~60 sessions over the last 30 days (working hours, weekdays busier), plausible token
counts, durations and models, skills, subagents, slash commands and MCP calls; plus one session seven months
ago that used the skill that has since gone stale.

The skills' problems are the ones a real setup has: one stale (`legacy-deploy`), one near-duplicated
(`changelog` / `release-notes`), one broken reference (`api-docs`), one never used (`docker-dev`).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_NS = uuid.UUID("6f1c2a52-3c1e-4f7e-9a51-5d0c1e6b2a10")
SEED = 20261
VERSION = "2.1.197"
MARKER = "demo.json"  # written into the demo's root: `run --demo` only ever deletes a folder that holds it

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

# -- the home: skills, agents, commands, MCP config ----------------------------------------------------------


def _skill(name: str, description: str, body: str) -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n\n{body.strip()}\n"


USER_SKILLS = {
    "commit-message": _skill(
        "commit-message",
        "Writes a conventional commit message from the staged diff. Use when the user asks to commit or to "
        "word a commit message.",
        """
# Commit messages

1. Read the staged diff with `git diff --cached`.
2. Summarise the change in one imperative line of at most 72 characters.
3. Add a short body that says why, not how, when the change is not obvious.

See [the examples](references/examples.md) for the house style.
""",
    ),
    "pr-review": _skill(
        "pr-review",
        "Reviews the current branch against main for bugs, missing tests and risky changes. Use when the user "
        "asks for a review before opening or merging a pull request.",
        """
# Pull request review

- Read the diff against `main`; list correctness problems first, then missing tests, then style.
- Quote the line for every finding and propose the smallest fix.
- Finish with a one-line verdict: ready, ready with nits, or needs changes.
""",
    ),
    "write-tests": _skill(
        "write-tests",
        "Writes focused unit tests for a function or module, following the project's test layout. Use when "
        "the user asks for tests or coverage of new code.",
        """
# Writing tests

- Find the existing test file for the module; follow its fixtures and naming.
- One behaviour per test; name the test after the behaviour.
- Run the new tests and show they fail without the change when fixing a bug.
""",
    ),
    "debug-flaky-tests": _skill(
        "debug-flaky-tests",
        "Finds the cause of a test that passes and fails at random. Use when a test is flaky in CI or locally.",
        """
# Flaky tests

1. Run the test 20 times in a loop and record the failures.
2. Look for time, order, network and shared-state dependencies.
3. Fix the cause; never add a retry.
""",
    ),
    "changelog": _skill(
        "changelog",
        "Writes the changelog entry for the merged pull requests since the last tag. Use when preparing a "
        "release or when asked what changed since the last version.",
        """
# Changelog

1. List the merged pull requests since the last tag with `git log --merges`.
2. Group them under Added, Changed, Fixed and Removed.
3. Write one line per change, in the past tense, linking the pull request.
4. Put breaking changes first, marked as such.
""",
    ),
    "release-notes": _skill(
        "release-notes",
        "Writes the release notes for the merged pull requests since the last tag. Use when preparing a "
        "release or when asked what changed since the last version.",
        """
# Release notes

1. List the merged pull requests since the last tag with `git log --merges`.
2. Group them under Added, Changed, Fixed and Removed.
3. Write one line per change, in the past tense, linking the pull request.
4. Put breaking changes first, marked as such.
""",
    ),
    "docker-dev": _skill(
        "docker-dev",
        "Starts and troubleshoots the local Docker Compose development stack. Use when the user asks to run "
        "the services locally or a container will not start.",
        """
# Local Docker stack

- `docker compose up -d db cache` for the backing services only.
- `docker compose logs -f <service>` when a container restarts in a loop.
- Reset the database volume with `docker compose down -v` (ask first).
""",
    ),
    "legacy-deploy": _skill(
        "legacy-deploy",
        "Deploys the old monolith to the staging VM over SSH. Use when the user asks to deploy the legacy app.",
        """
# Legacy deploy

1. `ssh staging-vm` and go to the monolith checkout.
2. `git pull && make migrate && sudo systemctl restart monolith`.
3. Check that the health check answers within a minute.
""",
    ),
}
USER_SKILL_FILES = {
    "commit-message/references/examples.md": "# Examples\n\n- Fix rounding of cart totals for three items\n"
    "- Add order.created webhook\n",
}
PROJECT_SKILLS = {
    "webapp": {
        "react-components": _skill(
            "react-components",
            "Builds React components in this codebase's style (function components, hooks, CSS modules). "
            "Use when creating or splitting UI components.",
            """
# React components

- One component per file under `src/components/<Name>/`.
- Props typed with an interface named `<Name>Props`; no default exports.
- Styles in `<Name>.module.css`; colours from the design tokens only.
""",
        ),
        "tailwind-tokens": _skill(
            "tailwind-tokens",
            "Maps design tokens to Tailwind theme values. Use when adding colours, spacing or type styles.",
            """
# Design tokens

Tokens live in `tokens.json`; run `npm run tokens` after editing them and commit both files.
""",
        ),
    },
    "api": {
        "sql-migrations": _skill(
            "sql-migrations",
            "Writes reversible PostgreSQL migrations for the API. Use when the schema changes.",
            """
# Migrations

- One change per migration, with a `down` that restores the previous schema.
- Add columns nullable first; backfill; then add the constraint.
- Run `make migrate-check` before committing.
""",
        ),
        "openapi-client": _skill(
            "openapi-client",
            "Regenerates the typed API client from openapi.yaml. Use after changing an endpoint.",
            """
# OpenAPI client

Run `make client` and commit `clients/ts` with the spec change.
""",
        ),
        "api-docs": _skill(
            "api-docs",
            "Documents API endpoints from their handlers and the OpenAPI spec. Use when an endpoint is added "
            "or changed.",
            """
# API docs

Follow [the style guide](references/style-guide.md) and keep one example request per endpoint.
Every endpoint page lists its errors.
""",
        ),
    },
}
AGENTS = {
    "code-reviewer": "---\nname: code-reviewer\ndescription: Reviews a diff for bugs and risky changes.\n"
    "tools: Read, Grep, Glob\n---\n\nYou review code changes. Report bugs first, then risks, then style.\n",
    "perf-auditor": "---\nname: perf-auditor\ndescription: Profiles slow endpoints and suggests fixes.\n"
    "tools: Read, Bash\n---\n\nYou find why a code path is slow and propose measured fixes.\n",
}
COMMANDS = {
    "ship": "---\ndescription: Run the checks, write the commit and open a pull request\n---\n\n"
    "Run the test suite, then use the commit-message skill and open a pull request.\n",
    "standup": "---\ndescription: Summarise yesterday's commits for the standup\n---\n\n"
    "List my commits since yesterday morning across the repositories in ~/code.\n",
}
MCP_SERVERS = {"mcpServers": {"linear": {"command": "npx", "args": ["-y", "linear-mcp-server"]}}}


@dataclass
class DemoEnv:
    root: Path
    home: Path
    claude_dir: Path
    si_home: Path
    projects: list[Path] = field(default_factory=list)

    def environ(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "CLAUDE_CONFIG_DIR": str(self.claude_dir),
            "SKILL_INSIGHTS_HOME": str(self.si_home),
            # Offline by construction: nothing in a demo should reach a real service.
            "DO_NOT_TRACK": "1",
        }

    # Settings that would point the demo at a real service: `run --demo` removes them from its environment.
    REMOTE_SETTINGS = (
        "SKILLS_API_URL",
        "SKILL_INSIGHTS_TESSL_REGISTRY_URL",
        "SKILL_INSIGHTS_LLM_BASE_URL",
        "ANTHROPIC_API_KEY",
        "SKILL_INSIGHTS_POSTHOG_KEY",
        "GITHUB_TOKEN",
    )


def encode_project_dir(cwd: str) -> str:
    """Claude Code's folder name for a cwd: every non-alphanumeric character becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def _write(path: Path, text: str, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def _git(cwd: Path, *args: str, date: str | None = None) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Sam Rivera",
            "-c",
            "user.email=sam@example.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
    )


def _git_history(project: Path, now: datetime) -> None:
    """Back-dated commits, so provenance has something to say. Skipped without git."""
    if shutil.which("git") is None:
        return

    def at(days: int) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S+0000")

    try:
        _git(project, "init", "-q")
        _git(project, "add", "-A")
        _git(project, "commit", "-q", "-m", "Project skills", date=at(75))
        skill = project / ".claude" / "skills" / "react-components" / "SKILL.md"
        if skill.is_file():
            skill.write_text(skill.read_text() + "- Stories for every component under `src/stories/`.\n")
            _git(project, "commit", "-q", "-am", "react-components: stories for every component", date=at(9))
    except (OSError, subprocess.SubprocessError):
        pass


def _home(env: DemoEnv, now: datetime) -> None:
    skills = env.claude_dir / "skills"
    fresh = (now - timedelta(days=45)).timestamp()
    for name, text in USER_SKILLS.items():
        # legacy-deploy has not been touched for over a year: with its last use months ago, it is stale.
        mtime = (now - timedelta(days=420)).timestamp() if name == "legacy-deploy" else fresh
        _write(skills / name / "SKILL.md", text, mtime)
    for rel, text in USER_SKILL_FILES.items():
        _write(skills / rel, text, fresh)
    for name, text in AGENTS.items():
        _write(env.claude_dir / "agents" / f"{name}.md", text)
    for name, text in COMMANDS.items():
        _write(env.claude_dir / "commands" / f"{name}.md", text)
    for proj in env.projects:
        proj.mkdir(parents=True, exist_ok=True)
        _write(proj / "README.md", f"# {proj.name}\n")
        for name, text in PROJECT_SKILLS.get(proj.name, {}).items():
            _write(proj / ".claude" / "skills" / name / "SKILL.md", text, fresh)
    _write(env.home / "code" / "webapp" / ".mcp.json", json.dumps(MCP_SERVERS, indent=2) + "\n")
    _git_history(env.home / "code" / "webapp", now)


# -- transcripts ---------------------------------------------------------------------------------------------


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


def _transcripts(env: DemoEnv, now: datetime) -> None:
    rng = random.Random(SEED)
    plan = _plan(rng, now)
    # The stale skill's last use: one session seven months ago, in the api project.
    plan.insert(0, ((now - timedelta(days=212)).replace(hour=14, minute=5, second=0, microsecond=0), "api"))
    for i, (start, project) in enumerate(plan):
        cwd = str(env.home / "code" / project)
        session = _session(rng, i, project, cwd, start, forced_skill="legacy-deploy" if i == 0 else None)
        folder = env.claude_dir / "projects" / encode_project_dir(cwd)
        _jsonl(folder / f"{session.sid}.jsonl", session.lines)
        for aid, sub in session.subagents.items():
            _jsonl(folder / session.sid / "subagents" / f"agent-{aid}.jsonl", sub["lines"])
            _write(folder / session.sid / "subagents" / f"agent-{aid}.meta.json", json.dumps(sub["meta"]))


def _jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines))


def build(root: Path, now: datetime | None = None) -> DemoEnv:
    """Lay the demo out under `root` (which should be empty or absent)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    root = root.resolve()
    env = DemoEnv(root=root, home=root / "home", claude_dir=root / "home" / ".claude", si_home=root / "skill-insights")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(root / MARKER, json.dumps({"demo": True, "built_at": now.isoformat(timespec="seconds")}) + "\n")
    env.projects = [env.home / "code" / p for p in PROJECTS]
    _home(env, now)
    _transcripts(env, now)
    env.si_home.mkdir(parents=True, exist_ok=True)
    return env


def remove(root: Path) -> None:
    """Delete a demo folder built by `build` (it must hold the marker: never anything else)."""
    if (root / MARKER).is_file() and not root.is_symlink():
        shutil.rmtree(root)


def analyze_args(cmd: Any) -> list[str]:
    """`analyze` arguments for the demo: all phases (the registry one says "not configured" offline)."""
    return []

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
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skill_insights.demo.history import PROJECTS, write_transcripts

MARKER = "demo.json"  # written into the demo's root: `run --demo` only ever deletes a folder that holds it

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


def build(root: Path, now: datetime | None = None) -> DemoEnv:
    """Lay the demo out under `root` (which should be empty or absent)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    root = root.resolve()
    env = DemoEnv(root=root, home=root / "home", claude_dir=root / "home" / ".claude", si_home=root / "skill-insights")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(root / MARKER, json.dumps({"demo": True, "built_at": now.isoformat(timespec="seconds")}) + "\n")
    env.projects = [env.home / "code" / p for p in PROJECTS]
    _home(env, now)
    write_transcripts(env.home, env.claude_dir, now)
    env.si_home.mkdir(parents=True, exist_ok=True)
    return env


def remove(root: Path) -> None:
    """Delete a demo folder built by `build` (it must hold the marker: never anything else)."""
    if (root / MARKER).is_file() and not root.is_symlink():
        shutil.rmtree(root)


def analyze_args(cmd: Any) -> list[str]:
    """`analyze` arguments for the demo: all phases (the registry one says "not configured" offline)."""
    return []

"""End to end with the real Claude Code client: install our hooks, run `claude -p`, check what got captured.

The client talks to our own stub of the Messages API (tests/e2e/stub_anthropic.py) on 127.0.0.1, inside a
throwaway HOME; nothing leaves the machine. Skipped when no `claude` binary is around (`.ci/install-claude.sh`
puts one in `.cache/claude-code`). Waits poll with generous deadlines; no timing is asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.stub_anthropic import StubAPI, full_usage

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
API_KEY = "sk-ant-api03-offline-test-key-0000000000000000"
MODEL = "claude-sonnet-4-5"
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
# Sonnet 4.5 list prices, USD per token: input, output, 5m cache write, 1h cache write, cache read.
PRICES = {"input": 3e-6, "output": 15e-6, "cw5m": 3.75e-6, "cw1h": 6e-6, "cr": 0.30e-6}
CAPTURE_DEADLINE_S = 45.0


def find_claude() -> str | None:
    """CLAUDE_BIN, else the copy .ci/install-claude.sh makes, else one on PATH."""
    env = os.environ.get("CLAUDE_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    cached = REPO / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("claude")


CLAUDE = find_claude()


def usage(i: int, o: int, cw: int, cr: int, cw_1h: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": i,
        "output_tokens": o,
        "cache_creation_input_tokens": cw,
        "cache_read_input_tokens": cr,
        "cache_creation": {"ephemeral_5m_input_tokens": cw - cw_1h, "ephemeral_1h_input_tokens": cw_1h},
    }


SKILL_PROMPT = "use the demo skill please"
AGENT_PROMPT = "delegate a file listing to a subagent"
SUBAGENT_TASK = "SUBAGENT-TASK: list the files in the project"
# Every reply carries its own token numbers, so the test knows each total it must find in the store.
SCRIPT: dict[str, Any] = {
    "main": {
        SKILL_PROMPT: [
            {
                "thinking": "The user wants the demo skill.",
                "tool_use": {"name": "Skill", "input": {"skill": "demo-skill"}},
                "usage": usage(3, 41, 12000, 0),
            },
            {
                "tool_use": {"name": "Bash", "input": {"command": "echo demo-skill-ran", "description": "Run demo"}},
                "usage": usage(1, 37, 250, 12000),
            },
            {"text": "The demo skill ran and printed demo-skill-ran.", "usage": usage(1, 19, 90, 12250)},
        ],
        AGENT_PROMPT: [
            {
                "text": "Delegating.",
                "tool_use": {
                    "name": "Agent",
                    "input": {"description": "List files", "prompt": SUBAGENT_TASK, "subagent_type": "general-purpose"},
                },
                "usage": usage(5, 73, 11000, 0, cw_1h=11000),
            },
            {"text": "The subagent reports README.md.", "usage": usage(1, 21, 400, 11000)},
        ],
    },
    "subagent": {
        SUBAGENT_TASK: [
            {
                "tool_use": {"name": "Bash", "input": {"command": "ls", "description": "List files"}},
                "usage": usage(4, 33, 9000, 0),
            },
            {"text": "The project contains README.md.", "usage": usage(1, 15, 120, 9000)},
        ],
    },
    "default_text": "OK",
}


def scripted_totals(replies: list[dict[str, Any]]) -> dict[str, int]:
    return {f: sum(full_usage(r)[f] for r in replies) for f in TOKEN_FIELDS}


def list_cost(u: dict[str, Any]) -> float:
    cc = u["cache_creation"]
    return (
        u["input_tokens"] * PRICES["input"]
        + u["output_tokens"] * PRICES["output"]
        + cc["ephemeral_5m_input_tokens"] * PRICES["cw5m"]
        + cc["ephemeral_1h_input_tokens"] * PRICES["cw1h"]
        + u["cache_read_input_tokens"] * PRICES["cr"]
    )


# -- an independent reading of what the client wrote -------------------------------------------------------


def read_transcripts(projects: Path) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """session id → {(message.id, requestId): {"usage", "blocks", "sidechain"}}, over every .jsonl (subagents too).

    One API response is written as one line per content block, all sharing id, requestId and usage: each
    response is counted once (keeping the largest output_tokens) and its blocks are gathered from all its lines.
    """
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for path in sorted(projects.rglob("*.jsonl")):
        for raw in path.read_text().splitlines():
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            msg = d.get("message") if isinstance(d, dict) else None
            if d.get("type") != "assistant" or not isinstance(msg, dict) or d.get("isApiErrorMessage"):
                continue
            if not str(msg.get("id", "")).startswith("msg_"):  # synthetic error lines are not billed
                continue
            key = (msg["id"], d.get("requestId") or "")
            rec = out.setdefault(d["sessionId"], {}).setdefault(
                key, {"usage": msg["usage"], "blocks": [], "sidechain": bool(d.get("isSidechain"))}
            )
            if msg["usage"]["output_tokens"] > rec["usage"]["output_tokens"]:
                rec["usage"] = msg["usage"]
            rec["blocks"] += [b for b in msg.get("content") or [] if isinstance(b, dict)]
    return out


def totals_of(responses: dict[tuple[str, str], dict[str, Any]]) -> dict[str, int]:
    return {f: sum(r["usage"].get(f) or 0 for r in responses.values()) for f in TOKEN_FIELDS}


def tool_names(responses: dict[tuple[str, str], dict[str, Any]], sidechain: bool) -> list[str]:
    return sorted(
        b["name"]
        for r in responses.values()
        if r["sidechain"] == sidechain
        for b in r["blocks"]
        if b.get("type") == "tool_use"
    )


# -- processes ---------------------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "skill_insights", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skill-insights {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def our_processes(si_home: Path) -> list[int]:
    """Pids whose environment carries this test's SKILL_INSIGHTS_HOME: only processes this test started."""
    marker = f"SKILL_INSIGHTS_HOME={si_home}".encode()
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            if marker in (p / "environ").read_bytes().split(b"\0"):
                pids.append(int(p.name))
        except OSError:
            continue
    return pids


@contextlib.contextmanager
def daemon_cleanup(env: dict[str, str], si_home: Path) -> Iterator[None]:
    """Whatever happens, stop the daemon and leave no process of ours behind."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            cli(env, "daemon", "stop", "--timeout", "10", "--force", check=False)
        pid_file = si_home / "run" / "daemon.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        if Path("/proc/self/environ").exists():
            for pid in our_processes(si_home):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def diagnostics(si_home: Path) -> str:
    """The hook log and the daemon log: where a detached hook or daemon can say what went wrong."""
    parts = []
    for f in (si_home / "run" / "hook.log", si_home / "logs" / "daemon.log"):
        text = f.read_text(errors="replace") if f.exists() else "(missing)"
        parts.append(f"--- {f}\n{text[-3000:]}")
    return "\n".join(parts)


def wait_for(
    what: str, probe: Any, deadline_s: float = CAPTURE_DEADLINE_S, every: float = 0.3, si_home: Path | None = None
) -> Any:
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        ok, last = probe()
        if ok:
            return last
        time.sleep(every)
    extra = diagnostics(si_home) if si_home else ""
    raise AssertionError(
        f"timed out waiting for {what}; last seen: {json.dumps(last, indent=1, default=str)[:4000]}\n{extra}"
    )


# -- the test ----------------------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("e2e")
    home, project, si_home = base / "home", base / "project", base / "si"
    if len(str(si_home / "run" / "daemon.sock")) > 100:
        # The daemon's socket lives under SKILL_INSIGHTS_HOME and AF_UNIX paths are ~100 bytes at most.
        si_home = Path(tempfile.mkdtemp(prefix="si-e2e-", dir="/tmp"))
        request.addfinalizer(lambda: shutil.rmtree(si_home, ignore_errors=True))
    skill = home / ".claude" / "skills" / "demo-skill"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: demo-skill\ndescription: Demo skill for the end-to-end test. Use when the user asks for the "
        "demo skill.\n---\n# Demo skill\n\nRun `echo demo-skill-ran` with the Bash tool and report its output.\n"
    )
    project.mkdir()
    git = ["git", "-C", str(project), "-c", "user.email=dev@example.com", "-c", "user.name=dev"]
    subprocess.run([*git, "init", "-q", "-b", "feature/demo"], check=True)
    (project / "README.md").write_text("# demo project\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@github.com:acme/demo-project.git"], check=True)
    (base / "tmp").mkdir()
    return {"base": base, "home": home, "project": project, "si_home": si_home, "tmp": base / "tmp"}


def base_env(world: dict[str, Path]) -> dict[str, str]:
    """A minimal environment, like `env -i`: nothing of the developer's own setup leaks in."""
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
    return {
        "PATH": path,
        "HOME": str(world["home"]),
        "TMPDIR": str(world["tmp"]),
        "LANG": "C.UTF-8",
        "USER": "dev",
        "SHELL": "/bin/bash",
        "SKILL_INSIGHTS_HOME": str(world["si_home"]),
    }


def run_claude(env: dict[str, str], cwd: Path, prompt: str) -> subprocess.CompletedProcess:
    argv = [str(CLAUDE), "-p", prompt, "--model", MODEL, "--allowedTools", "Bash Skill Agent Task"]
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(
    CLAUDE is None,
    reason="no claude binary: set CLAUDE_BIN or run .ci/install-claude.sh "
    "(installs @anthropic-ai/claude-code into .cache/claude-code)",
)
def test_real_claude_sessions_are_captured(world: dict[str, Path]) -> None:
    env = base_env(world)
    settings = world["home"] / ".claude" / "settings.json"
    cli(env, "install", "--settings", str(settings), "--no-service")
    hooks = json.loads(settings.read_text())["hooks"]
    for event, arg in (("SessionStart", "session-start"), ("SessionEnd", "session-end")):
        assert any(arg in h["command"] for group in hooks[event] for h in group["hooks"]), hooks

    with StubAPI(SCRIPT) as stub, daemon_cleanup(env, world["si_home"]):
        claude_env = {
            **env,
            "TERM": "dumb",
            "ANTHROPIC_BASE_URL": stub.url,
            "ANTHROPIC_API_KEY": API_KEY,
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_BUG_COMMAND": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            # Anything that still tries to leave the machine comes to the stub as a CONNECT and is refused.
            "HTTPS_PROXY": stub.url,
            "HTTP_PROXY": stub.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        runs = {}
        for prompt in (SKILL_PROMPT, AGENT_PROMPT):
            runs[prompt] = run_claude(claude_env, world["project"], prompt)
            r = runs[prompt]
            assert r.returncode == 0, f"claude exited {r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
        assert "demo-skill-ran" in runs[SKILL_PROMPT].stdout
        assert "README.md" in runs[AGENT_PROMPT].stdout
        assert stub.refused == [], f"requests the stub refused: {stub.refused}"

        # -- what the client wrote, read independently --------------------------------------------------
        projects = world["home"] / ".claude" / "projects"
        written = read_transcripts(projects)
        assert len(written) == 2, f"expected two sessions in {projects}: {sorted(written)}"
        by_prompt = {}
        for sid, lines in written.items():
            tools = tool_names(lines, sidechain=False)
            by_prompt[AGENT_PROMPT if "Agent" in tools else SKILL_PROMPT] = sid
        skill_sid, agent_sid = by_prompt[SKILL_PROMPT], by_prompt[AGENT_PROMPT]
        assert tool_names(written[skill_sid], sidechain=False) == ["Bash", "Skill"]
        assert tool_names(written[agent_sid], sidechain=False) == ["Agent"]
        assert tool_names(written[agent_sid], sidechain=True) == ["Bash"]
        assert len(list(projects.rglob(f"{agent_sid}/subagents/agent-*.jsonl"))) == 1, "no subagent transcript"

        # The stub's own record agrees with the transcripts: every scripted response written exactly once.
        served = [s for s in stub.served if s["kind"] != "side"]
        assert Counter(s["kind"] for s in served) == {"main": 5, "subagent": 2}, stub.served
        assert sorted(s["msg_id"] for s in served) == sorted(k[0] for lines in written.values() for k in lines)
        assert sorted(s["request_id"] for s in served) == sorted(k[1] for lines in written.values() for k in lines)
        expected = {
            skill_sid: scripted_totals(SCRIPT["main"][SKILL_PROMPT]),
            agent_sid: scripted_totals(SCRIPT["main"][AGENT_PROMPT] + SCRIPT["subagent"][SUBAGENT_TASK]),
        }
        expected_cost = {
            skill_sid: sum(list_cost(full_usage(r)) for r in SCRIPT["main"][SKILL_PROMPT]),
            agent_sid: sum(
                list_cost(full_usage(r)) for r in SCRIPT["main"][AGENT_PROMPT] + SCRIPT["subagent"][SUBAGENT_TASK]
            ),
        }
        for sid, lines in written.items():
            assert totals_of(lines) == expected[sid], f"transcript totals of {sid} differ from the stub's script"

        # -- the hooks fired -----------------------------------------------------------------------------
        hook_log = world["si_home"] / "run" / "hook.log"

        def hook_lines() -> tuple[bool, list[str]]:
            lines = hook_log.read_text().splitlines() if hook_log.exists() else []
            ends = [ln for ln in lines if " session-end " in ln]
            ok = all(any(sid in ln for ln in ends) for sid in written)
            return ok, lines

        si_home = world["si_home"]
        log_lines = wait_for("a SessionEnd hook line per session", hook_lines, deadline_s=20, si_home=si_home)
        for sid in written:
            assert any(" session-start " in ln and sid in ln for ln in log_lines), f"no SessionStart for {sid}"
        # SessionStart, not us, started the daemon (install ran with --no-service); it may still be starting.
        wait_for(
            "the daemon SessionStart spawned to run",
            lambda: (
                (st := json.loads(cli(env, "daemon", "status", "--json", check=False).stdout))["running"] is True,
                st,
            ),
            deadline_s=30,
            si_home=si_home,
        )

        # -- the daemon captured both sessions -----------------------------------------------------------
        def captured() -> tuple[bool, Any]:
            doc = json.loads(cli(env, "usage", "session", "--json").stdout)
            rows = {r["session_id"]: r for r in doc["rows"]}
            ok = all(sid in rows and {f: rows[sid][f] for f in TOKEN_FIELDS} == expected[sid] for sid in expected)
            return ok, doc

        doc = wait_for("usage session --json to show both sessions with their tokens", captured, si_home=si_home)
        rows = {r["session_id"]: r for r in doc["rows"]}
        assert set(rows) == set(expected)
        for sid, row in rows.items():
            assert row["total_tokens"] == sum(expected[sid].values())
            assert row["models"] == [MODEL]
            assert row["cost_usd"] == pytest.approx(expected_cost[sid], rel=1e-9)
            assert row["git_repo"] == "github.com/acme/demo-project"
            assert row["git_branch"] == "feature/demo"
        assert {f: doc["totals"][f] for f in TOKEN_FIELDS} == {
            f: sum(e[f] for e in expected.values()) for f in TOKEN_FIELDS
        }

        # -- one session's detail matches what was scripted ----------------------------------------------
        skill = json.loads(cli(env, "session", "show", skill_sid, "--json").stdout)
        assert skill["tokens"] == expected[skill_sid]
        assert {k: v["calls"] for k, v in skill["tools"].items()} == {"Skill": 1, "Bash": 1}
        assert skill["skills_invoked"] == {"demo-skill": 1}
        assert skill["subagents"] == []
        assert skill["tool_errors"] == 0

        agent = json.loads(cli(env, "session", "show", agent_sid, "--json").stdout)
        assert agent["tokens"] == expected[agent_sid]
        assert agent["estimated_cost_usd"] == pytest.approx(expected_cost[agent_sid], rel=1e-9)
        assert agent["skills_invoked"] == {}
        # The subagent's own Bash call counts as a tool call of the session, as in the transcripts.
        assert {k: v["calls"] for k, v in agent["tools"].items()} == {"Agent": 1, "Bash": 1}
        assert agent["files"] == 2  # the session's transcript and its subagent's
        [sub] = agent["subagents"]
        [sub_file] = projects.rglob(f"{agent_sid}/subagents/agent-*.jsonl")
        assert sub["type"] == "general-purpose"
        assert sub["agent_id"] == sub_file.stem.removeprefix("agent-")
        assert sub["total_tokens"] == sum(scripted_totals(SCRIPT["subagent"][SUBAGENT_TASK]).values())
        sub_cost = sum(list_cost(full_usage(r)) for r in SCRIPT["subagent"][SUBAGENT_TASK])
        assert sub["cost_usd"] == pytest.approx(sub_cost, rel=1e-9)

        # Nothing is left waiting in the spool: handed over the socket, or drained by the daemon/one-file ingest.
        spool = world["si_home"] / "run" / "spool"
        wait_for(
            "an empty spool",
            lambda: (not list(spool.glob("*.json")), sorted(spool.glob("*"))),
            deadline_s=20,
            si_home=si_home,
        )

        # -- the daemon stops when asked, and nothing of ours is left running -----------------------------
        cli(env, "daemon", "stop", "--timeout", "15")
        assert cli(env, "daemon", "status", "--json", check=False).returncode == 3
        if Path("/proc/self/environ").exists():  # checked before daemon_cleanup kills whatever is left
            wait_for(
                "every process of this test to exit",
                lambda: (not our_processes(si_home), our_processes(si_home)),
                deadline_s=15,
            )

"""The daemon's sender as a real process: it drains the outbox through an outage and across a SIGKILL, and a
daemon with telemetry off sends nothing."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_daemon_support import DaemonProc, cli, make_env, wait_for
from test_telemetry import PostHogStandIn

FIX = Path(__file__).parent / "fixtures" / "claude-code" / "2.1.330"


@pytest.fixture
def posthog() -> Iterator[PostHogStandIn]:
    s = PostHogStandIn()
    yield s
    s.close()


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory, posthog: PostHogStandIn) -> dict[str, str]:
    root = tmp_path_factory.mktemp("t")  # short: the socket path has a length limit
    env = make_env(root)
    env["HOME"] = str(root / "user")
    for name in ("DO_NOT_TRACK", "SKILL_INSIGHTS_TELEMETRY"):
        env.pop(name, None)
    env.update(
        {
            "SKILL_INSIGHTS_POSTHOG_KEY": "phc_daemon_test",
            "SKILL_INSIGHTS_POSTHOG_HOST": posthog.url,
            "SKILL_INSIGHTS_TELEMETRY_S": "1",
            "SKILL_INSIGHTS_TELEMETRY_BACKOFF_S": "0.5",
            "SKILL_INSIGHTS_FIRST_SCAN_S": "3600",
        }
    )
    return env


def copy_sessions(env: dict[str, str], scenarios: list[str]) -> None:
    dest = Path(env["CLAUDE_CONFIG_DIR"]) / "projects"
    for s in scenarios:
        shutil.copytree(FIX / s / "projects", dest, dirs_exist_ok=True)


def outbox(env: dict[str, str]) -> dict[str, int]:
    db = Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db"
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM telemetry_outbox GROUP BY status").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.stop()


def test_the_daemon_delivers_through_an_outage_and_a_sigkill_each_event_once(env, posthog, daemons):
    cli(env, "telemetry", "enable")
    # Dated before the fixture sessions were recorded: consent covers activity from the moment it was given.
    conn = sqlite3.connect(Path(env["SKILL_INSIGHTS_HOME"]) / "data" / "skill-insights.db")
    with conn:
        conn.execute("UPDATE telemetry_state SET changed_at = '2026-01-01T00:00:00Z'")
    conn.close()
    copy_sessions(env, ["skill", "mcp_tool"])
    posthog.plan = [503] * 4
    first = DaemonProc(env).wait_ready()
    wait_for(lambda: len(posthog.requests) >= 2, what="the sender's first attempts")
    first.kill9()
    assert posthog.stored == {}
    assert outbox(env).get("pending") == 4  # 2 activations + 2 sessions, none lost
    second = DaemonProc(env).wait_ready()
    daemons.append(second)
    wait_for(lambda: outbox(env) == {"sent": 4}, timeout=60, what="the outbox drained")
    assert len(posthog.stored) == 4
    assert set(posthog.stored_count.values()) == {1}
    assert {e["event"] for e in posthog.stored.values()} == {
        "cli:agent-signals:skill-activation",
        "cli:agent-signals:mcp-tool-activation",
        "cli:agent-signals:session-processed",
    }


def test_a_daemon_with_telemetry_off_sends_nothing(env, posthog, daemons):
    copy_sessions(env, ["skill", "mcp_tool"])
    d = DaemonProc(env).wait_ready()
    daemons.append(d)
    wait_for(
        lambda: any(j["name"] == "telemetry.send" and j["runs"] >= 2 for j in d.status()["jobs"]),
        what="two passes of the sender",
    )
    assert posthog.requests == []
    assert outbox(env) == {}

"""`usage blocks`, `usage weekly` and `--timezone` on generated histories ingested by the real CLI; blocks
compared with ccusage's `blocks --json` when it is installed (bench/.cache, see bench/ingest.py)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import IsolatedHome

from skill_insights.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TOKEN_KEYS = {
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "cache_creation_input_tokens": "cacheCreationInputTokens",
    "cache_read_input_tokens": "cacheReadInputTokens",
}


@pytest.fixture
def claude(isolated_home: IsolatedHome, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Claude Code's folder (CLAUDE_CONFIG_DIR), with the clock in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    return isolated_home.claude


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def response_line(sid: str, mid: str, at: datetime, usage: dict[str, int], model: str = "claude-sonnet-4-5") -> str:
    return json.dumps(
        {  # compact, as Claude Code writes it (ccusage reads no other spacing)
            "type": "assistant",
            "sessionId": sid,
            "timestamp": _iso(at),
            "requestId": "req_" + mid,
            "uuid": "u" + mid,
            "cwd": "/home/dev/project",
            "version": "2.1.197",
            "message": {
                "id": "msg_" + mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "usage": usage,
                "content": [{"type": "text", "text": "ok"}],
            },
        },
        separators=(",", ":"),
    )


def write_history(config: Path, sessions: dict[str, list[str]]) -> Path:
    projects = config / "projects" / "-home-dev-project"
    projects.mkdir(parents=True, exist_ok=True)
    for sid, lines in sessions.items():
        (projects / f"{sid}.jsonl").write_text("".join(line + "\n" for line in lines))
    return config / "projects"


def usage_blocks(*args: str) -> dict:
    r = CliRunner().invoke(cli, ["usage", "blocks", "--json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def ingest(projects: Path) -> None:
    r = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(projects)])
    assert r.exit_code == 0, r.output


T0 = datetime(2026, 11, 20, 10, 17, tzinfo=UTC)
U = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}


def test_blocks_start_on_the_hour_last_five_hours_and_restart_after_a_gap(claude: Path) -> None:
    at = [
        T0,  # block 10:00-15:00
        T0 + timedelta(hours=4, minutes=42),  # 14:59: still the first block
        T0 + timedelta(hours=4, minutes=44),  # 15:01: past the block's end, a new block from 15:00
        T0 + timedelta(hours=10),  # 20:17: more than 5 h after the response before: a new block from 20:00
    ]
    lines = [response_line("s1", f"m{i}", t, U) for i, t in enumerate(at)]
    ingest(write_history(claude, {"s1": lines}))
    doc = usage_blocks()
    assert [(r["start"], r["end"]) for r in doc["rows"]] == [
        ("2026-11-20T10:00:00.000Z", "2026-11-20T15:00:00.000Z"),
        ("2026-11-20T15:00:00.000Z", "2026-11-20T20:00:00.000Z"),
        ("2026-11-20T20:00:00.000Z", "2026-11-21T01:00:00.000Z"),
    ]
    assert [r["responses"] for r in doc["rows"]] == [2, 1, 1]
    assert [r["total_tokens"] for r in doc["rows"]] == [2 * 1115, 1115, 1115]
    assert all(not r["active"] for r in doc["rows"])
    for r in doc["rows"]:  # the usage keys every usage row has
        assert {
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "total_tokens",
            "cost_usd",
        } <= set(r)
    assert usage_blocks("--active")["rows"] == []
    table = CliRunner().invoke(cli, ["usage", "blocks", "--timezone", "UTC"])
    assert table.exit_code == 0, table.output
    assert "2026-11-20 10:00" in table.output and "2,230" in table.output and "active" not in table.output


def test_weekly_and_timezone_move_days_not_tokens(claude: Path) -> None:
    late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Sunday 23:30 UTC = Monday 08:30 in Tokyo
    lines = [response_line("s1", "a", late, U), response_line("s1", "b", late + timedelta(days=2), U)]
    ingest(write_history(claude, {"s1": lines}))
    runner = CliRunner()
    utc = json.loads(runner.invoke(cli, ["usage", "weekly", "--json", "--timezone", "UTC"]).output)
    tokyo = json.loads(runner.invoke(cli, ["usage", "weekly", "--json", "--timezone", "Asia/Tokyo"]).output)
    assert [(r["week"], r["total_tokens"]) for r in utc["rows"]] == [("2026-11-16", 1115), ("2026-11-23", 1115)]
    assert [(r["week"], r["total_tokens"]) for r in tokyo["rows"]] == [("2026-11-23", 2230)]
    daily = json.loads(runner.invoke(cli, ["usage", "daily", "--json", "--timezone", "Asia/Tokyo"]).output)
    assert [r["date"] for r in daily["rows"]] == ["2026-11-23", "2026-11-25"]
    assert daily["totals"]["total_tokens"] == utc["totals"]["total_tokens"]
    local = json.loads(runner.invoke(cli, ["usage", "weekly", "--json"]).output)  # TZ=UTC: the stored days
    assert local["rows"] == [{**r, "cost_usd": r["cost_usd"]} for r in utc["rows"]]
    bad = runner.invoke(cli, ["usage", "daily", "--timezone", "Mars/Olympus"])
    assert bad.exit_code != 0 and "Mars/Olympus" in bad.output


def random_history(seed: int) -> dict[str, list[str]]:
    """Sessions over three days with bursts, idle stretches of every length around 5 h, several models, and a
    fork that copies its parent's first responses (same ids: counted once by both tools)."""
    rng = random.Random(seed)
    sessions: dict[str, list[str]] = {}
    t = datetime(2026, 11, 18, 6, 3, 27, tzinfo=UTC)
    n = 0
    for s in range(6):
        sid = f"sess{s}"
        lines = []
        for _ in range(rng.randint(5, 40)):
            t += timedelta(seconds=rng.choice([30, 300, 1800, 3 * 3600, 4 * 3600 + 59 * 60, 5 * 3600 + 60, 7 * 3600]))
            usage = {k: rng.randint(0, 5000) for k in U}
            model = rng.choice(["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"])
            lines.append(response_line(sid, f"{n}", t, usage, model))
            n += 1
        sessions[sid] = lines
    own = response_line("fork", "f1", t + timedelta(minutes=5), {k: 7 for k in U})
    sessions["fork"] = [*sessions["sess2"][:3], own]
    return sessions


def find_ccusage() -> str | None:
    for c in (shutil.which("ccusage"), ROOT / "bench/.cache/node_modules/.bin/ccusage"):
        if c and Path(c).exists():
            return str(c)
    return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_blocks_equal_ccusage_blocks_per_block(claude: Path, seed: int) -> None:
    exe = find_ccusage()
    if exe is None:
        pytest.skip("ccusage is not installed (python bench/ingest.py --install-ccusage puts it in bench/.cache)")
    ingest(write_history(claude, random_history(seed)))
    ours = usage_blocks()["rows"]
    env = {**os.environ, "TZ": "UTC"}
    proc = subprocess.run(
        [exe, "blocks", "--json", "--offline"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    theirs = [b for b in json.loads(proc.stdout)["blocks"] if not b.get("isGap")]
    assert len(ours) > 3
    got = [(r["start"], r["end"], *(r[k] for k in TOKEN_KEYS)) for r in ours]
    want = [(b["startTime"], b["endTime"], *(b["tokenCounts"][v] for v in TOKEN_KEYS.values())) for b in theirs]
    assert got == want

"""Claude Code's own ledger (`cost-state` lines) reconciled with the transcript: side calls counted once, forks
counted once, on sessions the real client 2.1.337 wrote, ingested by the real CLI into a real store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from transcript_corpus import FIXTURES

from skill_insights.cli import cli

V337 = FIXTURES / "2.1.337"
INTERACTIVE = "cd1cae45-8e6f-4163-bdba-17aac7bbc42f"
PARENT = "47df73d6-f18f-4fb3-abcf-2aa65c3efe49"
FORK = "208ed37b-170b-49c0-88f3-3dba5313d777"


def _projects(root: Path, *scenarios: str) -> Path:
    dest = root / "projects"
    for s in scenarios:
        shutil.copytree(V337 / s / "projects", dest, dirs_exist_ok=True)
    return dest


def _run(*args: str) -> str:
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def _show(sid: str) -> dict:
    return json.loads(_run("session", "show", sid, "--json"))


def _last_cost_state(path: Path) -> dict:
    states = [json.loads(line) for line in path.read_text().splitlines() if '"cost-state"' in line]
    return [s for s in states if s.get("type") == "cost-state"][-1]


def test_interactive_session_total_equals_claude_codes_ledger_with_the_title_call_apart(tmp_path: Path) -> None:
    projects = _projects(tmp_path, "interactive")
    r = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(projects)])
    assert r.exit_code == 0, r.output
    # The title call's model has no list price here: its cost is Claude Code's, and the user is told so.
    assert "claude-haiku-5-5" in r.output and "ledger" in r.output
    doc = _show(INTERACTIVE)
    ledger = _last_cost_state(next(projects.rglob(f"{INTERACTIVE}.jsonl")))
    assert ledger["totalCostUSD"] == 0.2201323
    assert doc["estimated_cost_usd"] == pytest.approx(0.2201323, abs=1e-9)
    side = doc["side_calls"]
    assert list(side) == ["claude-haiku-5-5"]
    assert side["claude-haiku-5-5"]["input_tokens"] == 4
    assert side["claude-haiku-5-5"]["output_tokens"] == 16
    assert side["claude-haiku-5-5"]["cache_creation_input_tokens"] == 1022
    assert side["claude-haiku-5-5"]["cost_usd"] == pytest.approx(0.00013615, abs=1e-12)
    # Counted in the totals: the session's tokens hold the ledger's for every model.
    want = sum(
        u["inputTokens"] + u["outputTokens"] + u["cacheCreationInputTokens"] + u["cacheReadInputTokens"]
        for u in ledger["modelUsage"].values()
    )
    assert doc["total_tokens"] == want
    # The daily report counts the side call too, once.
    daily = json.loads(_run("usage", "daily", "--json"))
    assert daily["totals"]["cost_usd"] == pytest.approx(0.2201323, abs=1e-9)
    text = _run("session", "show", INTERACTIVE)
    assert "side calls  claude-haiku-5-5: 1,042 tokens" in text
    # A second ingest does not count it again.
    _run("ingest", "--projects-dir", str(projects))
    assert _show(INTERACTIVE)["estimated_cost_usd"] == pytest.approx(0.2201323, abs=1e-9)


def test_a_growing_ledger_moves_the_side_calls_and_nothing_else(tmp_path: Path) -> None:
    projects = _projects(tmp_path, "interactive")
    _run("ingest", "--projects-dir", str(projects))
    transcript = next(projects.rglob(f"{INTERACTIVE}.jsonl"))
    later = _last_cost_state(transcript)
    haiku = later["modelUsage"]["claude-haiku-5-5"]
    haiku["inputTokens"] += 10
    haiku["costUSD"] += 0.001
    later["totalCostUSD"] += 0.001
    later["timestamp"] = "2026-12-07T23:59:00.000Z"
    with transcript.open("a") as fh:
        fh.write(json.dumps(later) + "\n")
    _run("ingest", "--projects-dir", str(projects))
    doc = _show(INTERACTIVE)
    assert doc["side_calls"]["claude-haiku-5-5"]["input_tokens"] == 14
    assert doc["estimated_cost_usd"] == pytest.approx(0.2211323, abs=1e-9)


def test_a_fork_counts_its_parents_prompts_responses_and_ledger_once(tmp_path: Path) -> None:
    projects = _projects(tmp_path, "resume_fork")
    _run("ingest", "--projects-dir", str(projects))
    parent, fork = _show(PARENT), _show(FORK)
    fork_file = next(projects.rglob(f"{FORK}.jsonl"))
    prompts = [
        json.loads(line)["message"]["content"]
        for line in fork_file.read_text().splitlines()
        if json.loads(line).get("type") == "user" and isinstance(json.loads(line)["message"]["content"], str)
    ]
    assert prompts == ["first prompt", "third prompt", "fourth prompt"]  # two copied from the parent
    assert fork["messages"]["user"] == 1
    assert parent["messages"]["user"] == 2
    # The fork's time is its own: it starts after its parent's last copied line.
    assert fork["started_at"] > parent["started_at"]
    assert fork["duration_seconds"] < parent["duration_seconds"]
    # The fork's ledger covers the lineage: parent + fork equals it, and neither has side calls.
    ledger = _last_cost_state(fork_file)["totalCostUSD"]
    assert parent["estimated_cost_usd"] + fork["estimated_cost_usd"] == pytest.approx(ledger, abs=1e-9)
    assert parent["side_calls"] == {} and fork["side_calls"] == {}


def test_a_forks_ledger_repeats_its_parents_side_calls_which_count_once(tmp_path: Path) -> None:
    """A parent with a title call, forked: the fork's ledger restores the parent's, title call included."""
    projects = _projects(tmp_path, "resume_fork")
    parent_file = next(projects.rglob(f"{PARENT}.jsonl"))
    fork_file = next(projects.rglob(f"{FORK}.jsonl"))
    title = {
        "inputTokens": 4,
        "outputTokens": 16,
        "cacheReadInputTokens": 0,
        "cacheCreationInputTokens": 1022,
        "cacheCreationEphemeral5mInputTokens": 1022,
        "cacheCreationEphemeral1hInputTokens": 0,
        "costUSD": 0.00013615,
    }
    for path in (parent_file, fork_file):
        state = _last_cost_state(path)
        state["modelUsage"]["claude-haiku-5-5"] = title
        state["totalCostUSD"] += 0.00013615
        with path.open("a") as fh:
            fh.write(json.dumps(state) + "\n")
    _run("ingest", "--projects-dir", str(projects))
    parent, fork = _show(PARENT), _show(FORK)
    assert list(parent["side_calls"]) == ["claude-haiku-5-5"]
    assert fork["side_calls"] == {}
    daily = json.loads(_run("usage", "daily", "--json"))
    assert daily["totals"]["cost_usd"] == pytest.approx(_last_cost_state(fork_file)["totalCostUSD"], abs=1e-9)


def test_a_model_the_price_table_lacks_is_priced_from_the_ledger_with_a_warning(tmp_path: Path) -> None:
    projects = _projects(tmp_path, "interactive")
    transcript = next(projects.rglob(f"{INTERACTIVE}.jsonl"))
    transcript.write_text(transcript.read_text().replace("claude-sonnet-4-5", "claude-sonnet-9-9"))
    r = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(projects)])
    assert r.exit_code == 0, r.output
    assert "no price for model 'claude-sonnet-9-9'; priced from Claude Code's own ledger" in r.output
    assert "unknown (null)" not in r.output
    doc = _show(INTERACTIVE)
    assert doc["estimated_cost_usd"] == pytest.approx(0.2201323, abs=1e-9)
    assert doc["models"]["claude-sonnet-9-9"]["cost_usd"] == pytest.approx(0.21999615, abs=1e-9)
    # Its tokens are the transcript's (none are side calls), its cost Claude Code's.
    side = doc["side_calls"]["claude-sonnet-9-9"]
    assert side["total_tokens"] == 0 and side["cost_usd"] == pytest.approx(0.21999615, abs=1e-9)

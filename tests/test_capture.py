"""Capture core on real-client transcripts: exact totals, events, sessions, incremental tailing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from transcript_corpus import FIXTURES, assistant_line, copy_projects

from skill_insights import records
from skill_insights.cli import cli
from skill_insights.collectors.transcripts import TranscriptTailer, discover
from skill_insights.pricing import PriceTable
from skill_insights.settings import get_paths
from skill_insights.store import open_db
from skill_insights.store.rollups import flush
from skill_insights.usage import by_period, by_session, session_stats

TOKENS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def ingest(projects: Path | list[Path]):
    db = open_db(get_paths().database)
    roots = projects if isinstance(projects, list) else [projects]
    summary = TranscriptTailer(db, PriceTable.load()).ingest_paths(discover(roots))
    return db, summary


def totals(db) -> dict:
    t = by_period(db, "daily")["totals"]
    return {k: t[k] for k in (*TOKENS, "total_tokens", "cost_usd")}


def run(*args: str) -> object:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


# -- exactness against Claude Code's own accounting ----------------------------------------------------


def _cost_states(projects: Path) -> dict[str, dict]:
    """The last `cost-state` line of each 2.1.330 session: Claude Code's own running totals."""
    out = {}
    for f in projects.rglob("*.jsonl"):
        if f.parent.name == "subagents":
            continue
        last = None
        for line in f.read_text().splitlines():
            d = json.loads(line)
            if d.get("type") == "cost-state":
                last = d
        if last:
            out[f.stem] = last
    return out


def test_costs_and_tokens_equal_claude_codes_own_cost_state(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330")
    db, summary = ingest(projects)
    assert summary.malformed == 0
    states = _cost_states(projects)
    sessions = {r["session_id"]: r for r in by_session(db)["rows"]}
    # The resume scenario forks b9d6d587 into a410a5e3: cost-state of the fork covers the whole lineage.
    lineage = {"a410a5e3-6da8-49f6-b645-fcedba0cafc5": ["b9d6d587-7412-4ba9-8c3c-faa874a46742"]}
    checked = 0
    for sid, state in states.items():
        ids = [sid, *lineage.get(sid, [])]
        cost = sum(sessions[i]["cost_usd"] for i in ids)
        assert cost == pytest.approx(state["totalCostUSD"], abs=1e-9), sid
        usage = state["modelUsage"].get("claude-sonnet-4-5")
        if usage:
            assert sum(sessions[i]["input_tokens"] for i in ids) == usage["inputTokens"]
            assert sum(sessions[i]["output_tokens"] for i in ids) == usage["outputTokens"]
            assert sum(sessions[i]["cache_read_input_tokens"] for i in ids) == usage["cacheReadInputTokens"]
            assert sum(sessions[i]["cache_creation_input_tokens"] for i in ids) == usage["cacheCreationInputTokens"]
        checked += 1
    assert checked == 13


def test_fork_copies_count_once_and_belong_to_the_original(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330", ["resume"])
    db, _ = ingest(projects)
    sessions = {r["session_id"][:8]: r for r in by_session(db)["rows"]}
    # The original's own cost-state is 0.28049715; the fork added one response.
    assert sessions["b9d6d587"]["cost_usd"] == pytest.approx(0.28049715)
    assert sessions["a410a5e3"]["cost_usd"] == pytest.approx(0.36591915 - 0.28049715)
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 6
    assert db.execute("SELECT count(*) FROM response_obs").fetchone()[0] == 11


def test_2_1_197_exact_totals_and_events(tmp_path):
    projects = copy_projects(tmp_path, "2.1.197")
    db, summary = ingest(projects)
    assert summary.responses == 34 - 5  # 34 per file; 5 of them are the resume fork's copies
    t = totals(db)
    # Independent sums over distinct (message.id, requestId), synthetic lines excluded.
    assert (t["input_tokens"], t["output_tokens"]) == (76, 819)
    assert (t["cache_creation_input_tokens"], t["cache_read_input_tokens"]) == (495_071, 347_952)

    def stats(prefix: str) -> dict:
        row = db.execute("SELECT session_id FROM sessions WHERE session_id LIKE ?", [prefix + "%"]).fetchone()
        return session_stats(db, row[0])

    skill = stats("9a2457df")
    assert skill["skills_invoked"] == {"demo-skill": 1}
    assert skill["tools"] == {"Bash": {"calls": 1, "errors": 0}, "Skill": {"calls": 1, "errors": 0}}
    assert skill["messages"] == {"user": 1, "assistant": 3}
    assert skill["project"] == "/home/dev/project"
    assert skill["git_branch"] == "feature/demo"

    sub = stats("3e418548")
    # Tool calls of the main thread and of its subagent (the subagent ran Bash).
    assert sub["tools"] == {"Agent": {"calls": 1, "errors": 0}, "Bash": {"calls": 1, "errors": 0}}
    assert len(sub["subagents"]) == 1
    agent = sub["subagents"][0]
    assert agent["type"] == "general-purpose"
    assert agent["agent_id"] == "ae82ddf0fa1faccb9"
    assert agent["total_tokens"] == 5 + 49 + 17_530 + 15_392
    # The session's tokens include its subagent's own transcript.
    assert sub["total_tokens"] == 5 + 91 + 31_803 + 27_251 + agent["total_tokens"]

    mcp = stats("ed222b41")
    assert mcp["mcp_calls"] == {"demo": {"echo": 1}}

    clear = stats("e6c1337a")
    assert clear["slash_commands"] == {"/clear": 1, "/exit": 1}

    api_error = stats("f9f933b4")
    assert api_error["total_tokens"] == 0
    assert api_error["models"] == {}

    parallel = stats("04644fa9")
    assert parallel["tools"]["Bash"]["calls"] == 2
    assert parallel["messages"]["assistant"] == 2  # five lines, two API responses


def test_tool_errors_are_correlated_from_tool_results(tmp_path):
    projects = tmp_path / "projects" / "-p"
    projects.mkdir(parents=True)
    base = {"sessionId": "s1", "cwd": "/w", "timestamp": "2026-11-20T10:00:00.000Z"}
    lines = [
        {
            **base,
            "type": "assistant",
            "requestId": "r1",
            "message": {
                "id": "m1",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": 10, "output_tokens": 5},
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {}},
                    {"type": "tool_use", "id": "t2", "name": "Read", "input": {}},
                ],
            },
        },
        {
            **base,
            "type": "user",
            "message": {
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "no such file"},
                    {"type": "tool_result", "tool_use_id": "t2", "content": "ok"},
                ]
            },
        },
    ]
    (projects / "s1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    db, _ = ingest(tmp_path / "projects")
    s = session_stats(db, "s1")
    assert s["tools"] == {"Read": {"calls": 2, "errors": 1}}
    assert s["tool_errors"] == 1
    row = db.execute("SELECT calls, errors FROM tools_daily WHERE tool = 'Read'").fetchone()
    assert row == (2, 1)
    assert s["estimated_cost_usd"] == pytest.approx((10 * 1 + 5 * 5) / 1e6)


# -- incremental tailing ---------------------------------------------------------------------------------


def test_any_byte_split_gives_the_same_totals_as_one_pass(tmp_path):
    src = FIXTURES / "2.1.330" / "skill" / "projects" / "-home-dev-project"
    f = next(src.glob("*.jsonl"))
    data = f.read_bytes()
    reference_dir = tmp_path / "ref" / "-p"
    reference_dir.mkdir(parents=True)
    (reference_dir / f.name).write_bytes(data)
    db_ref, _ = ingest(tmp_path / "ref")
    expected = totals(db_ref)
    expected_lines = db_ref.execute("SELECT lines FROM files").fetchone()[0]

    for i, cut in enumerate((1, len(data) // 3, len(data) // 2 + 7, len(data) - 2)):
        os.environ["SKILL_INSIGHTS_HOME"] = str(tmp_path / f"si{i}")  # a fresh store for each cut
        live = tmp_path / f"live{i}" / "-p"
        live.mkdir(parents=True)
        target = live / f.name
        target.write_bytes(data[:cut])
        ingest(live.parent)
        with target.open("ab") as fh:
            fh.write(data[cut:])
        db, summary = ingest(live.parent)
        assert summary.malformed == 0
        assert totals(db) == expected
        assert db.execute("SELECT lines, offset FROM files").fetchone() == (expected_lines, len(data))


def test_partial_last_line_is_kept_until_completed(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    line = assistant_line("m", 7)
    f = d / "s.jsonl"
    f.write_text(line[:40])
    db, s1 = ingest(tmp_path / "projects")
    assert (s1.new_lines, s1.malformed) == (0, 0)
    with f.open("a") as fh:
        fh.write(line[40:] + "\n")
    db, s2 = ingest(tmp_path / "projects")
    assert (s2.new_lines, s2.responses, s2.malformed) == (1, 1, 0)
    assert totals(db)["output_tokens"] == 7


def test_unterminated_but_complete_last_line_is_taken_once(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    line = assistant_line("m", 7)
    f = d / "s.jsonl"
    f.write_text(line)
    db, s1 = ingest(tmp_path / "projects")
    assert s1.responses == 1
    with f.open("a") as fh:
        fh.write("\n")
    db, s2 = ingest(tmp_path / "projects")
    assert s2.responses == 0
    assert totals(db)["output_tokens"] == 7


def test_shrunk_or_replaced_file_is_rederived_without_double_counting(tmp_path):
    src = FIXTURES / "2.1.197" / "resume" / "projects" / "-home-dev-project"
    d = tmp_path / "projects" / "-home-dev-project"
    d.mkdir(parents=True)
    original = "2f958fa9-98cc-4562-aceb-3ed705d75663.jsonl"
    data = (src / original).read_bytes()
    f = d / original
    f.write_bytes(data)
    db, _ = ingest(tmp_path / "projects")
    full = totals(db)

    # Truncated to its first half of lines: the file shrank, so it is re-read from the start.
    lines = data.splitlines(keepends=True)
    f.write_bytes(b"".join(lines[: len(lines) // 2]))
    db, summary = ingest(tmp_path / "projects")
    assert summary.reset_files == 1
    half = totals(db)
    assert half["total_tokens"] < full["total_tokens"]

    # Replaced by a new file (new inode) with the full content again: back to the full totals.
    tmp = d / "tmp"
    tmp.write_bytes(data)
    tmp.replace(f)
    db, _ = ingest(tmp_path / "projects")
    assert totals(db) == full
    assert db.execute("SELECT count(*) FROM response_obs").fetchone()[0] == 5


def test_rewrite_in_place_with_same_size_is_detected(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)

    def line(mid: str, out: int) -> str:
        return assistant_line(mid, out) + "\n"

    f = d / "s.jsonl"
    f.write_text(line("m1", 10))
    ingest(tmp_path / "projects")
    # Same length, different bytes at the start, then growth: must not be read from the old offset.
    f.write_text(line("m2", 20) + line("m3", 30))
    db, summary = ingest(tmp_path / "projects")
    assert summary.reset_files == 1
    assert totals(db)["output_tokens"] == 50


def test_warm_rerun_reads_nothing(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330")
    db, first = ingest(projects)
    before = totals(db)
    db, second = ingest(projects)
    assert (second.new_lines, second.responses, second.changed_files) == (0, 0, 0)
    assert totals(db) == before
    assert first.new_lines > 0


def test_processor_version_bump_rederives_everything(tmp_path, monkeypatch):
    projects = copy_projects(tmp_path, "2.1.197")
    db, _ = ingest(projects)
    before = totals(db)
    monkeypatch.setattr(records, "PROCESSOR_VERSION", records.PROCESSOR_VERSION + 1)
    db, summary = ingest(projects)
    assert summary.reset_files == summary.files
    assert totals(db) == before
    versions = {r[0] for r in db.execute("SELECT processor_version FROM files")}
    assert versions == {records.PROCESSOR_VERSION}


# -- CLI contract ----------------------------------------------------------------------------------------


def test_cli_ingest_and_usage_json_contract(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330")
    r = run("ingest", "--projects-dir", str(projects))
    assert r.exit_code == 0
    assert r.output.strip().splitlines()[-1].startswith("14 files (14 changed), ")
    assert "malformed skipped" in r.output

    for period, key in (("daily", "date"), ("monthly", "month"), ("session", "session_id")):
        r = run("usage", period, "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        assert set(doc) == {"rows", "totals"}
        for row in [*doc["rows"], doc["totals"]]:
            for field in (*TOKENS, "total_tokens", "cost_usd"):
                assert field in row, (period, field)
            assert row["total_tokens"] == sum(row[f] for f in TOKENS)
        assert all(key in row for row in doc["rows"])
        if period == "session":
            assert all({"project", "models"} <= set(row) for row in doc["rows"])
    daily = json.loads(run("usage", "daily", "--json").output)
    sessions = json.loads(run("usage", "session", "--json").output)
    assert daily["totals"]["total_tokens"] == sessions["totals"]["total_tokens"] > 0
    assert daily["totals"]["cost_usd"] == pytest.approx(sessions["totals"]["cost_usd"])


def test_cli_usage_filters(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330")
    run("ingest", "--projects-dir", str(projects))
    day = json.loads(run("usage", "daily", "--json").output)["rows"][0]["date"]
    assert json.loads(run("usage", "daily", "--json", "--since", day, "--until", day).output)["rows"]
    assert json.loads(run("usage", "daily", "--json", "--until", "2000-01-01").output)["rows"] == []
    proj = json.loads(run("usage", "session", "--json", "--project", "/home/dev/project").output)
    assert len(proj["rows"]) == 13
    assert json.loads(run("usage", "daily", "--json", "--project", "nowhere").output)["rows"] == []
    bad = run("usage", "daily", "--since", "yesterday-ish")
    assert bad.exit_code == 2
    assert "not a date" in bad.output


def test_cli_session_show(tmp_path):
    projects = copy_projects(tmp_path, "2.1.330", ["subagent"])
    run("ingest", "--projects-dir", str(projects))
    r = run("session", "show", "53d5b436", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["session_id"] == "53d5b436-9383-4ee2-8b02-5a98be74a368"
    assert s["estimated_cost_usd"] == pytest.approx(0.1542423)
    assert s["subagents"][0]["type"] == "general-purpose"
    assert s["subagents"][0]["agent_id"] == "a37e2033a2256258f"
    for key in ("models", "total_tokens", "tools", "skills_invoked", "duration_seconds", "active_seconds"):
        assert key in s
    assert 0 < s["active_seconds"] <= s["duration_seconds"]
    text = run("session", "show", "53d5b436")
    assert "general-purpose" in text.output
    missing = run("session", "show", "nope")
    assert missing.exit_code == 1
    assert missing.output.count("\n") == 1


def test_unknown_model_costs_null_with_a_warning(tmp_path):
    d = tmp_path / "projects" / "-p"
    d.mkdir(parents=True)
    (d / "s.jsonl").write_text(assistant_line("m", 7, model="claude-future-9") + "\n")
    r = CliRunner().invoke(cli, ["ingest", "--projects-dir", str(tmp_path / "projects")])
    assert "claude-future-9" in r.output
    r = CliRunner().invoke(cli, ["usage", "daily", "--json"])
    doc = json.loads(r.stdout)
    assert doc["rows"][0]["cost_usd"] is None
    assert doc["totals"]["cost_usd"] is None
    assert doc["totals"]["unpriced_models"] == ["claude-future-9"]
    assert "claude-future-9" in r.stderr


def test_ingest_missing_file_is_one_line_error(tmp_path):
    r = run("ingest", "--file", str(tmp_path / "nope.jsonl"))
    assert r.exit_code == 1
    assert r.output.strip().count("\n") == 0
    assert "no such transcript file" in r.output


def test_store_path_is_under_skill_insights_home(isolated_home, tmp_path):
    assert get_paths().database.is_relative_to(isolated_home.store)
    projects = copy_projects(tmp_path, "2.1.197", ["hello"])
    run("ingest", "--projects-dir", str(projects))
    assert (isolated_home.store / "data" / "skill-insights.db").exists()


def test_default_projects_dir_follows_claude_config_dir(isolated_home):
    target = isolated_home.claude / "projects"
    shutil.copytree(FIXTURES / "2.1.197" / "hello" / "projects", target)
    r = run("ingest")
    assert r.output.startswith("1 file (1 changed)")


def test_flush_is_idempotent(tmp_path):
    projects = copy_projects(tmp_path, "2.1.197")
    db, _ = ingest(projects)
    assert flush(db) == 0
    db.execute("INSERT INTO dirty VALUES ('date', (SELECT min(date) FROM responses))")
    before = db.execute("SELECT * FROM usage_daily ORDER BY date, model").fetchall()
    assert flush(db) == 1
    assert db.execute("SELECT * FROM usage_daily ORDER BY date, model").fetchall() == before


def test_ingest_missing_projects_dir_is_one_line_error(tmp_path):
    r = run("ingest", "--projects-dir", str(tmp_path / "nowhere"))
    assert r.exit_code == 1
    assert "no such projects folder" in r.output
    # The default folder missing is a fresh machine, not an error.
    r = run("ingest")
    assert r.exit_code == 0 and r.output.startswith("0 files")

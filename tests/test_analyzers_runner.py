"""The runner's process pool (a failing, a crashing and an invalid phase), storage, and `skill-insights analyze`."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import IsolatedHome
from test_analyzers_support import (
    closed_port_url,
    inventory,
    messages_reply,
    serve,
    skill_entry,
    write_inventory,
    write_skill,
)

from skill_insights.analyzers import runner
from skill_insights.cli import cli
from skill_insights.store import open_db


# Phases plugged in by name, as the runner takes any `module:function`. They run in the pool's workers.
def boom_phase(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("this phase always fails")


def crash_phase(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    os._exit(3)  # the worker process dies outright


def bad_quality(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    return {"phase": "quality", "schema_version": 1, "skills": [{"score": 900}], "findings": [], "summary": {}}


@pytest.fixture
def inv(tmp_path: Path) -> dict[str, Any]:
    root = tmp_path / "skills"
    body = "Extract the text of each page, then the tables, then the form fields, in that order.\n" * 3
    return inventory(
        skill_entry(write_skill(root, "pdf-extract", body=body)),
        skill_entry(write_skill(root, "pdf-text", body=body)),
        skill_entry(write_skill(root, "Bad_Name", description="I do things.")),
    )


def _options(tmp_path: Path) -> dict[str, Any]:
    return {
        "now": 1.8e9,
        "stale_days": 180,
        "usage": {},
        "cache_dir": str(tmp_path / "cache"),
        "home": str(tmp_path / "home"),
        "registry": {"skills_api_url": None},
    }


def test_a_failing_phase_is_reported_and_the_others_finish(tmp_path: Path, inv: dict[str, Any]) -> None:
    targets = {**runner.PHASES, "boom": "test_analyzers_runner:boom_phase"}
    db = open_db(tmp_path / "store.db")
    run_id, results = runner.analyze(db, inv, _options(tmp_path), ["quality", "boom", "duplicates"], targets)
    assert list(results) == ["quality", "boom", "duplicates"]
    assert results["boom"].status == "error"
    assert results["boom"].error == "RuntimeError: this phase always fails"
    assert results["quality"].status == "ok" and results["duplicates"].status == "ok"
    doc = runner.report(results)
    assert doc["phases"]["boom"]["error"] == "RuntimeError: this phase always fails"
    assert doc["phases"]["quality"]["findings"] > 0
    # stored: the run, each phase's result, every finding and the duplicate group
    assert db.execute("SELECT status FROM analysis_runs WHERE id = ?", [run_id]).fetchone() == ("partial",)
    phases = dict(db.execute("SELECT phase, status FROM analysis_phase_results WHERE run_id = ?", [run_id]))
    assert phases == {"quality": "ok", "boom": "error", "duplicates": "ok"}
    stored = db.execute("SELECT count(*) FROM analysis_findings WHERE run_id = ?", [run_id]).fetchone()[0]
    assert stored == len(doc["findings"]) > 0
    row = db.execute(
        "SELECT phase, skill_name, rule, evidence FROM analysis_findings WHERE rule = 'quality.name.charset'"
    ).fetchone()
    assert row[:3] == ("quality", "Bad_Name", "quality.name.charset") and json.loads(row[3])["name"] == "Bad_Name"
    groups = db.execute("SELECT kind, skills FROM analysis_duplicate_groups WHERE run_id = ?", [run_id]).fetchall()
    assert [(k, sorted(s["name"] for s in json.loads(v))) for k, v in groups] == [
        ("exact", ["pdf-extract", "pdf-text"])
    ]


def test_a_crashing_worker_and_an_invalid_output(tmp_path: Path, inv: dict[str, Any]) -> None:
    targets = {
        **runner.PHASES,
        "crash": "test_analyzers_runner:crash_phase",
        "quality": "test_analyzers_runner:bad_quality",
    }
    results = runner.run_phases(inv, _options(tmp_path), ["crash", "quality", "duplicates", "staleness"], targets)
    assert results["crash"].status == "error" and "died" in (results["crash"].error or "")
    assert results["duplicates"].status == "ok" and results["staleness"].status == "ok"
    assert results["quality"].status == "invalid"
    assert any(d.startswith("skills/0") for d in results["quality"].details)
    assert runner.report(results)["findings"] and all(
        f["phase"] != "quality" for f in runner.report(results)["findings"]
    )


def test_unknown_phase_is_refused(tmp_path: Path, inv: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        runner.run_phases(inv, _options(tmp_path), ["nope"])


# -- CLI ------------------------------------------------------------------------------------------------


@pytest.fixture
def paths(isolated_home: IsolatedHome, monkeypatch: pytest.MonkeyPatch) -> IsolatedHome:
    monkeypatch.setenv("SKILLS_API_URL", closed_port_url())  # offline registry
    return isolated_home


def test_cli_analyze_json(paths: IsolatedHome, inv: dict[str, Any]) -> None:
    inv_file = write_inventory(paths.root / "inventory.json", inv)
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) == {"phases", "findings", "duplicate_groups"}
    assert list(doc["phases"]) == ["staleness", "quality", "duplicates", "registry"]
    for p in doc["phases"].values():
        assert p["status"] == "ok" and isinstance(p["seconds"], float)
    assert doc["phases"]["registry"]["not_checked"] == 3  # offline: not checked, no error
    for f in doc["findings"]:
        assert set(f) == {"phase", "skill", "rule", "severity", "message", "fix", "evidence"}
        assert set(f["skill"]) == {"id", "name"}
    ids = {s["id"] for s in inv["skills"]}
    assert {f["skill"]["id"] for f in doc["findings"]} <= ids
    assert ("quality", "Bad_Name", "quality.name.charset") in {
        (f["phase"], f["skill"]["name"], f["rule"]) for f in doc["findings"]
    }
    assert doc["duplicate_groups"] == [
        {
            "kind": "exact",
            "similarity": 1.0,
            "skills": [
                {"id": inv["skills"][0]["id"], "name": "pdf-extract"},
                {"id": inv["skills"][1]["id"], "name": "pdf-text"},
            ],
        }
    ]
    db = open_db(paths.store / "data" / "skill-insights.db")
    assert db.execute("SELECT count(*), max(status) FROM analysis_runs").fetchone() == (1, "ok")


def test_cli_analyze_one_phase_and_text_summary(paths: IsolatedHome, inv: dict[str, Any]) -> None:
    inv_file = write_inventory(paths.root / "inventory.json", inv)
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--phase", "quality", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert list(doc["phases"]) == ["quality"]
    assert {f["phase"] for f in doc["findings"]} == {"quality"}
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--phase", "duplicates"])
    assert res.exit_code == 0, res.output
    assert "analysis run 2 over 3 skills" in res.output
    assert "duplicates (exact, 1.00): pdf-extract, pdf-text" in res.output


def test_cli_analyze_bad_inventory_and_bad_phase(paths: IsolatedHome) -> None:
    bad = paths.root / "bad.json"
    bad.write_text('{"nothing": true}')
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(bad)])
    assert res.exit_code != 0 and "not an inventory document" in res.output
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(bad), "--phase", "nope"])
    assert res.exit_code == 2 and "nope" in res.output


def test_cli_analyze_uses_captured_usage(paths: IsolatedHome, inv: dict[str, Any]) -> None:
    db = open_db(paths.store / "data" / "skill-insights.db")
    db.execute(
        "INSERT INTO events (file_id, kind, key, session_id, ts, date, name) VALUES "
        "(1, 'skill', 'toolu_1', 's1', strftime('%s','now'), date('now'), 'pdf-extract')"
    )
    db.conn.close()
    inv_file = write_inventory(paths.root / "inventory.json", inv)
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--phase", "staleness", "--json"])
    assert res.exit_code == 0, res.output
    never = {f["skill"]["name"] for f in json.loads(res.output)["findings"] if f["rule"] == "staleness.never-used"}
    assert never == {"pdf-text", "Bad_Name"}


def test_cli_analyze_scans_when_no_scan_is_stored(paths: IsolatedHome) -> None:
    # A throwaway HOME with one user skill: no stored scan, so analyze runs the inventory's `scan` first.
    write_skill(paths.claude / "skills", "Mixed_Case", body="Read [x](references/none.md).\n")
    res = CliRunner().invoke(cli, ["analyze", "--json", "--phase", "quality", "--phase", "staleness"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # the scan's summary went to stderr
    names = {f["skill"]["name"] for f in doc["findings"]}
    assert names == {"Mixed_Case"}
    rules = {f["rule"] for f in doc["findings"]}
    assert {"quality.name.charset", "quality.references.missing", "staleness.broken-reference"} <= rules
    # the scan was stored: the next analyze uses it without scanning again
    from skill_insights.collectors.skills.store import latest_inventory

    db = open_db(paths.store / "data" / "skill-insights.db")
    stored = latest_inventory(db)
    assert stored is not None and [s["name"] for s in stored["skills"]] == ["Mixed_Case"]
    assert {f["skill"]["id"] for f in doc["findings"]} == {stored["skills"][0]["id"]}


def test_cli_analyze_llm_judge_without_leaking_the_key(paths: IsolatedHome, inv: dict[str, Any], monkeypatch) -> None:
    inv_file = write_inventory(paths.root / "inventory.json", inv)
    # no key at all: the judge is "not configured", the phase still succeeds
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--phase", "quality", "--llm", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["phases"]["quality"]["llm"]["status"] == "not configured"

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-cli-secret-987")
    reply = {"description": 60, "content": 70, "reason": "fine"}
    with serve(lambda req: (200, messages_reply(reply))) as srv:
        monkeypatch.setenv("SKILL_INSIGHTS_LLM_BASE_URL", srv.url)
        monkeypatch.setenv("SKILL_INSIGHTS_LLM_MODEL", "judge-model")
        args = [
            "analyze",
            "--inventory",
            str(inv_file),
            "--phase",
            "quality",
            "--phase",
            "duplicates",
            "--llm",
            "--json",
        ]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["phases"]["quality"]["llm"]["status"] == "ok"
        assert doc["phases"]["quality"]["llm"]["model"] == "judge-model"
        assert {json.loads(r.body)["model"] for r in srv.requests} == {"judge-model"}
        # exact copies need no judge: only the three skills were judged
        assert len(srv.requests) == 3
    db_file = paths.store / "data" / "skill-insights.db"
    assert "sk-cli-secret-987" not in res.output
    assert b"sk-cli-secret-987" not in db_file.read_bytes()
    db = open_db(db_file)
    assert db.execute("SELECT count(*) FROM analysis_llm_cache WHERE kind = 'skill'").fetchone() == (3,)


def test_cli_text_summary_neutralises_control_characters(paths: IsolatedHome, tmp_path: Path) -> None:
    path = write_skill(tmp_path / "skills", "evil", name="evil\x1b[31mred")
    inv = inventory(skill_entry(path))
    inv["skills"][0]["name"] = "evil\x1b[31mred"
    inv_file = write_inventory(paths.root / "inventory.json", inv)
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--phase", "quality"])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "evil?[31mred" in res.output


def test_latest_run_reads_back_the_report_and_old_runs_are_pruned(tmp_path: Path, inv: dict[str, Any]) -> None:
    db = open_db(tmp_path / "store.db")
    _, results = runner.analyze(db, inv, _options(tmp_path), ["quality", "duplicates"])
    doc = runner.report(results)
    back = runner.latest_run(db)
    assert back is not None and back.pop("run_id") == 1
    assert back == json.loads(json.dumps(doc))
    # many more runs: only the newest KEEP_RUNS keep their findings and full outputs
    for _ in range(runner.KEEP_RUNS + 2):
        last = runner.store_run(db, inv, results, datetime.now(UTC))
    kept = {r[0] for r in db.execute("SELECT DISTINCT run_id FROM analysis_findings")}
    assert kept == set(range(last - runner.KEEP_RUNS + 1, last + 1))
    assert db.execute("SELECT count(*) FROM analysis_runs").fetchone() == (last,)
    assert db.execute("SELECT count(*) FROM analysis_phase_results WHERE output IS NOT NULL").fetchone() == (
        2 * runner.KEEP_RUNS,
    )


def test_activations_resolve_to_the_project_skill_before_the_user_skill(tmp_path: Path) -> None:
    # Two skills named `fmt`: one in project P, one at user level. A session in P used `fmt`: the project
    # skill was the one Claude Code loaded, so only the user skill is "never used".
    proj = tmp_path / "P"
    p_skill = write_skill(proj / ".claude" / "skills", "fmt", body="Project formatting rules.\n")
    u_skill = write_skill(tmp_path / "home" / ".claude" / "skills", "fmt", body="User formatting rules.\n")
    p_entry = skill_entry(p_skill, scope="project")
    p_entry["locations"][0]["project_root"] = str(proj)
    inv = inventory(p_entry, skill_entry(u_skill, scope="user"))
    db = open_db(tmp_path / "store.db")
    db.execute("INSERT INTO sessions (session_id, project) VALUES ('s1', ?)", [str(proj / "src")])
    db.execute(
        "INSERT INTO events (file_id, kind, key, session_id, ts, date, name) VALUES "
        "(1, 'skill', 'toolu_1', 's1', 1.79e9, '2026-09-20', 'fmt')"
    )
    _, results = runner.analyze(db, inv, {**_options(tmp_path), "usage": None}, ["staleness"])
    out = results["staleness"].output
    assert out is not None
    use = {s["skill"]["id"]: s["usage"] for s in out["skills"]}
    assert use[p_entry["id"]] == {"activations": 1, "sessions": 1, "last_used": 1.79e9}
    assert use[inv["skills"][1]["id"]] is None
    never = [f["skill"]["id"] for f in out["findings"] if f["rule"] == "staleness.never-used"]
    assert never == [inv["skills"][1]["id"]]


def test_cli_analyze_never_reads_a_skill_md_linked_outside_the_skill(
    paths: IsolatedHome, tmp_path: Path, monkeypatch
) -> None:
    # Regression: load_doc followed a SKILL.md symlink out of the skill, and `--llm` sent that file to the API.
    secret_text = "OUTSIDE-SECRET-7f3a"
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text(f"---\nname: leaky\ndescription: {secret_text}. Use when leaking.\n---\n{secret_text}\n")
    leaky = tmp_path / "skills" / "leaky"
    leaky.mkdir(parents=True)
    os.symlink(secret, leaky / "SKILL.md")
    entry = skill_entry(leaky)
    entry["description"] = None  # what the scanner reports: it refuses the outside link
    inv_file = write_inventory(paths.root / "inventory.json", inventory(entry))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    reply = {"description": 60, "content": 70, "reason": "fine"}
    with serve(lambda req: (200, messages_reply(reply))) as srv:
        monkeypatch.setenv("SKILL_INSIGHTS_LLM_BASE_URL", srv.url)
        res = CliRunner().invoke(cli, ["analyze", "--inventory", str(inv_file), "--json", "--llm"])
    assert res.exit_code == 0, res.output
    assert secret_text not in res.output
    assert all(secret_text.encode() not in r.body for r in srv.requests)
    doc = json.loads(res.stdout)
    rules = {f["rule"] for f in doc["findings"] if f["phase"] == "quality"}
    assert "quality.frontmatter.unreadable" in rules


def test_cli_analyze_does_not_hang_on_a_fifo(paths: IsolatedHome, tmp_path: Path) -> None:
    # Regression: a FIFO named notes.md in a skill blocked the analyzers' plain open() forever.
    path = write_skill(tmp_path / "skills", "piped")
    os.mkfifo(path / "notes.md")
    inv_file = write_inventory(paths.root / "inventory.json", inventory(skill_entry(path)))
    import signal
    import subprocess
    import sys

    args = [
        sys.executable,
        "-m",
        "skill_insights",
        "analyze",
        "--inventory",
        str(inv_file),
        "--json",
        "--phase",
        "quality",
        "--phase",
        "duplicates",
    ]
    # Its own process group: a hung run's pool workers are killed with it, not left blocked on the FIFO.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, err
    assert set(json.loads(out)["phases"]) == {"quality", "duplicates"}


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("skills", [1], "$.skills[0]"),
        ("locations", "oops", "$.skills[0].locations"),
    ],
)
def test_cli_analyze_schema_invalid_inventory_is_one_line_error(
    paths: IsolatedHome, inv: dict[str, Any], field: str, value: Any, where: str
) -> None:
    # Regression: a file with a `skills` list of the wrong shapes reached the analyzers: AttributeError traceback.
    doc = json.loads(json.dumps(inv))
    if field == "skills":
        doc["skills"] = value
    else:
        doc["skills"][0][field] = value
    bad = write_inventory(paths.root / "bad.json", doc)
    res = CliRunner().invoke(cli, ["analyze", "--inventory", str(bad), "--json"])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert f"schema at {where}:" in res.output
    # The bare `{"skills": [1]}` of a hand-made file fails the same way, at the document's first failure.
    res = CliRunner().invoke(
        cli, ["analyze", "--inventory", str(write_inventory(paths.root / "b2.json", {"skills": [1]}))]
    )
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit) and "schema at $" in res.output


def test_cli_analyze_refuses_a_fifo_inventory(paths: IsolatedHome) -> None:
    # Regression: `analyze --inventory FIFO` blocked forever in the read. A subprocess, so a hang is a timeout.
    import subprocess
    import sys

    fifo = paths.root / "inventory.fifo"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "skill_insights", "analyze", "--inventory", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "not a regular file" in proc.stderr
    assert fifo.is_fifo()

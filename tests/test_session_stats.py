"""`session stats` and `session mermaid` on sessions the real client wrote, ingested by the real tailer, with
commits from a real git repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_github_support import SKILL_SID, SUBAGENT_SID, reader, session_file, world  # noqa: F401

from skill_insights.cli import cli
from skill_insights.github import mermaid, stats
from skill_insights.github.facts import CallFact
from skill_insights.github.model import SCHEMA_FILE, schema_text
from skill_insights.schemas.validate import validate


def _usage_by_response(path: Path, after: float | None = None) -> dict[str, int]:
    """Each (message id, request id) once, summed: what the transcript itself says."""
    from datetime import datetime

    seen: dict[tuple[str, str], dict] = {}
    for line in path.read_text().splitlines():
        o = json.loads(line)
        m = o.get("message") or {}
        if o.get("type") != "assistant" or not m.get("usage") or m.get("model") == "<synthetic>":
            continue
        if after is not None and datetime.fromisoformat(o["timestamp"]).timestamp() <= after:
            continue
        seen[(m["id"], o.get("requestId"))] = m["usage"]
    keys = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return {k: sum(u.get(k, 0) for u in seen.values()) for k in keys}


def _skill_call_ts(path: Path) -> float:
    from datetime import datetime

    for line in path.read_text().splitlines():
        o = json.loads(line)
        content = (o.get("message") or {}).get("content")
        if isinstance(content, list) and any(b.get("name") == "Skill" for b in content if isinstance(b, dict)):
            return datetime.fromisoformat(o["timestamp"]).timestamp()
    raise AssertionError("no Skill call")


def test_skill_session_stats_match_the_transcript_the_repo_and_the_schema(world) -> None:  # noqa: F811
    r = CliRunner().invoke(cli, ["session", "stats", SKILL_SID[:8], "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    validate(doc, "session-stats")
    transcript = next(world.projects.rglob(f"{SKILL_SID}.jsonl"))
    whole = _usage_by_response(transcript)
    assert doc["total_tokens"] == {
        "input": whole["input_tokens"],
        "output": whole["output_tokens"],
        "cache_creation": whole["cache_creation_input_tokens"],
        "cache_read": whole["cache_read_input_tokens"],
    }
    assert doc["project"] == "acme/widgets" and doc["branch"] == "feature/demo"
    # Only the commit made while the session ran, not those before or after it.
    assert [c["sha"] for c in doc["commits"]] == [world.shas["during"]]
    assert doc["tools"] == {"Bash": 2, "Skill": 1} and doc["tool_errors"] == {"Bash": 1}
    assert doc["problems_faced"] == [
        {
            "description": "Bash failed 1x, then succeeded",
            "tool": "Bash",
            "resolved": True,
            "failures": 1,
            "iterations": 2,
            "retries": 1,
        }
    ]
    [skill] = doc["skills_invoked"]
    after = _usage_by_response(transcript, after=_skill_call_ts(transcript))
    assert skill["skill"] == "demo-skill" and skill["count"] == 1 and skill["status"] == "pass"
    assert skill["tokens"] == {
        "input": after["input_tokens"],
        "output": after["output_tokens"],
        "cache_creation": after["cache_creation_input_tokens"],
        "cache_read": after["cache_read_input_tokens"],
    }
    assert 0 < sum(skill["tokens"].values()) < sum(doc["total_tokens"].values())
    assert skill["invocations"] == [
        {"at": "2026-11-22T10:48:28.048Z", "agent_id": None, "failed": False, "tokens": skill["tokens"]}
    ]
    assert doc["workflow_edges"] == {"demo-skill": {"RUN->RUN": 1, "START->RUN": 1}}
    assert doc["workflow_error_edges"] == {"demo-skill": {"RUN->RUN": 1}}
    model = doc["models"]["claude-sonnet-4-5"]
    assert model["cost_usd"] == pytest.approx(doc["estimated_cost_usd"]) and doc["estimated_cost_usd"] > 0


def test_subagent_tokens_come_from_its_own_transcript(world) -> None:  # noqa: F811
    doc = stats.build(reader(world), SUBAGENT_SID).model_dump(mode="json")
    [sub] = doc["subagents"]
    own = _usage_by_response(next(world.projects.rglob("agent-*.jsonl")))
    assert sub["id"] == "ae82ddf0fa1faccb9" and sub["type"] == "general-purpose"
    assert sub["model"] == "claude-sonnet-4-5"
    assert sub["tokens"] == {
        "input": own["input_tokens"],
        "output": own["output_tokens"],
        "cache_creation": own["cache_creation_input_tokens"],
        "cache_read": own["cache_read_input_tokens"],
    }
    assert doc["commits"] == []  # the repository had no commit while this session ran
    main = _usage_by_response(session_file("subagent", SUBAGENT_SID))
    assert sum(doc["total_tokens"].values()) == sum(main.values()) + sum(own.values())


def test_mermaid_colours_taken_error_and_untaken_edges(world) -> None:  # noqa: F811
    r = CliRunner().invoke(cli, ["session", "mermaid", SKILL_SID])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "```mermaid" in out and "flowchart TD" in out
    assert 'START[demo-skill] -->|"run (1x)"| RUN[Bash]' in out
    assert 'RUN -->|"retry (1x)"| RUN' in out
    assert f"linkStyle 0 stroke:{mermaid.GREEN}" in out  # START -> RUN, taken
    assert f"linkStyle 1 stroke:{mermaid.RED}" in out  # RUN -> RUN, left from the failed Bash call
    assert f"linkStyle 2 stroke:{mermaid.GREY}" in out and f"linkStyle 3 stroke:{mermaid.GREY}" in out
    assert "class DONE,LOOK si_unvisited" in out


def test_mermaid_without_a_diagram_says_so(world) -> None:  # noqa: F811
    r = CliRunner().invoke(cli, ["session", "mermaid", SUBAGENT_SID])
    assert r.exit_code == 0 and "no invoked skill" in r.output and "```" not in r.output


def test_unknown_or_ambiguous_session_is_a_one_line_error(world) -> None:  # noqa: F811
    r = CliRunner().invoke(cli, ["session", "stats", "ffffffff"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "no session 'ffffffff'" in r.output
    r = CliRunner().invoke(cli, ["session", "stats", ""])
    assert r.exit_code == 1 and "matches several sessions" in r.output


def test_shipped_schema_is_the_model_s() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
    r = CliRunner().invoke(cli, ["schema", "session-stats"])
    assert r.exit_code == 0 and json.loads(r.output)["title"] == "SessionStats"


def _call(n: int, tool: str, failed: bool, agent: str | None = None, skill: str | None = None) -> CallFact:
    return CallFact(f"t{n}", float(n), agent, tool, failed, skill)


def test_problems_count_retries_until_success_per_tool_and_thread() -> None:
    calls = [
        _call(1, "Bash", True),
        _call(2, "Read", False),
        _call(3, "Bash", True),
        _call(4, "Edit", True),
        _call(5, "Bash", False),
        _call(6, "Bash", True, agent="a1"),
        _call(7, "Bash", False),
    ]
    got = [(p.tool, p.resolved, p.failures, p.iterations, p.retries) for p in stats.problems(calls)]
    # Bash: failed twice, then the third call succeeded; the subagent's Bash never succeeded in its thread.
    assert got == [("Bash", True, 2, 3, 2), ("Edit", False, 1, 1, None), ("Bash", False, 1, 1, None)]


def test_skill_status_failed_errors_pass() -> None:
    calls = [
        _call(1, "Skill", True, skill="a"),
        _call(2, "Skill", False, skill="b"),
        _call(3, "Bash", True),
        _call(4, "Skill", False, skill="c"),
        _call(5, "Bash", True),
        _call(6, "Bash", False),
    ]
    got = {k.skill: k.status for k in stats.skills_invoked(calls, [])}
    assert got == {"a": "failed", "b": "errors", "c": "pass"}


def test_mermaid_reads_inline_labels_and_groups_and_leaves_unreadable_links_uncoloured() -> None:
    src = "graph LR\n  A -- go on --> B\n  A & B -.-> C\n  C == done ==> D((end))\n"
    chart = mermaid.parse_flowchart(src)
    assert [(e.src, e.dst, e.label) for e in chart.edges] == [
        ("A", "B", "go on"),
        ("A", "C", None),
        ("B", "C", None),
        ("C", "D", "done"),
    ]
    counts, errors, _ = mermaid.traverse(chart, [mermaid.Step("a"), mermaid.Step("b", True), mermaid.Step("c")])
    assert counts == {"A->B": 1, "B->C": 1} and errors == {"B->C": 1}
    out = mermaid.annotate(src, counts, errors)
    assert 'A -->|"go on (1x)"| B' in out and f"linkStyle 2 stroke:{mermaid.RED}" in out
    broken = "graph TD\n  A --> B\n  B --o--x C\n"
    assert mermaid.annotate(broken, {"A->B": 1}, {}).startswith(broken.rstrip("\n"))
    assert "linkStyle" not in mermaid.annotate(broken, {"A->B": 1}, {})


def test_extract_mermaid_takes_the_first_flowchart_fence() -> None:
    md = "x\n```mermaid\nsequenceDiagram\n  A->>B: hi\n```\n\n~~~~mermaid\nflowchart TD\n  A-->B\n~~~~\n"
    assert mermaid.extract_mermaid(md) == "flowchart TD\n  A-->B"
    assert mermaid.extract_mermaid("no diagram") is None


def test_a_skill_a_subagent_invokes_counts_its_own_responses() -> None:
    from skill_insights.github.facts import ResponseFact

    calls = [
        _call(1, "Skill", False, skill="plan"),
        _call(2, "Agent", False),
        _call(3, "Skill", False, agent="sub1", skill="review"),
    ]
    responses = [ResponseFact(1.5, None, "m", 1, 10, 0, 0, 0.1), ResponseFact(3.5, "sub1", "m", 2, 5, 0, 0, 0.2)]
    got = {k.skill: (k.count, k.tokens.output, k.cost_usd) for k in stats.skills_invoked(calls, responses)}
    assert got == {"plan": (1, 15, pytest.approx(0.3)), "review": (1, 5, pytest.approx(0.2))}
    twice = [_call(1, "Skill", False, skill="plan"), _call(2, "Skill", True, skill="plan")]
    [plan] = stats.skills_invoked(
        twice, [ResponseFact(1.5, None, "m", 0, 4, 0, 0, 0.0), ResponseFact(2.5, None, "m", 0, 6, 0, 0, 0.0)]
    )
    assert [(i.failed, i.tokens.output) for i in plan.invocations] == [(False, 4), (True, 6)]
    assert plan.tokens.output == 10 and plan.status == "pass"


def test_skill_md_is_read_only_as_a_plain_file(tmp_path: Path) -> None:
    import os

    from skill_insights.github.facts import MAX_SKILL_MD, read_skill_md

    outside = tmp_path / "secret.md"
    outside.write_text("```mermaid\nflowchart TD\n  SECRET --> KEY\n```\n")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "SKILL.md").symlink_to(outside)
    assert read_skill_md(str(linked)) is None
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "SKILL.md")
    assert read_skill_md(str(fifo)) is None  # and returns at once
    big = tmp_path / "big"
    big.mkdir()
    (big / "SKILL.md").write_text("x" * (MAX_SKILL_MD + 1))
    assert read_skill_md(str(big)) is None
    (big / "SKILL.md").write_text("plain")
    assert read_skill_md(str(big)) == read_skill_md(str(big / "SKILL.md")) == "plain"

"""`session post` and `session summary` against a fake GitHub API on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
from click.testing import CliRunner
from test_github_support import (  # noqa: F401
    SKILL_SID,
    SUBAGENT_SID,
    TOKEN,
    FakeState,
    fake_github,
    world,
)

from skill_insights.cli import cli
from skill_insights.github import render
from skill_insights.github.client import GitHub, GitHubError, api_url


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _post(sid: str, *target: str):
    return _run("session", "post", sid, "--repo", "acme/widgets", *(target or ("--pr", "12")))


def test_posting_twice_updates_the_one_comment(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, "Widget fix", pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    fake_github.comments.append({"id": 1, "issue": 12, "body": "LGTM"})
    first = _post(SKILL_SID)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("created comment ")
    second = _post(SKILL_SID)
    assert second.exit_code == 0 and second.output.startswith("updated comment ")
    marked = [c for c in fake_github.thread(12) if c["body"].startswith("<!-- SESSION:")]
    assert len(marked) == 1 and marked[0]["updated"] == 1
    assert fake_github.thread(12)[0]["body"] == "LGTM"  # others' comments untouched
    body = marked[0]["body"]
    assert body.startswith(f"<!-- SESSION:{SKILL_SID[:8]} -->\n## Claude Code Session Report")
    doc = render.json_block(body)
    assert doc["session_id"] == SKILL_SID and doc["target"] == {"type": "pr", "number": 12}
    for heading in (
        "### Token Usage",
        "### Skills & Tools",
        "### Workflow: demo-skill",
        "### Problems Faced",
        "### Commits",
        "<details><summary>Session Data (JSON)</summary>",
    ):
        assert heading in body
    assert "```mermaid\nflowchart TD" in body and "**TL;DR:** Session `9a2457df`" in body


def test_hostile_commit_subject_is_escaped_everywhere(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    assert _post(SKILL_SID).exit_code == 0
    body = fake_github.thread(12)[0]["body"]
    # The subject is "Fix the widget <b>@team</b> | `x`": no tag, no mention, no cell break, no code span.
    assert "<b>" not in body and "@team" not in body
    assert "Fix the widget &lt;b&gt;&#64;team&lt;/b&gt; \\| \\`x\\`" in body
    json_part = body[body.index("```json") :]
    assert "<b>" not in json_part and "\\u003cb\\u003e" in json_part and json_part.count("```") == 2
    assert render.json_block(body)["commits"][0]["message"] == "Fix the widget <b>@team</b> | `x`"


def test_summary_is_the_sum_of_its_session_comments(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    assert _post(SKILL_SID).exit_code == 0 and _post(SUBAGENT_SID).exit_code == 0
    r = _run("session", "summary", "--repo", "acme/widgets", "--pr", "12")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("created summary") and "over 2 sessions" in r.output
    sessions = [render.json_block(c["body"]) for c in fake_github.thread(12) if render.marker_of(c["body"])]
    [summary] = [c for c in fake_github.thread(12) if render.is_summary(c["body"])]
    agg = render.json_block(summary["body"], render.SUMMARY_JSON_SUMMARY)
    assert agg["sessions"] == 2 and set(agg["session_ids"]) == {SKILL_SID, SUBAGENT_SID}
    assert agg["total_cost_usd"] == pytest.approx(sum(s["estimated_cost_usd"] for s in sessions), abs=1e-6)
    assert agg["total_commits"] == sum(len(s["commits"]) for s in sessions) == 1
    for key in ("input", "output", "cache_creation", "cache_read"):
        assert agg["total_tokens"][key] == sum(s["total_tokens"][key] for s in sessions)
    # The verification lines add up as written.
    line = re.search(r"Sum of session costs: (.+) = \*\*\$([0-9.]+)\*\*", summary["body"])
    parts = [Decimal(p.strip().lstrip("$")) for p in line.group(1).split("+")]
    assert sum(parts) == Decimal(line.group(2)) and len(parts) == 2
    line = re.search(r"Sum of session commits: (.+) = \*\*(\d+)\*\*", summary["body"])
    assert sum(int(p) for p in line.group(1).split("+")) == int(line.group(2)) == 1
    # Again: the same comment, recomputed, not a second summary.
    again = _run("session", "summary", "--repo", "acme/widgets", "--pr", "12")
    assert again.output.startswith("updated summary")
    assert sum(render.is_summary(c["body"]) for c in fake_github.thread(12)) == 1


def test_a_hand_broken_json_block_is_reported_and_skipped(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(40)
    assert _post(SKILL_SID, "--issue", "40").exit_code == 0
    assert _post(SUBAGENT_SID, "--issue", "40").exit_code == 0
    broken = next(c for c in fake_github.thread(40) if render.marker_of(c["body"]) == SUBAGENT_SID[:8])
    broken["body"] = broken["body"].replace('"session_id":', '"session_id" oops', 1)
    r = CliRunner().invoke(cli, ["session", "summary", "--repo", "acme/widgets", "--issue", "40"])
    assert r.exit_code == 0, r.output
    assert f"warning: comment {broken['id']} (SESSION:{SUBAGENT_SID[:8]}): its JSON block is not valid JSON" in r.output
    assert "over 1 sessions, 1 skipped" in r.output
    [summary] = [c for c in fake_github.thread(40) if render.is_summary(c["body"])]
    agg = render.json_block(summary["body"], render.SUMMARY_JSON_SUMMARY)
    assert agg["session_ids"] == [SKILL_SID]
    assert "1 session comment(s) skipped" in summary["body"]


def test_summary_with_no_session_comment_fails_in_one_line(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(41)
    r = _run("session", "summary", "--repo", "acme/widgets", "--issue", "41")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "no readable session comment" in r.output
    assert fake_github.thread(41) == []


def test_rate_limit_403_is_waited_out(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    fake_github.rate_limited = 1
    fake_github.rate_reset_s = 1.0
    t0 = time.time()
    r = _post(SKILL_SID)
    assert r.exit_code == 0, r.output
    assert "GitHub rate limit on GET" in r.output and "waiting" in r.output
    assert len(fake_github.rate_limited_at) == 1
    gets = [p for m, p in fake_github.requests if m == "GET" and "/issues/12/comments" in p]
    assert len(gets) == 2  # the limited one and its retry
    assert time.time() - t0 >= 0.5
    assert len(fake_github.thread(12)) == 1


def test_a_rate_limit_longer_than_the_bound_is_an_error_not_a_hang(fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12)
    fake_github.rate_limited = 5
    fake_github.rate_reset_s = 3600
    t0 = time.time()
    with GitHub(TOKEN, api_url(), max_wait=5) as gh, pytest.raises(GitHubError, match="rate limited for") as e:
        gh.issue_comments("acme/widgets", 12)
    assert time.time() - t0 < 5 and "\n" not in str(e.value)


def test_retry_after_is_honoured(fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12)
    waits: list[float] = []
    fake_github.rate_limited = 1
    fake_github.rate_retry_after = "7"
    with GitHub(TOKEN, api_url(), sleep=waits.append) as gh:
        assert gh.issue_comments("acme/widgets", 12) == []
    assert waits == [7.0]
    fake_github.rate_limited = 1
    fake_github.rate_retry_after = None  # exhausted primary limit: wait until x-ratelimit-reset
    with GitHub(TOKEN, api_url(), sleep=waits.append) as gh:
        assert gh.issue_comments("acme/widgets", 12) == []
    assert len(waits) == 2 and 0 < waits[1] <= fake_github.rate_reset_s + 1
    fake_github.rate_limited = 1
    fake_github.rate_retry_after = ""  # a secondary limit with no header: a minute's pause
    with GitHub(TOKEN, api_url(), sleep=waits.append) as gh:
        assert gh.issue_comments("acme/widgets", 12) == []
    assert waits[2] == 60.0


def test_no_token_is_a_one_line_error(world, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: F811
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no `gh` to ask
    r = _post(SKILL_SID)
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "no GitHub token" in r.output


def test_target_and_repo_are_checked(world) -> None:  # noqa: F811
    r = _run("session", "post", SKILL_SID, "--repo", "acme/widgets", "--pr", "1", "--issue", "2")
    assert r.exit_code == 2 and "exactly one of --pr N and --issue N" in r.output
    r = _run("session", "post", SKILL_SID, "--repo", "../etc", "--pr", "1")
    assert r.exit_code == 2 and "OWNER/NAME" in r.output


def test_an_api_error_is_one_line_without_the_token(world, fake_github: FakeState) -> None:  # noqa: F811
    r = _post(SKILL_SID, "--issue", "999")  # no such issue in the fake
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "404 Not Found" in r.output and TOKEN not in r.output


def test_session_comment_json_is_a_valid_session_document(world, fake_github: FakeState) -> None:  # noqa: F811
    from skill_insights.schemas.validate import validate

    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    assert _post(SKILL_SID).exit_code == 0
    doc = render.json_block(fake_github.thread(12)[0]["body"])
    validate(doc, "session-stats")
    stats = json.loads(_run("session", "stats", SKILL_SID, "--json").output)
    assert {**doc, "target": None} == stats


def test_a_report_too_long_for_github_drops_its_diagrams_then_refuses(world) -> None:  # noqa: F811
    from skill_insights.github import stats
    from skill_insights.store import open_reader

    doc = stats.build(open_reader(world.db_path), SKILL_SID).model_dump(mode="json")
    huge = "flowchart TD\n" + "".join(f"    N{i}[step {i}] --> N{i + 1}\n" for i in range(4000))
    body = render.session_comment(doc, {"demo-skill": huge})
    assert len(body) <= render.MAX_COMMENT_CHARS
    assert "```mermaid" not in body and "1 workflow diagram(s) left out" in body
    assert render.json_block(body) == doc
    doc["tools"] = {f"tool_{i}": i for i in range(5000)}
    with pytest.raises(render.CommentTooLong, match="over GitHub's 65,536"):
        render.session_comment(doc, {})


def test_the_token_can_come_from_gh(world, fake_github: FakeState, monkeypatch, tmp_path) -> None:  # noqa: F811
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(f'#!/bin/sh\n[ "$1 $2" = "auth token" ] && echo {TOKEN} && exit 0\nexit 1\n')
    gh.chmod(0o755)
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    r = _post(SKILL_SID)
    assert r.exit_code == 0, r.output
    assert len(fake_github.thread(12)) == 1 and TOKEN not in r.output


HOSTILE_SKILL = "<img src=x onerror=alert(1)>|@admins`x`"


def test_hostile_skill_and_branch_names_are_escaped(world, fake_github: FakeState) -> None:  # noqa: F811
    from test_github_support import ingest, write_session

    sid = "44444444-2222-4333-8444-555555555555"
    write_session(
        world.projects, world.repo, "skill", SKILL_SID, new_sid=sid, skill_name=HOSTILE_SKILL, branch="<b>br</b>|@x"
    )
    ingest(world.projects)
    fake_github.add_issue(60)
    assert _post(sid, "--issue", "60").exit_code == 0
    assert _run("session", "summary", "--repo", "acme/widgets", "--issue", "60").exit_code == 0
    for c in fake_github.thread(60):
        body = c["body"]
        assert "<img" not in body and "<b>" not in body and "@admins" not in body and "@x" not in body
        assert "&lt;img src=x onerror=alert\\(1\\)&gt;\\|&#64;admins\\`x\\`" in body
    doc = render.json_block(fake_github.thread(60)[0]["body"])
    assert doc["skills_invoked"][0]["skill"] == HOSTILE_SKILL and doc["branch"] == "<b>br</b>|@x"

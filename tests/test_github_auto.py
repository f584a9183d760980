"""Opt-in posting at SessionEnd: the target is the open PR of the session's branch, else the issue the branch
names, never a guess; against a fake GitHub API on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest
from test_github_support import (  # noqa: F401
    SKILL_SID,
    TOKEN,
    FakeState,
    fake_github,
    ingest,
    reader,
    world,
    write_session,
)

from skill_insights.github import render
from skill_insights.github.auto import issue_number_of, post_at_session_end, repo_settings
from skill_insights.github.client import GitHub, api_url

OPTED_IN = {"github": {"repos": {"acme/widgets": {"post_session_end": True}}}}


def _session_on_branch(world, branch: str, sid: str) -> str:  # noqa: F811
    write_session(world.projects, world.repo, "skill", SKILL_SID, branch=branch, new_sid=sid)
    ingest(world.projects)
    return sid


def _post(world, sid: str, config=OPTED_IN):  # noqa: F811
    with GitHub(TOKEN, api_url()) as gh:
        return post_at_session_end(reader(world), sid, config, gh)


def test_posts_to_the_open_pull_request_of_the_branch(world, fake_github: FakeState, caplog) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    fake_github.add_issue(13, pr={"head": {"ref": "other", "sha": "def"}})
    with caplog.at_level(logging.INFO, logger="skill_insights.github"):
        out = _post(world, SKILL_SID)
    assert out.posted and out.target.type == "pr" and out.target.number == 12
    assert "open pull request #12 has head feature/demo" in caplog.text
    bodies = [c["body"] for c in fake_github.thread(12)]
    assert len(bodies) == 2 and render.marker_of(bodies[0]) == SKILL_SID[:8] and render.is_summary(bodies[1])
    assert render.json_block(bodies[0])["target"] == {"type": "pr", "number": 12}
    assert fake_github.thread(13) == []
    again = _post(world, SKILL_SID)  # a resumed session ends again: the same two comments, updated
    assert again.posted and "updated" in again.reason and len(fake_github.thread(12)) == 2


def test_posts_to_the_issue_the_branch_names(world, fake_github: FakeState) -> None:  # noqa: F811
    sid = _session_on_branch(world, "123-fix-widgets", "11111111-2222-4333-8444-555555555555")
    fake_github.add_issue(123)
    out = _post(world, sid)
    assert out.posted and out.target.type == "issue" and out.target.number == 123
    assert render.marker_of(fake_github.thread(123)[0]["body"]) == "11111111"


def test_nothing_is_posted_when_the_branch_names_no_existing_issue(world, fake_github: FakeState, caplog) -> None:  # noqa: F811
    sid = _session_on_branch(world, "issue-77", "22222222-2222-4333-8444-555555555555")
    with caplog.at_level(logging.INFO, logger="skill_insights.github"):
        out = _post(world, sid)
    assert not out.posted and "issue #77 does not exist" in out.reason
    assert "issue #77 does not exist" in caplog.text
    assert not [m for m, _ in fake_github.requests if m in ("POST", "PATCH")]


def test_nothing_is_posted_for_a_branch_without_pr_or_issue(world, fake_github: FakeState) -> None:  # noqa: F811
    out = _post(world, SKILL_SID)  # feature/demo: no open PR in the fake, no number in the name
    assert not out.posted and "branch names no issue" in out.reason
    assert fake_github.comments == []


def test_a_pull_request_number_in_the_branch_is_not_taken_for_an_issue(world, fake_github: FakeState) -> None:  # noqa: F811
    sid = _session_on_branch(world, "55-thing", "33333333-2222-4333-8444-555555555555")
    fake_github.add_issue(55, pr={"head": {"ref": "someone-else", "sha": "x"}, "state": "closed"})
    out = _post(world, sid)
    assert not out.posted and "is a pull request" in out.reason and fake_github.thread(55) == []


def test_a_repository_that_did_not_opt_in_is_left_alone(world, fake_github: FakeState) -> None:  # noqa: F811
    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    for config in (
        {},
        {"github": {"repos": {"acme/widgets": {"post_session_end": False}}}},
        {"github": {"repos": {"acme/other": {"post_session_end": True}}}},
        {"github": "yes"},
    ):
        out = _post(world, SKILL_SID, config)
        assert not out.posted and "has not opted in" in out.reason
    assert fake_github.requests == []


def test_a_github_failure_is_an_outcome_not_an_exception(world, fake_github: FakeState, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("GITHUB_TOKEN", "a-wrong-token")
    out = post_at_session_end(reader(world), SKILL_SID, OPTED_IN)
    assert not out.posted and "GitHub failed" in out.reason and "401" in out.reason
    assert "a-wrong-token" not in out.reason


@pytest.mark.parametrize(
    ("branch", "number"),
    [
        ("123-fix", 123),
        ("issue-123", 123),
        ("issues/45", 45),
        ("feature/123-x", 123),
        ("fix/gh-9", 9),
        ("ISSUE_7_thing", 7),
        ("feature/demo", None),
        ("fix/keycloak-652", None),
        ("v2.1", None),
        ("0-zero", None),
        ("release-2026", None),
    ],
)
def test_issue_number_of_branch(branch: str, number: int | None) -> None:
    assert issue_number_of(branch) == number


def test_repo_settings_keys() -> None:
    cfg = {"github": {"repos": {"github.com/acme/widgets": {"post_session_end": True, "summary": False}}}}
    assert repo_settings(cfg, "github.com/acme/widgets") == {"post_session_end": True, "summary": False}
    assert repo_settings(OPTED_IN, "github.com/acme/widgets") == {"post_session_end": True}
    assert repo_settings(OPTED_IN, None) is None


def test_enabled_only_with_a_repository_that_opted_in() -> None:
    from skill_insights.github.auto import enabled

    assert enabled(OPTED_IN)
    assert not enabled({}) and not enabled({"github": []}) and not enabled({"github": {"repos": {"a/b": True}}})
    assert not enabled({"github": {"repos": {"a/b": {"post_session_end": "yes"}}}})


def test_at_session_end_reads_the_config_and_posts(world, fake_github: FakeState) -> None:  # noqa: F811
    from skill_insights.github.auto import at_session_end
    from skill_insights.settings import get_paths

    fake_github.add_issue(12, pr={"head": {"ref": "feature/demo", "sha": "abc"}})
    assert at_session_end(world.db_path, SKILL_SID) is None  # no config.json: nothing asked of GitHub
    assert fake_github.requests == []
    cfg = get_paths().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('{"github": {"repos": {"github.com/acme/widgets": {"post_session_end": true, "summary": false}}}}')
    out = at_session_end(world.db_path, SKILL_SID)
    assert out is not None and out.posted and out.target.number == 12
    assert [render.marker_of(c["body"]) for c in fake_github.thread(12)] == [SKILL_SID[:8]]  # no summary asked

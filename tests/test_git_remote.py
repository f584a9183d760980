"""Sessions carry the normalised git remote of their working directory."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from skill_insights.cli import cli
from skill_insights.collectors.git import normalize_remote, remote_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:org/repo.git", "github.com/org/repo"),
        ("https://github.com/org/repo", "github.com/org/repo"),
        ("https://user:s3cret@GitHub.com/org/repo.git", "github.com/org/repo"),
        ("ssh://git@gitlab.example.com:2222/group/sub/repo.git", "gitlab.example.com/group/sub/repo"),
        ("", None),
        ("not a url", None),
    ],
)
def test_normalize_remote(url, expected):
    assert normalize_remote(url) == expected


def test_session_gets_the_remote_of_a_real_repository(tmp_path):
    repo = tmp_path / "work" / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "origin", "https://tok:x@github.com/acme/widgets.git"], check=True
    )
    subprocess.run(
        ["git", "-C", str(repo), "remote", "add", "upstream", "git@github.com:other/widgets.git"], check=True
    )
    assert remote_of(repo / "src") == "github.com/acme/widgets"
    assert remote_of(tmp_path) is None

    projects = tmp_path / "projects" / "-work-repo"
    projects.mkdir(parents=True)
    line = {
        "type": "user",
        "sessionId": "s1",
        "cwd": str(repo / "src"),
        "gitBranch": "main",
        "timestamp": "2026-11-20T10:00:00Z",
        "message": {"content": "hello"},
    }
    (projects / "s1.jsonl").write_text(json.dumps(line) + "\n")
    runner = CliRunner()
    runner.invoke(cli, ["ingest", "--projects-dir", str(tmp_path / "projects")], catch_exceptions=False)
    s = json.loads(runner.invoke(cli, ["session", "show", "s1", "--json"]).output)
    assert s["git_repo"] == "github.com/acme/widgets"
    assert s["git_branch"] == "main"
    assert s["messages"]["user"] == 1

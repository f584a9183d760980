"""Opt-in posting at SessionEnd: a repository listed in config.json gets its sessions' reports.

    {"github": {"repos": {"org/repo": {"post_session_end": true, "summary": true}}}}

The target is found, never guessed: the open pull request whose head is the session's branch, else the
issue a branch names (`123-fix`, `issue-123`, `feature/123-x`) when that issue exists; with neither, nothing
is posted and the log says why.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the daemon imports this module; httpx and pydantic load only when a repo opted in
    from skill_insights.github.client import GitHub
    from skill_insights.github.model import Target

log = logging.getLogger("skill_insights.github")

# A branch names an issue when a segment starts with its number (`123-fix`, `feature/123_x`, `123`) or says
# `issue-123` / `issues/123` / `gh-123`.
_LEADING_NUMBER = re.compile(r"^(\d{1,9})(?:[-_.].*)?$")
_ISSUE_WORD = re.compile(r"(?:^|[-_/])(?:issues?|gh)[-_/#]?(\d{1,9})(?:$|[-_/.])", re.IGNORECASE)


def issue_number_of(branch: str) -> int | None:
    m = _ISSUE_WORD.search(branch)
    if m:
        return int(m.group(1))
    for segment in branch.split("/"):
        m = _LEADING_NUMBER.match(segment)
        if m and int(m.group(1)) > 0:
            return int(m.group(1))
    return None


def enabled(config: dict[str, Any]) -> bool:
    """Has any repository opted in? (A cheap check before anything is imported or read.)"""
    gh = config.get("github")
    repos = gh.get("repos") if isinstance(gh, dict) else None
    return isinstance(repos, dict) and any(
        isinstance(v, dict) and v.get("post_session_end") is True for v in repos.values()
    )


def repo_settings(config: dict[str, Any], git_repo: str | None) -> dict[str, Any] | None:
    """The config of the session's repository (keyed `org/repo` or `host/org/repo`) if it opted in."""
    if not git_repo:
        return None
    repos = (config.get("github") or {}).get("repos") if isinstance(config.get("github"), dict) else None
    if not isinstance(repos, dict):
        return None
    short = "/".join(git_repo.split("/")[-2:])
    entry = repos.get(git_repo) or repos.get(short)
    if not isinstance(entry, dict) or entry.get("post_session_end") is not True:
        return None
    return entry


def find_target(gh: GitHub, repo: str, branch: str | None) -> tuple[Target | None, str]:
    """(target, why): the open PR from the branch, else the existing issue the branch names."""
    from skill_insights.github.model import Target

    if not branch or branch == "HEAD":
        return None, "the session has no branch"
    owner = repo.split("/")[0]
    pulls = gh.open_pulls_for_branch(repo, owner, branch)
    if pulls:
        number = min(p["number"] for p in pulls)
        return Target(type="pr", number=number), f"open pull request #{number} has head {branch}"
    number = issue_number_of(branch)
    if number is None:
        return None, f"no open pull request from {branch} and the branch names no issue"
    issue = gh.issue(repo, number)
    if issue is None:
        return None, f"no open pull request from {branch}; issue #{number} does not exist"
    if issue.get("pull_request"):
        return None, f"no open pull request from {branch}; #{number} is a pull request, not an issue"
    return Target(type="issue", number=number), f"branch {branch} names issue #{number}"


@dataclass
class Outcome:
    posted: bool
    reason: str
    target: Target | None = None
    url: str | None = None


def post_at_session_end(
    conn: sqlite3.Connection, session_id: str, config: dict[str, Any], gh: GitHub | None = None
) -> Outcome:
    """Post (or update) the report of a session that just ended, if its repository opted in. Never raises for
    a GitHub failure: the outcome says why nothing was posted, and the reason is logged."""
    from skill_insights.github import publish, stats

    outcome = _post(conn, session_id, config, gh, publish, stats)
    (log.info if outcome.posted else log.warning if "failed" in outcome.reason else log.info)(
        "session %s: %s", session_id[:8], outcome.reason
    )
    return outcome


def _post(conn, session_id, config, gh, publish, stats) -> Outcome:
    row = conn.execute("SELECT git_repo, git_branch FROM sessions WHERE session_id = ?", [session_id]).fetchone()
    if row is None:
        return Outcome(False, "not posted: the session is not in the store")
    git_repo, branch = row
    settings = repo_settings(config, git_repo)
    if settings is None:
        return Outcome(False, f"not posted: {git_repo or 'its folder (no git remote)'} has not opted in")
    from skill_insights.github.client import GitHub, GitHubError, api_url, resolve_token
    from skill_insights.github.render import CommentTooLong

    repo = "/".join(git_repo.split("/")[-2:])
    own = gh is None
    if gh is None:
        token = resolve_token()
        if not token:
            return Outcome(False, "not posted: no GitHub token (GITHUB_TOKEN or `gh auth login`)")
        gh = GitHub(token, api_url())
    try:
        target, why = find_target(gh, repo, branch)
        if target is None:
            return Outcome(False, f"not posted: {why}")
        doc = stats.build(conn, session_id, target)
        if doc is None:
            return Outcome(False, "not posted: the session is not in the store")
        posted = publish.post_session(
            gh, repo, target.number, doc.model_dump(mode="json"), stats.diagrams(conn, session_id)
        )
        if settings.get("summary", True):
            publish.update_summary(gh, repo, target.number, warn=lambda line: log.warning("%s", line))
        return Outcome(True, f"{posted.action} comment on {repo}#{target.number} ({why})", target, posted.url)
    except GitHubError as e:
        return Outcome(False, f"not posted: GitHub failed: {e}")
    except CommentTooLong as e:
        return Outcome(False, f"not posted: {e}")
    finally:
        if own:
            gh.close()


def at_session_end(db_path: str | Path, session_id: str) -> Outcome | None:
    """The daemon's one call once a SessionEnd's transcript is ingested: None (nothing read, nothing imported)
    unless a repository opted in in config.json; else the outcome of `post_at_session_end`. Network I/O, up to
    the client's bounded rate-limit wait: call it off the capture path."""
    from skill_insights.settings import read_config

    config = read_config()
    if not enabled(config):
        return None
    from skill_insights.store import open_reader
    from skill_insights.usage import catch_up

    conn = open_reader(db_path)
    try:
        catch_up(conn)
        return post_at_session_end(conn, session_id, config)
    finally:
        conn.close()

"""Post a session's report and the summary to a pull request or issue, idempotently.

A session's comment is found by its marker and edited in place, never posted twice; the summary is always
recomputed from the JSON of every session comment, never updated incrementally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skill_insights.github import render
from skill_insights.github.client import GitHub


@dataclass
class Posted:
    comment_id: int
    url: str | None
    action: str  # "created" | "updated"


def post_session(gh: GitHub, repo: str, number: int, stats: dict[str, Any], diagrams: dict[str, str]) -> Posted:
    body = render.session_comment(stats, diagrams)
    short = stats["session_id_short"]
    for c in gh.issue_comments(repo, number):
        if render.marker_of(c.get("body") or "") == short:
            done = gh.update_comment(repo, c["id"], body)
            return Posted(c["id"], done.get("html_url"), "updated")
    done = gh.create_comment(repo, number, body)
    return Posted(done["id"], done.get("html_url"), "created")


@dataclass
class Collected:
    sessions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per comment that could not be read
    summary_id: int | None = None


def collect_sessions(comments: list[dict[str, Any]]) -> Collected:
    """The session documents of a thread's marked comments; an unreadable one is listed and skipped. A session
    shown twice (a hand-made copy) counts once: the later comment wins."""
    out = Collected()
    by_session: dict[str, dict[str, Any]] = {}
    for c in comments:
        body = c.get("body") or ""
        if render.is_summary(body):
            out.summary_id = out.summary_id or c.get("id")
            continue
        short = render.marker_of(body)
        if short is None:
            continue
        try:
            doc = render.json_block(body)
        except render.BadJSONBlock as e:
            out.skipped.append(f"comment {c.get('id')} (SESSION:{short}): {e}; skipped")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("session_id"), str):
            out.skipped.append(f"comment {c.get('id')} (SESSION:{short}): its JSON is not a session document; skipped")
            continue
        problem = _check_session_doc(doc)
        if problem:
            out.skipped.append(f"comment {c.get('id')} (SESSION:{short}): {problem}; skipped")
            continue
        by_session[doc["session_id"]] = doc
    out.sessions = list(by_session.values())
    return out


def _check_session_doc(doc: dict[str, Any]) -> str | None:
    from pydantic import ValidationError

    from skill_insights.github.model import SessionStats

    try:
        SessionStats.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        return f"its JSON does not match the session stats schema at {where}: {first['msg']}"
    return None


def update_summary(
    gh: GitHub, repo: str, number: int, warn: Callable[[str], None] | None = None
) -> tuple[Posted | None, Collected]:
    """Recompute the summary from every session comment and post or update it (None: no session comment)."""
    found = collect_sessions(gh.issue_comments(repo, number))
    for line in found.skipped:
        if warn:
            warn(line)
    if not found.sessions:
        return None, found
    body = render.summary_comment(found.sessions, found.skipped)
    if found.summary_id is not None:
        done = gh.update_comment(repo, found.summary_id, body)
        return Posted(found.summary_id, done.get("html_url"), "updated"), found
    done = gh.create_comment(repo, number, body)
    return Posted(done["id"], done.get("html_url"), "created"), found


def posted_line(posted: Posted) -> str:
    """`session post`: what became of the session's comment."""
    return f"{posted.action} comment {posted.comment_id}: {posted.url or ''}".rstrip()


def summary_line(posted: Posted, found: Collected) -> str:
    """`session summary`: what became of the summary comment, over how many sessions."""
    skipped = f", {len(found.skipped)} skipped" if found.skipped else ""
    over = f"over {len(found.sessions)} sessions{skipped}"
    return f"{posted.action} summary {posted.comment_id} {over}: {posted.url or ''}".rstrip()

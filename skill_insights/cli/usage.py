"""`usage` and `session`: tokens and cost over time, one session's stats, and its reports on GitHub."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from skill_insights.cli.shared import (
    check_date,
    cli,
    echo_json,
    echo_lines,
    json_flag,
    print_table,
    show,
    store_db,
    store_reader,
    warn_unpriced,
)

if TYPE_CHECKING:
    from skill_insights.github.client import GitHub


# -- usage ----------------------------------------------------------------------------------------------


@cli.command()
@click.argument("period", type=click.Choice(["daily", "weekly", "monthly", "session", "blocks", "quota", "sources"]))
@json_flag("JSON: {rows: [...], totals: {...}}.")
@click.option("--since", callback=check_date, help="First day (YYYY-MM-DD), inclusive.")
@click.option("--until", callback=check_date, help="Last day (YYYY-MM-DD), inclusive.")
@click.option("--project", help="Only sessions whose working directory matches.")
@click.option("--timezone", "timezone", help="Count days, weeks and months in this IANA zone (default: local).")
@click.option("--active", is_flag=True, help="blocks: only the block in progress.")
@click.option(
    "--kind",
    type=click.Choice(["skill", "agent", "command", "mcp", "tool"]),
    help="sources: only this kind of activation.",
)
@click.option("--by-day", is_flag=True, help="sources: one row per day as well.")
def usage(
    period: str,
    as_json: bool,
    since: str | None,
    until: str | None,
    project: str | None,
    kind: str | None = None,
    by_day: bool = False,
    timezone: str | None = None,
    active: bool = False,
) -> None:
    """Tokens and estimated cost per day, week, month, session or 5-hour block; `quota`: the rate-limit history;
    `sources`: every activation by where it comes from."""
    if since and until and since > until:
        raise click.BadParameter(f"--since {since} is after --until {until}", param_hint="--since")
    if period == "sources":
        from skill_insights.report.sources import sources_table, usage_sources
        from skill_insights.usage import catch_up

        catch_up(db := store_db())
        doc = usage_sources(db, since=since, until=until, kind=kind, by_day=by_day, project=project)
        show(doc, as_json, sources_table)
        return
    if kind or by_day:
        raise click.UsageError("--kind and --by-day go with `usage sources`")
    from skill_insights import usage as reports

    try:
        tz = reports.zone(timezone)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--timezone") from None
    if active and period != "blocks":
        raise click.UsageError("--active goes with `usage blocks`")
    db = store_reader()
    if period == "quota":
        from skill_insights import quota

        doc = quota.history(db, since, until, tz)
        show(doc, as_json, lambda d: quota.lines(d, tz))
        return
    doc = reports.period_report(db, period, since, until, project, tz, zoned=bool(timezone), active=active)
    warn_unpriced(doc["totals"]["unpriced_models"])
    if as_json:
        echo_json(doc)
        return
    from skill_insights.report.console import usage_view

    table, empty = usage_view(doc, period, tz, timezone, filtered=bool(since or until or project))
    if empty:
        click.echo(empty, err=True)
    print_table(table)


@cli.group()
def session() -> None:
    """One session's stats."""


@session.command("show")
@click.argument("session_id")
@json_flag()
def session_show(session_id: str, as_json: bool) -> None:
    """Models, tokens, cost, tools, skills, subagents and time of one session (id or unique prefix)."""
    from skill_insights.report.console import session_lines
    from skill_insights.usage import session_stats

    db = store_reader()
    stats = _built(session_stats(db, _one_session(db, session_id)), session_id)
    show(stats, as_json, session_lines)


# -- session reports on GitHub (skill_insights.github) -------------------------------------------------


def _one_session(conn, session_id: str) -> str:
    from skill_insights.usage import one_session

    try:
        return one_session(conn, session_id)
    except LookupError as e:
        raise click.ClickException(str(e)) from None


def _built(doc, session_id: str):
    """A session's stats document; None means the session left the store since it was matched."""
    if doc is None:
        raise click.ClickException(f"no session {session_id!r} in the store (run `skill-insights ingest`?)")
    return doc


def _target(pr: int | None, issue: int | None):
    from skill_insights.github.model import Target

    if (pr is None) == (issue is None):
        raise click.UsageError("give exactly one of --pr N and --issue N")
    if pr is not None:
        return Target(type="pr", number=pr)
    assert issue is not None  # exactly one of the two was given
    return Target(type="issue", number=issue)


def _repo_arg(_ctx, _param, value: str | None) -> str | None:
    from skill_insights.github.client import check_repo

    try:
        return None if value is None else check_repo(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@contextlib.contextmanager
def _github() -> Iterator[GitHub]:
    """A GitHub client; what goes wrong with it is said in one line."""
    from skill_insights.github.client import GitHubError, from_env
    from skill_insights.github.render import CommentTooLong

    try:
        with from_env(log=lambda m: click.echo(m, err=True)) as gh:
            yield gh
    except (GitHubError, CommentTooLong) as e:
        raise click.ClickException(str(e)) from None


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _gh_target(f):
    f = click.option("--issue", type=click.IntRange(min=1), help="Issue number.")(f)
    f = click.option("--pr", type=click.IntRange(min=1), help="Pull request number.")(f)
    return click.option("--repo", required=True, callback=_repo_arg, help="OWNER/NAME.")(f)


@session.command("stats")
@click.argument("session_id")
@json_flag("The session stats document (schema: session-stats).")
def session_stats_cmd(session_id: str, as_json: bool) -> None:
    """Per-session stats: models, tokens, cost, tools, skills, subagents, commits, problems, workflow edges."""
    from skill_insights.github import render, stats

    conn = store_reader()
    data = _built(stats.build(conn, _one_session(conn, session_id)), session_id).model_dump(mode="json")
    show(data, as_json, render.stats_lines)


@session.command("mermaid")
@click.argument("session_id")
def session_mermaid(session_id: str) -> None:
    """The workflow diagram of each invoked skill whose SKILL.md has one: edges green (taken), red (error
    path), grey (not taken), with Nx counters."""
    from skill_insights.github import render, stats

    conn = store_reader()
    found = stats.diagrams(conn, _one_session(conn, session_id))
    if not found:
        click.echo("no invoked skill of this session has a mermaid flowchart in its SKILL.md", err=True)
    echo_lines(render.diagram_blocks(found))


@session.command("post")
@click.argument("session_id")
@_gh_target
@click.option("--summary", "with_summary", is_flag=True, help="Also recompute the summary comment.")
def session_post(session_id: str, repo: str, pr: int | None, issue: int | None, with_summary: bool) -> None:
    """Post the session's report to a PR or issue; posting again updates the same comment."""
    from skill_insights.github import publish, stats

    target = _target(pr, issue)
    conn = store_reader()
    sid = _one_session(conn, session_id)
    doc = _built(stats.build(conn, sid, target), session_id).model_dump(mode="json")
    with _github() as gh:
        posted = publish.post_session(gh, repo, target.number, doc, stats.diagrams(conn, sid))
        if with_summary:
            publish.update_summary(gh, repo, target.number, warn=_warn)
    click.echo(publish.posted_line(posted))


@session.command("summary")
@_gh_target
def session_summary(repo: str, pr: int | None, issue: int | None) -> None:
    """Recompute the summary comment of a PR or issue from the JSON of every session comment."""
    from skill_insights.github import publish

    target = _target(pr, issue)
    with _github() as gh:
        posted, found = publish.update_summary(gh, repo, target.number, warn=_warn)
    if posted is None:
        raise click.ClickException(f"no readable session comment on {repo}#{target.number}: no summary posted")
    click.echo(publish.summary_line(posted, found))


@session.command("extract")
@click.option("--repo", required=True, callback=_repo_arg, help="OWNER/NAME.")
@click.option("--from", "start", required=True, callback=check_date, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, callback=check_date, help="Last day (YYYY-MM-DD).")
@click.option("--output-dir", required=True, type=click.Path(path_type=Path, file_okay=False))
def session_extract(repo: str, start: str, end: str, output_dir: Path) -> None:
    """analytics.csv, analytics.md and dashboard.html from the session comments of a repository's PRs and
    issues in a period."""
    from datetime import date

    from skill_insights.github import extract

    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if first > last:
        raise click.BadParameter("--from is after --to")
    with _github() as gh:
        ex = extract.collect(gh, repo, first, last, warn=_warn)
    echo_lines([str(path) for path in extract.write(ex, output_dir)])

"""The `skill-insights` command line: thin commands that call into the packages."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from skill_insights import __version__
from skill_insights.settings import default_projects_dirs, get_paths


def _db(plain: bool = False):
    """The migrated store: a sqlite-utils Database, or with `plain` a sqlite3 connection (no sqlite-utils
    import, which costs more than a whole usage query)."""
    from skill_insights.store import open_db, open_reader

    paths = get_paths().ensure()
    try:
        return open_reader(paths.database) if plain else open_db(paths.database)
    except Exception as e:  # a corrupt or foreign file: say so in one line
        raise click.ClickException(f"cannot open the store at {paths.database}: {e}") from None


def _reader():
    return _db(plain=True)


def _prices():
    from skill_insights.pricing import PriceTable

    try:
        return PriceTable.load(get_paths().prices_file)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise click.ClickException(f"cannot read the price table: {e}") from None


def _echo_json(doc) -> None:
    from skill_insights.outputs import to_json

    click.echo(to_json(doc))


class _Cli(click.Group):
    """Turns environment failures (a file where a folder should be, a full disk, a corrupt store) into one line."""

    def invoke(self, ctx: click.Context):
        import sqlite3

        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # A reader that went away (`| head`): like other Unix tools, stop quietly and succeed.
            import os

            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # nothing is flushed into the closed pipe at exit
            ctx.exit(0)
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            raise click.ClickException(f"{e.strerror or e}{where}") from None
        except sqlite3.DatabaseError as e:
            raise click.ClickException(f"the store at {get_paths().database} cannot be used: {e}") from None


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="skill-insights")
def cli() -> None:
    """Usage, cost and skills insights for coding agents, kept locally."""


# -- capture --------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--projects-dir",
    "projects_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A Claude Code projects folder (repeatable). Default: $CLAUDE_CONFIG_DIR/projects or ~/.claude/projects.",
)
@click.option("--file", "files", multiple=True, type=click.Path(path_type=Path), help="One transcript file.")
def ingest(projects_dirs: tuple[Path, ...], files: tuple[Path, ...]) -> None:
    """Capture new transcript lines into the store (incremental)."""
    import contextlib

    from skill_insights.collectors.capture import capture

    for f in files:
        if f.is_dir():
            raise click.ClickException(f"{f} is a folder: pass it with --projects-dir, or one transcript with --file")
        if not f.is_file():
            raise click.ClickException(f"no such transcript file: {f}")
        refusal = _not_a_transcript(f)
        if refusal:
            raise click.ClickException(f"{f} is not a Claude Code transcript ({refusal})")
    for d in projects_dirs:
        if not d.is_dir():
            raise click.ClickException(f"no such projects folder: {d}")
    roots = list(projects_dirs) + list(files) or default_projects_dirs()
    db = _reader()  # capture needs no sqlite-utils (it costs more to import than a small ingest)
    with contextlib.ExitStack() as stack:

        def bar_for(found: int):
            # Without a terminal, skill_insights.quick runs this same capture without importing click.
            if not sys.stderr.isatty() or found <= 20:
                return None
            from rich.progress import Progress

            bar = stack.enter_context(Progress(transient=True))
            task = bar.add_task("ingesting", total=found)
            return lambda _p: bar.advance(task)

        summary = capture(db, _prices(), roots, progress_for=bar_for)
    _warn_unpriced(sorted(summary.unpriced_models))
    for warning in summary.ledger_warnings():
        click.echo(warning, err=True)
    click.echo(summary.line())


def _not_a_transcript(path: Path) -> str | None:
    """Why `path` is not a Claude Code transcript (JSON lines of objects with a `type`), or None when it is one.
    An empty .jsonl file is a transcript Claude Code has only just created."""
    import json

    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError as e:
        return e.strerror or str(e)
    if not head.strip():
        return None if path.suffix == ".jsonl" else "it is empty"
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        line = json.loads(first)
    except (ValueError, RecursionError):
        return "its first line is not JSON"
    if not isinstance(line, dict) or not isinstance(line.get("type"), str):
        return "its first line is not a transcript entry"
    return None


# -- usage ----------------------------------------------------------------------------------------------


def _warn_unpriced(models: list[str]) -> None:
    from skill_insights.usage import unpriced_warning

    for model in models:
        click.echo(unpriced_warning(model), err=True)


def _fmt_cost(v) -> str:
    # Tables show cents; `--json` keeps full precision.
    return "n/a" if v is None else f"${v:,.2f}"


EMPTY_USAGE = (
    "nothing captured yet: run `skill-insights ingest` to read Claude Code's history, or "
    "`skill-insights install` to capture from now on"
)


def _usage_table(doc: dict, key: str, title: str, empty: str = EMPTY_USAGE) -> None:
    from rich.table import Table

    from skill_insights.usage import fmt_duration, short_model

    sessions = key == "session_id"
    all_models = sorted({m for r in doc["rows"] for m in r["models"]})
    table = Table(title=title)
    lead = [key, "date", "project", "duration"] if sessions else [key]
    cols = [*lead, "models", "input", "output", "cache write", "cache read", "total", "cost"]
    for c in cols:
        table.add_column(c, justify="left" if c in (*lead, "models") else "right")
    for r in doc["rows"]:
        extra = []
        if sessions:
            extra = [
                (r.get("last_date") or (r.get("started_at") or "")[:10]) or "–",
                _short_project(r.get("project"), r.get("git_repo")),
                fmt_duration(_wall(r)),
            ]
        table.add_row(
            str(r[key])[: 8 if sessions else None],
            *extra,
            ", ".join(short_model(m, all_models) for m in r["models"]),
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            f"{r['cache_creation_input_tokens']:,}",
            f"{r['cache_read_input_tokens']:,}",
            f"{r['total_tokens']:,}",
            _fmt_cost(r["cost_usd"]),
        )
    t = doc["totals"]
    table.add_row(
        "total",
        *([""] * (len(lead) - 1)),
        "",
        f"{t['input_tokens']:,}",
        f"{t['output_tokens']:,}",
        f"{t['cache_creation_input_tokens']:,}",
        f"{t['cache_read_input_tokens']:,}",
        f"{t['total_tokens']:,}",
        _fmt_cost(t["cost_usd"]),
        style="bold",
    )
    if not doc["rows"]:
        click.echo(empty, err=True)
    _console().print(table)


def _console():
    """A rich console for tables; a reader that goes away (`| head`) ends the command quietly (see _Cli)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich's own exits 1
            raise BrokenPipeError

    # Piped output is not cut to 80 columns: a table that truncates numbers is worse than a wide one.
    return _Console(width=None if sys.stdout.isatty() else 160)


def _short_project(path: str | None, repo: str | None) -> str:
    from skill_insights.report.data import short_project

    return short_project(path, repo, str(Path.home()))


def _wall(row: dict) -> float | None:
    from datetime import datetime

    try:
        a = datetime.fromisoformat(str(row["started_at"]).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(row["ended_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return (b - a).total_seconds()


def _check_date(_ctx, _param, value: str | None) -> str | None:
    if value is None:
        return None
    from skill_insights.usage import parse_day

    try:
        return parse_day(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@cli.command()
@click.argument("period", type=click.Choice(["daily", "weekly", "monthly", "session", "blocks", "quota", "sources"]))
@click.option("--json", "as_json", is_flag=True, help="JSON: {rows: [...], totals: {...}}.")
@click.option("--since", callback=_check_date, help="First day (YYYY-MM-DD), inclusive.")
@click.option("--until", callback=_check_date, help="Last day (YYYY-MM-DD), inclusive.")
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
        _usage_sources(as_json, since, until, kind, by_day, project)
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
    db = _reader()
    if period == "quota":
        _usage_quota(db, as_json, since, until, tz)
        return
    if period == "blocks":
        reports.catch_up(db)
        doc = reports.blocks(db, since, until, project, tz, active_only=active)
    elif period == "weekly" or timezone:
        reports.catch_up(db)
        doc = reports.by_period_in_zone(db, period, since, until, project, tz)
    else:
        # `usage … --json` is usually answered by skill_insights.quick without click; this is the same query.
        doc = reports.report(db, period, since, until, project)
    key = {"daily": "date", "weekly": "week", "monthly": "month", "session": "session_id", "blocks": "start"}[period]
    _warn_unpriced(doc["totals"]["unpriced_models"])
    if as_json:
        _echo_json(doc)
    elif period == "blocks":
        _usage_table(reports.blocks_for_display(doc, tz), key, "Claude Code usage, 5-hour blocks")
    else:
        empty = EMPTY_USAGE
        if since or until or project:
            empty = "no usage matches these filters (without --since, --until and --project: all of it)"
        _usage_table(doc, key, f"Claude Code usage, {period}" + (f" ({timezone})" if timezone else ""), empty)


def _usage_quota(db, as_json: bool, since: str | None, until: str | None, tz) -> None:
    from skill_insights import quota

    doc = quota.history(db, since, until, tz)
    if as_json:
        _echo_json(doc)
        return
    if not doc["windows"]:
        click.echo(
            "no rate-limit snapshots yet: they come from the statusline (`install --statusline`) "
            "with a claude.ai subscription"
        )
        return
    for line in quota.table(doc, tz):
        click.echo(line)


def _usage_sources(
    as_json: bool, since: str | None, until: str | None, kind: str | None, by_day: bool, project: str | None
) -> None:
    from skill_insights.report.sources import sources_table, usage_sources
    from skill_insights.usage import catch_up

    db = _db()
    catch_up(db)
    doc = usage_sources(db, since=since, until=until, kind=kind, by_day=by_day, project=project)
    if as_json:
        _echo_json(doc)
        return
    for line in sources_table(doc):
        click.echo(line)


@cli.group()
def session() -> None:
    """One session's stats."""


@session.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True)
def session_show(session_id: str, as_json: bool) -> None:
    """Models, tokens, cost, tools, skills, subagents and time of one session (id or unique prefix)."""
    from skill_insights import usage as reports

    db = _reader()
    reports.catch_up(db)
    matches = reports.match_sessions(db, session_id)
    if len(matches) > 1:
        raise click.ClickException(f"{session_id!r} matches several sessions ({', '.join(m[:13] for m in matches)}…)")
    stats = reports.session_stats(db, matches[0]) if matches else None
    if stats is None:
        raise click.ClickException(f"no session {session_id!r} in the store (run `skill-insights ingest`?)")
    if as_json:
        _echo_json(stats)
        return
    click.echo(f"session   {stats['session_id']}")
    click.echo(f"project   {stats['project']}  ({stats['git_repo'] or 'no git remote'}, {stats['git_branch']})")
    click.echo(
        f"time      {stats['started_at']} → {stats['ended_at']}  "
        f"wall {stats['duration_seconds']:.0f}s, active {stats['active_seconds']:.0f}s"
    )
    click.echo(f"messages  {stats['messages']['user']} user, {stats['messages']['assistant']} assistant")
    click.echo(f"tokens    {stats['total_tokens']:,}  cost {_fmt_cost(stats['estimated_cost_usd'])}")
    for m, v in stats["models"].items():
        click.echo(f"  {m}: {v['total_tokens']:,} tokens, {_fmt_cost(v['cost_usd'])}")
    for m, v in stats.get("side_calls", {}).items():
        click.echo(
            f"side calls  {m}: {v['total_tokens']:,} tokens, {_fmt_cost(v['cost_usd'])} "
            "(in Claude Code's ledger, not in the transcript; counted above)"
        )
    if stats["tools"]:
        click.echo(
            "tools     "
            + ", ".join(
                f"{k} ×{v['calls']}" + (f" ({v['errors']} errors)" if v["errors"] else "")
                for k, v in stats["tools"].items()
            )
        )
    if stats["skills_invoked"]:
        click.echo("skills    " + ", ".join(f"{k} ×{v}" for k, v in stats["skills_invoked"].items()))
    for sa in stats["subagents"]:
        click.echo(
            f"subagent  {sa['type']} ({sa['agent_id'] or '?'}): {sa['total_tokens']:,} tokens, "
            f"{_fmt_cost(sa['cost_usd'])}"
        )
    if stats["mcp_calls"]:
        click.echo("mcp       " + ", ".join(f"{s}: {sum(t.values())}" for s, t in stats["mcp_calls"].items()))
    if stats["slash_commands"]:
        click.echo("commands  " + ", ".join(f"{k} ×{v}" for k, v in stats["slash_commands"].items()))


# -- session reports on GitHub (skill_insights.github) -------------------------------------------------


def _one_session(conn, session_id: str) -> str:
    from skill_insights.usage import catch_up, match_sessions

    catch_up(conn)
    matches = match_sessions(conn, session_id)
    if len(matches) > 1:
        raise click.ClickException(f"{session_id!r} matches several sessions ({', '.join(m[:13] for m in matches)}…)")
    if not matches:
        raise click.ClickException(f"no session {session_id!r} in the store (run `skill-insights ingest`?)")
    return matches[0]


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

    if value is None:
        return None
    try:
        return check_repo(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _github():
    """A GitHub client and the one-line error types of what the commands do with it."""
    from skill_insights.github.client import GitHubError, from_env
    from skill_insights.github.render import CommentTooLong

    try:
        return from_env(log=lambda m: click.echo(m, err=True)), (GitHubError, CommentTooLong)
    except GitHubError as e:
        raise click.ClickException(str(e)) from None


_GH_TARGET = [
    click.option("--repo", required=True, callback=_repo_arg, help="OWNER/NAME."),
    click.option("--pr", type=click.IntRange(min=1), help="Pull request number."),
    click.option("--issue", type=click.IntRange(min=1), help="Issue number."),
]


def _gh_target(f):
    for opt in reversed(_GH_TARGET):
        f = opt(f)
    return f


@session.command("stats")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="The session stats document (schema: session-stats).")
def session_stats_cmd(session_id: str, as_json: bool) -> None:
    """Per-session stats: models, tokens, cost, tools, skills, subagents, commits, problems, workflow edges."""
    from skill_insights.github import render, stats

    conn = _reader()
    doc = _built(stats.build(conn, _one_session(conn, session_id)), session_id)
    data = doc.model_dump(mode="json")
    if as_json:
        _echo_json(data)
        return
    click.echo(f"session   {data['session_id']}  ({data['project'] or '?'}, {data['branch'] or 'no branch'})")
    click.echo(f"time      {data['started_at']} → {data['ended_at']}  {render.duration(data['duration_minutes'])}")
    click.echo(f"tokens    {sum(data['total_tokens'].values()):,}  cost {render.money(data['estimated_cost_usd'])}")
    for k in data["skills_invoked"]:
        click.echo(f"skill     {k['skill']} ×{k['count']} {k['status']}, {sum(k['tokens'].values()):,} tokens after")
    for a in data["subagents"]:
        click.echo(
            f"subagent  {a['type']} ({a['id'] or '?'}, {a['model'] or '?'}): {sum(a['tokens'].values()):,} tokens"
        )
    for c in data["commits"]:
        click.echo(f"commit    {c['sha'][:7]} {c['message']}")
    for p in data["problems_faced"]:
        click.echo(f"problem   {p['description']}")


@session.command("mermaid")
@click.argument("session_id")
def session_mermaid(session_id: str) -> None:
    """The workflow diagram of each invoked skill whose SKILL.md has one: edges green (taken), red (error
    path), grey (not taken), with Nx counters."""
    from skill_insights.github import stats

    conn = _reader()
    found = stats.diagrams(conn, _one_session(conn, session_id))
    if not found:
        click.echo("no invoked skill of this session has a mermaid flowchart in its SKILL.md", err=True)
        return
    for skill, src in found.items():
        click.echo(f"%% workflow of skill {skill}\n```mermaid\n{src}\n```")


@session.command("post")
@click.argument("session_id")
@_gh_target
@click.option("--summary", "with_summary", is_flag=True, help="Also recompute the summary comment.")
def session_post(session_id: str, repo: str, pr: int | None, issue: int | None, with_summary: bool) -> None:
    """Post the session's report to a PR or issue; posting again updates the same comment."""
    from skill_insights.github import publish, stats

    target = _target(pr, issue)
    conn = _reader()
    sid = _one_session(conn, session_id)
    doc = _built(stats.build(conn, sid, target), session_id)
    gh, error = _github()
    with gh:
        try:
            posted = publish.post_session(
                gh, repo, target.number, doc.model_dump(mode="json"), stats.diagrams(conn, sid)
            )
            if with_summary:
                publish.update_summary(gh, repo, target.number, warn=lambda m: click.echo(f"warning: {m}", err=True))
        except error as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"{posted.action} comment {posted.comment_id}: {posted.url or ''}".rstrip())


@session.command("summary")
@_gh_target
def session_summary(repo: str, pr: int | None, issue: int | None) -> None:
    """Recompute the summary comment of a PR or issue from the JSON of every session comment."""
    from skill_insights.github import publish

    target = _target(pr, issue)
    gh, error = _github()
    with gh:
        try:
            posted, found = publish.update_summary(
                gh, repo, target.number, warn=lambda m: click.echo(f"warning: {m}", err=True)
            )
        except error as e:
            raise click.ClickException(str(e)) from None
    if posted is None:
        raise click.ClickException(f"no readable session comment on {repo}#{target.number}: no summary posted")
    click.echo(
        f"{posted.action} summary {posted.comment_id} over {len(found.sessions)} sessions"
        f"{f', {len(found.skipped)} skipped' if found.skipped else ''}: {posted.url or ''}".rstrip()
    )


@session.command("extract")
@click.option("--repo", required=True, callback=_repo_arg, help="OWNER/NAME.")
@click.option("--from", "start", required=True, callback=_check_date, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, callback=_check_date, help="Last day (YYYY-MM-DD).")
@click.option("--output-dir", required=True, type=click.Path(path_type=Path, file_okay=False))
def session_extract(repo: str, start: str, end: str, output_dir: Path) -> None:
    """analytics.csv, analytics.md and dashboard.html from the session comments of a repository's PRs and
    issues in a period."""
    from datetime import date

    from skill_insights.github import extract

    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if first > last:
        raise click.BadParameter("--from is after --to")
    gh, error = _github()
    with gh:
        try:
            ex = extract.collect(gh, repo, first, last, warn=lambda m: click.echo(f"warning: {m}", err=True))
        except error as e:
            raise click.ClickException(str(e)) from None
    for path in extract.write(ex, output_dir):
        click.echo(str(path))


# -- pricing --------------------------------------------------------------------------------------------


@cli.group()
def pricing() -> None:
    """The price table used to estimate cost."""


@pricing.command("show")
@click.option("--json", "as_json", is_flag=True)
def pricing_show(as_json: bool) -> None:
    """The models and prices in use (USD per million tokens)."""
    table = _prices()
    doc = {
        "source": table.source,
        "updated": table.updated,
        "models": {
            name: {
                "input": p.base.input,
                "output": p.base.output,
                "cache_write_5m": p.base.cache_write_5m,
                "cache_write_1h": p.base.cache_write_1h,
                "cache_read": p.base.cache_read,
                **(
                    {"long_context_input": p.long_context.input, "long_context_output": p.long_context.output}
                    if p.long_context
                    else {}
                ),
            }
            for name, p in sorted(table.models.items())
        },
    }
    if as_json:
        _echo_json(doc)
        return
    click.echo(f"prices from {doc['source']} (updated {doc['updated']}), USD per million tokens")

    def usd(v) -> str:
        # Prices are whole cents or a few decimals: 0.30000000000000004 is float noise, not a price.
        return "–" if v is None else f"{round(v, 6):g}"

    from rich.table import Table

    t = Table(show_edge=False, pad_edge=False)
    for c in (
        "model",
        "input",
        "output",
        "cache write 5m",
        "cache write 1h",
        "cache read",
        "input >200k",
        "output >200k",
    ):
        t.add_column(c, justify="left" if c == "model" else "right")
    for name, p in doc["models"].items():
        t.add_row(
            name,
            usd(p["input"]),
            usd(p["output"]),
            usd(p["cache_write_5m"]),
            usd(p["cache_write_1h"]),
            usd(p["cache_read"]),
            usd(p.get("long_context_input")),
            usd(p.get("long_context_output")),
        )
    _console().print(t)


@pricing.command("update")
@click.option("--from", "source", required=True, help="A LiteLLM-format price file: a path or an http(s) URL.")
@click.option("--timeout", default=20.0, show_default=True, help="Seconds, for a URL.")
def pricing_update(source: str, timeout: float) -> None:
    """Load a LiteLLM-format price file; stored costs are recomputed with it."""
    from datetime import date

    from skill_insights.pricing import PriceTable, from_litellm
    from skill_insights.store.rollups import reprice

    try:
        if source.startswith(("http://", "https://")):
            import httpx

            resp = httpx.get(source, timeout=timeout, follow_redirects=True)
            resp.raise_for_status()
            raw = resp.content
        else:
            if not Path(source).is_file():  # a FIFO or a device would block or never end
                raise ValueError("not a regular file")
            raw = Path(source).read_bytes()
        import json

        parsed = json.loads(raw)
        if not isinstance(parsed, dict):
            raise ValueError(f"expected a JSON object of models (LiteLLM's format), got a JSON {type(parsed).__name__}")
        doc = from_litellm(parsed, updated=date.today().isoformat())
        PriceTable.from_document(doc, source=source)  # refuses a table we could not price with
    except Exception as e:
        raise click.ClickException(f"cannot load prices from {source}: {e}") from None
    db = _db()  # before the price file changes: a store we cannot open leaves prices and costs as they were
    paths = get_paths().ensure()
    from skill_insights.outputs import write_atomic

    write_atomic(paths.prices_file, json.dumps(doc, indent=1, allow_nan=False).encode(), 0o644)
    n = reprice(db, PriceTable.load(paths.prices_file))
    click.echo(f"loaded {len(doc['models'])} Claude models from {source}; re-priced {n} responses")


# -- daemon ---------------------------------------------------------------------------------------------


@cli.group()
def daemon() -> None:
    """The capture daemon: watches transcripts, takes hook nudges, ingests within a second."""


_POSITIVE = click.FloatRange(min=0, min_open=True)


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # FloatRange lets nan (every comparison with it is false) and inf through: neither is a usable interval.
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


@daemon.command("run")
@click.option("--polling", is_flag=True, default=None, help="Poll the file system instead of inotify/FSEvents.")
@click.option(
    "--reconcile-interval",
    "reconcile_s",
    type=_POSITIVE,
    callback=_finite,
    help="Seconds between full reconciles (300).",
)
@click.option("--debounce-ms", type=_POSITIVE, callback=_finite, help="Delay after a write before ingesting it (150).")
@click.option(
    "--projects-dir",
    "projects_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Transcript root to watch (repeatable). Default: $CLAUDE_CONFIG_DIR/projects.",
)
@click.option("-v", "--verbose", is_flag=True, default=None, help="Debug logging, also to stderr.")
def daemon_run(
    polling: bool | None,
    reconcile_s: float | None,
    debounce_ms: float | None,
    projects_dirs: tuple[Path, ...],
    verbose: bool | None,
) -> None:
    """Run the daemon in the foreground (SIGTERM or Ctrl-C stops it)."""
    from skill_insights.daemon.control import AlreadyRunning
    from skill_insights.daemon.service import Daemon, DaemonConfig

    for d in projects_dirs:  # a typo here would otherwise watch nothing, silently, forever
        if not d.is_dir():
            raise click.ClickException(f"no such projects folder: {d}")
    cfg = DaemonConfig.from_env(
        polling=polling,
        reconcile_s=reconcile_s,
        verbose=verbose,
        debounce_s=None if debounce_ms is None else debounce_ms / 1000,
        roots=list(projects_dirs) or None,
    )
    try:
        code = Daemon(cfg).run()
    except AlreadyRunning as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except Exception as e:  # the traceback is in the daemon log
        click.echo(f"error: the daemon failed: {e} (log: {get_paths().log_dir / 'daemon.log'})", err=True)
        sys.exit(1)
    sys.exit(code)


@daemon.command("start")
@click.option(
    "--wait",
    "wait_s",
    default=10.0,
    show_default=True,
    type=_POSITIVE,
    callback=_finite,
    help="Seconds to wait until it is up.",
)
def daemon_start(wait_s: float) -> None:
    """Start the daemon detached, unless one is running."""
    from skill_insights.daemon import control
    from skill_insights.settings import read_config

    read_config()  # the daemon reads it too, into its log: a broken one is said here, where the user looks
    _pid, ok, msg = control.start(wait_s)
    if not ok:
        raise click.ClickException(msg)
    click.echo(msg)


@daemon.command("stop")
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=_POSITIVE,
    callback=_finite,
    help="Seconds to wait for it to exit.",
)
@click.option("--force", is_flag=True, help="SIGKILL it if it has not exited by then.")
def daemon_stop(timeout: float, force: bool) -> None:
    """Stop the daemon (SIGTERM, then wait)."""
    from skill_insights.daemon import control

    _pid, stopped, msg = control.stop(timeout, force)
    click.echo(msg)
    if not stopped:
        sys.exit(1)


def _ago(ts: float | None) -> str:
    import time

    if not ts:
        return "never"
    s = max(0.0, time.time() - ts)
    return f"{s:.1f}s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.1f} h ago"


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True)
def daemon_status(as_json: bool) -> None:
    """Pid, uptime, last ingest, files watched, backlog, RSS. Exit code 3 when not running."""
    from skill_insights.daemon import control

    doc = control.status()
    if as_json:
        _echo_json(doc)
    elif not doc["running"]:
        click.echo("daemon not running")
    else:
        rss = doc.get("rss_bytes")
        click.echo(f"pid           {doc['pid']}")
        click.echo(f"uptime        {doc.get('uptime_s', '?')}s")
        click.echo(f"last ingest   {_ago(doc.get('last_ingest_at'))}")
        click.echo(f"files watched {doc.get('files_watched', '?')}  ({doc.get('observer', '?')} observer)")
        click.echo(f"backlog       {doc.get('backlog', '?')}")
        wait = doc.get("store_wait")
        if isinstance(wait, dict):  # another writer holds the store's lock: capture waits and retries
            click.echo(
                f"store         locked by another writer for {wait.get('seconds', '?')}s: "
                f"{wait.get('files', '?')} files wait, attempt {wait.get('attempts', '?')}, "
                f"next retry in {wait.get('next_retry_in_s', '?')}s"
            )
        click.echo(f"rss           {rss / 1048576:.1f} MB" if rss else "rss           ?")
        click.echo(f"socket        {doc.get('socket') or 'none (spool only)'}")
        for job in doc.get("jobs", []):
            err = f"  last error: {job['last_error']}" if job.get("last_error") else ""
            click.echo(
                f"job           {job['name']} every {job['interval_s']:g}s, next in {job['next_in_s']:.0f}s, "
                f"{job['runs']} runs{err}"
            )
    if not doc["running"]:
        sys.exit(3)


# -- hooks and install ----------------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("event", required=False, default="")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)  # a hook must exit 0 whatever it is given: ignored
def hook(event: str, extra: tuple[str, ...]) -> None:
    """Run a Claude Code hook (session-start | session-end) on the JSON on stdin. Always exits 0.

    `install` writes a faster command (the interpreter on hooks/entry.py); this is the same code.
    """
    from skill_insights.hooks import fastpath

    sys.exit(fastpath.main([event]))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--format",
    "fmt",
    default=None,
    help="Fields in order, comma-separated: model,session,today,block,context,5h,7d (and cc).",
)
@click.option("--color", is_flag=True, help="Colour the rate-limit fields by pace.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)  # a statusline must print whatever it is given
def statusline(fmt: str | None, color: bool, extra: tuple[str, ...]) -> None:
    """One status line for Claude Code's `statusLine` setting, from the JSON on stdin. Always exits 0.

    `install --statusline` writes a faster command (the interpreter on hooks/statusline_entry.py); this is the
    same code.
    """
    from skill_insights.hooks import statusline as sl

    sys.exit(sl.main([*(["--format", fmt] if fmt else []), *(["--color"] if color else [])]))


def _report_install(change, svc, dry_run: bool, verb: str) -> None:
    would = "would be " if dry_run else ""
    if getattr(change, "removed", False):
        click.echo(f"settings  {change.path}: removed (install had created it)")
    elif getattr(change, "restored", False):
        click.echo(f"settings  {change.path}: restored exactly as it was before install")
    elif change.changed:
        made = "created" if change.created else "updated"
        backup = f" (backup: {change.backup})" if change.backup else ""
        click.echo(f"settings  {change.path}: {would}{made}, hooks {verb}{backup}")
    else:
        click.echo(f"settings  {change.path}: already up to date, nothing changed")
    if svc is not None:
        for m in svc.messages or [f"{svc.kind}: nothing to do"]:
            click.echo(f"service   {m}")


@cli.command()
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Claude Code settings file. Default: $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json.",
)
@click.option("--no-service", is_flag=True, help="Do not install the systemd user unit / LaunchAgent.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--statusline", is_flag=True, help="Also set Claude Code's statusLine to `skill-insights statusline`.")
@click.option("--force", is_flag=True, help="With --statusline: replace another statusLine (uninstall restores it).")
def install(settings_path: Path | None, no_service: bool, dry_run: bool, statusline: bool, force: bool) -> None:
    """Add the SessionStart/SessionEnd hooks to Claude Code's settings and set up the daemon's autostart."""
    from skill_insights.hooks import install as inst

    if force and not statusline:
        raise click.UsageError("--force goes with --statusline")
    try:
        change, svc = inst.install(
            settings_path, service=not no_service, dry_run=dry_run, statusline=statusline, force=force
        )
    except inst.SettingsError as e:
        raise click.ClickException(f"{e}; nothing was changed") from None
    _report_install(change, svc, dry_run, "added")
    if statusline:
        click.echo(f"statusline {inst.statusline_command()}" + (" (would be set)" if dry_run else ""))


@cli.command()
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Claude Code settings file. Default: $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json.",
)
@click.option("--no-service", is_flag=True, help="Leave the systemd user unit / LaunchAgent alone.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
def uninstall(settings_path: Path | None, no_service: bool, dry_run: bool) -> None:
    """Remove exactly what `install` added."""
    from skill_insights.hooks import install as inst

    try:
        change, svc = inst.uninstall(settings_path, service=not no_service, dry_run=dry_run)
    except inst.SettingsError as e:
        raise click.ClickException(f"{e}; nothing was changed") from None
    _report_install(change, svc, dry_run, "removed")


@cli.command("ingest-spool", hidden=True)
def ingest_spool() -> None:
    """Ingest the transcripts of spooled hook payloads, then delete them (started detached by the hook)."""
    from skill_insights.collectors.transcripts import TranscriptTailer
    from skill_insights.daemon import spool
    from skill_insights.hooks import fastpath

    try:
        result = spool.drain(TranscriptTailer(_db(), _prices()), default_projects_dirs())
    except Exception as e:  # detached, stdio is /dev/null: the hook log is the only place to say it
        fastpath.log("ingest-spool", f"failed: {e.__class__.__name__}: {e}")
        raise
    for why in result.unusable:  # each such file is removed: said once
        fastpath.log("ingest-spool", f"removed an unusable payload {why}")
    if result.payloads:
        fastpath.log("ingest-spool", f"{result.payloads} payloads ({result.garbage} garbage): {result.summary}")
    click.echo(f"{result.payloads} spooled payloads, {len(result.transcripts)} transcripts. {result.summary}")


# -- report ---------------------------------------------------------------------------------------------


def _write_report(output: Path | None = None, keep: int | None = None, since=None, until=None) -> Path:
    from skill_insights.report import generate_report, write_report

    db = _db()
    paths = get_paths().ensure()
    try:
        if output is not None:
            return write_report(db, output, since=since, until=until, paths=paths)
        return generate_report(db, paths, keep=keep, since=since, until=until)
    except OSError as e:
        raise click.ClickException(f"cannot write the report: {e}") from None


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write exactly this file. Default: the reports dir (timestamped, plus latest.html).",
)
@click.option("--keep", type=click.IntRange(min=1), help="Timestamped reports to keep (config report_keep, 20).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="The period shown first starts here.")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), help="The period shown first ends here.")
def report(output: Path | None, keep: int | None, since, until) -> None:
    """Build the HTML report (one self-contained file) from the store."""
    lo, hi = (since.date() if since else None), (until.date() if until else None)
    if lo and hi and lo > hi:
        raise click.ClickException(f"--since {lo} is after --until {hi}")
    click.echo(str(_write_report(output, keep, lo, hi).resolve()))


@cli.command("open")
def open_report() -> None:
    """Open the latest report in the browser, building one first if there is none."""
    from skill_insights.report import latest_report

    path = latest_report(get_paths()) or _write_report()
    click.echo(str(path.resolve()))
    click.launch(str(path.resolve()))


def _run_step(name: str, args: list[str]) -> None:
    """Run another subcommand in-process; a failing step is a note, not the end of `run`."""
    try:
        cli.commands[name].main(args=args, prog_name=f"skill-insights {name}", standalone_mode=False)
    except click.ClickException as e:
        click.echo(f"{name}: failed: {e.format_message()}", err=True)
    except SystemExit as e:
        if e.code:
            click.echo(f"{name}: exited with {e.code}", err=True)
    except Exception as e:  # one broken phase must not cost the user the report
        click.echo(f"{name}: failed: {e.__class__.__name__}: {e}", err=True)


def _has_history() -> bool:
    """Transcripts to read, or sessions already captured."""
    for d in default_projects_dirs():
        if d.is_dir() and next(d.rglob("*.jsonl"), None) is not None:
            return True
    db_file = get_paths().database
    if not db_file.exists():
        return False
    import sqlite3

    from skill_insights.store import open_readonly

    try:
        with open_readonly(db_file) as conn:
            return conn.execute("SELECT 1 FROM sessions LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # a store created before any capture
            return False
        raise  # a store that can't be read: the group's one-line error (_Cli)


@cli.command("run")
@click.option(
    "--demo", is_flag=True, help="Use a generated demo data set (in the data folder's demo/; touches nothing of yours)."
)
@click.option("--keep", type=click.IntRange(min=1), help="Timestamped reports to keep (config report_keep, 20).")
@click.option("--no-ingest", is_flag=True, hidden=True, help="Skip capture (the daemon has done it).")
def run_once(demo: bool, keep: int | None, no_ingest: bool) -> None:
    """Ingest + scan + analyze + report, once. The last line printed is the report's path."""
    import os

    roots: list[str] = []
    analyze_args: list[str] = []
    if not demo and not no_ingest and not _has_history():
        click.echo("no Claude Code history on this machine yet: showing a generated demo instead", err=True)
        demo = True
    real_paths = get_paths().ensure()
    if demo:
        from skill_insights import demo as demo_data

        demo_root = real_paths.data_dir / "demo"
        demo_data.remove(demo_root)  # rebuilt each run, dated today
        env = demo_data.build(demo_root)
        for name in demo_data.DemoEnv.REMOTE_SETTINGS:
            os.environ.pop(name, None)
        os.environ.update(env.environ())  # this process only: every path below now resolves into the demo
        roots = [str(p) for p in env.projects]
        analyze_args = demo_data.analyze_args(cli.commands.get("analyze"))
        click.echo(f"demo data in {env.root}", err=True)
    if not no_ingest:
        _run_step("ingest", [])
    _run_step("scan", roots)
    _run_step("analyze", analyze_args)
    if demo:
        from skill_insights.report import generate_report

        # Written into the user's own reports folder, so `open` shows this report afterwards.
        try:
            out = generate_report(_db(), real_paths, keep=keep, demo=True)
        except OSError as e:
            raise click.ClickException(f"cannot write the report: {e}") from None
        click.echo(str(out.resolve()))
        return
    click.echo(str(_write_report(None, keep).resolve()))


# -- analyze --------------------------------------------------------------------------------------------


def _analysis_inventory(inventory_file: Path | None, db) -> dict:
    """--inventory FILE, else the latest stored scan, else a fresh `scan` (the inventory subsystem's command)."""
    import contextlib

    from skill_insights.analyzers.source import InventoryError, latest_stored, read_inventory_file

    try:
        if inventory_file is not None:
            return read_inventory_file(inventory_file)
        doc = latest_stored(db)
        if doc is not None:
            return doc
        try:
            # the scan's own summary goes to stderr: stdout stays the analysis (JSON with --json)
            with contextlib.redirect_stdout(sys.stderr):
                scan.main(args=[], prog_name="skill-insights scan", standalone_mode=False)
        except SystemExit as e:
            if e.code:
                raise InventoryError(f"scan exited with {e.code}") from None
        doc = latest_stored(db)  # the scan stores what it found
        if doc is None:
            raise InventoryError("the scan stored no inventory: pass --inventory FILE")
        return doc
    except InventoryError as e:
        raise click.ClickException(str(e)) from None


def _clip(s: str, n: int) -> str:
    # skill names come from files anyone can write: no control characters to the terminal, bounded width
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= n else s[: n - 1] + "…"


def _print_analysis(doc: dict, run_id: int, inventory: dict) -> None:
    from skill_insights.analyzers.problems import counts, flatten, merge, scan_findings
    from skill_insights.usage import plural

    click.echo(f"analysis run {run_id} over {plural(len(inventory.get('skills') or []), 'skill')}")
    for name, p in doc["phases"].items():
        extra = p.get("error") or plural(p.get("findings", 0), "finding")
        click.echo(f"  {name:<11} {p['status']:<8} {p['seconds']:>7.2f}s  {extra}")
    # The scan's findings too, and each problem once: the report counts exactly these.
    problems = merge([*(flatten(f) for f in doc["findings"]), *scan_findings(inventory)])
    c = counts(problems)
    click.echo(
        f"problems: {plural(c.get('error', 0), 'error')}, {plural(c.get('warning', 0), 'warning')}, "
        f"{c.get('info', 0)} info"
    )
    shown = [f for f in problems if f["severity"] != "info"]
    for f in shown[:40]:
        seen_by = "+".join(f["phases"])
        click.echo(
            f"  {f['severity'].upper():<7} {_clip(f['skill_name'] or '(workspace)', 24):<24} "
            f"{_clip(seen_by, 24):<24} {_clip(f['message'], 160)}"
        )
    if len(shown) > 40:
        click.echo(f"  … {len(shown) - 40} more (use --json)")
    for g in doc["duplicate_groups"]:
        names = ", ".join(_clip(s["name"], 40) for s in g["skills"])
        click.echo(f"duplicates ({g['kind']}, {g['similarity']:.2f}): {names}")


@cli.command()
@click.option(
    "--phase",
    "phases",
    multiple=True,
    type=click.Choice(["staleness", "quality", "duplicates", "registry"]),
    help="Run only this phase (repeatable). Default: all four.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON: {phases, findings, duplicate_groups}.")
@click.option(
    "--inventory",
    "inventory_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An inventory JSON file (default: the latest stored scan, or a new scan).",
)
@click.option("--llm", is_flag=True, help="Also ask an LLM judge (Anthropic Messages API; needs a key). Cached.")
@click.option("--stale-days", type=click.IntRange(min=1), help="Days without change and use that make a skill stale.")
def analyze(
    phases: tuple[str, ...], as_json: bool, inventory_file: Path | None, llm: bool, stale_days: int | None
) -> None:
    """Staleness, quality, duplicates and registry alternatives for every inventoried skill."""
    from skill_insights.analyzers.config import build_options
    from skill_insights.analyzers.runner import analyze as run_analysis
    from skill_insights.analyzers.runner import report as analysis_report

    db = _db()
    inventory = _analysis_inventory(inventory_file, db)
    run_id, results = run_analysis(db, inventory, build_options(llm=llm, stale_days=stale_days), list(phases))
    doc = analysis_report(results)
    if as_json:
        _echo_json(doc)
    else:
        _print_analysis(doc, run_id, inventory)
    failed = [n for n, r in results.items() if r.status != "ok"]
    if failed:
        click.echo(f"phase(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)


# -- skills inventory (issue 4) -----------------------------------------------------------------------------


def _existing_db():
    """The store (a plain connection) if it exists and opens, else None: a scan never creates it just to read
    it, nor fails on a store it only reads from (storing says why)."""
    if not get_paths().database.is_file():
        return None
    try:
        return _reader()
    except click.ClickException:
        return None


def _session_projects(db) -> list[Path]:
    """The cwd of every captured session in `db` (None: no store yet)."""
    if db is None:
        return []
    try:
        rows = db.execute("SELECT DISTINCT project FROM sessions WHERE project IS NOT NULL").fetchall()
    except Exception:
        return []
    return [Path(r[0]) for r in rows if r[0] and Path(r[0]).is_dir()]


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-agent-dirs", is_flag=True, help="Skip the user-level skill dirs of every agent and plugins.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the inventory JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory JSON.")
@click.option("--no-registry", is_flag=True, help="Don't ask the Tessl registry for tile signals (all `unknown`).")
def scan(roots: tuple[Path, ...], no_agent_dirs: bool, output: Path | None, as_json: bool, no_registry: bool) -> None:
    """Inventory every skill: agent skill dirs, plugins, Tessl tiles, ROOTs and the cwd of captured sessions."""
    from skill_insights.collectors.skills import POOL_THRESHOLD, paused_gc
    from skill_insights.collectors.skills import scan as run_scan
    from skill_insights.collectors.skills.output import OutputFailed, publish
    from skill_insights.collectors.skills.tessl import TesslRegistry, registry_base_url
    from skill_insights.schemas.validate import SchemaError

    for r in roots:
        if not r.is_dir():
            raise click.ClickException(f"no such folder: {r}")
    if output is not None:
        from skill_insights.outputs import NotRegularFile, check_output_path

        try:  # before scanning: the rename below would turn a FIFO, /dev/full or a folder into a plain file
            check_output_path(output)
        except NotRegularFile as e:
            raise click.ClickException(str(e)) from None
    paths = get_paths()
    # Opened once: it names the sessions' folders to scan and stores the result. A plain connection: the
    # store takes one, and sqlite-utils costs more to import than a small scan.
    db = _existing_db()
    registry = TesslRegistry(registry_base_url(paths.config_file), paths.cache_dir, enabled=not no_registry)
    # The inventory is ~10 acyclic objects per file: no cyclic GC while it is built, checked, written, stored.
    with paused_gc():
        try:
            doc = run_scan(
                list(roots),
                agent_dirs=not no_agent_dirs,
                project_dirs=_session_projects(db),
                registry=registry,
                cache_file=paths.cache_dir / "skills-scan.json",
            )
        finally:
            registry.close()
        try:
            diff = publish(
                doc,
                lambda: db if db is not None else _reader(),
                output,
                background=len(doc["skills"]) >= POOL_THRESHOLD,
            )
        except SchemaError as e:
            raise click.ClickException(f"the inventory does not match its schema at {e.path}: {e.message}") from None
        except OutputFailed as e:  # an unwritable -o is a user error: one line, not a traceback
            raise click.ClickException(f"cannot write {output}: {e.error.strerror or e.error}") from None
    if as_json:
        _echo_json(doc)
        return
    st = doc["stats"]
    nf = sum(len(s["findings"]) for s in doc["skills"]) + len(doc["findings"])
    from skill_insights.usage import plural

    click.echo(
        f"{plural(st['skills'], 'skill')} ({plural(st['locations'], 'location')}, "
        f"{plural(st['files'], 'file')}), {plural(st['manifests'], 'manifest')}, {plural(nf, 'finding')}, "
        f"in {doc['duration_seconds']:.2f}s"
    )
    if not diff["first"]:
        click.echo(f"since the last scan: {diff['added']} added, {diff['removed']} removed, {diff['changed']} changed")
    if output is not None:
        click.echo(f"inventory written to {output}")


@cli.command("schema")
@click.argument("name", default="inventory")
def schema_cmd(name: str) -> None:
    """Print a JSON Schema shipped with skill-insights (inventory, analysis_quality, ...)."""
    from skill_insights.schemas.validate import schema_names, schema_text

    if name not in schema_names():
        raise click.ClickException(f"no schema {name!r}; available: {', '.join(schema_names())}")
    click.echo(schema_text(name).rstrip("\n"))


@cli.group("skills")
def skills_group() -> None:
    """Installed skills joined with captured usage."""


@skills_group.command("usage")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="A skill not used in this many days counts as unused.",
)
def skills_usage(as_json: bool, days: int) -> None:
    """Activations, sessions and last use per installed skill; unused and no-longer-installed skills."""
    from skill_insights.inventory import skill_usage
    from skill_insights.usage import catch_up

    db = _db()
    catch_up(db)
    doc = skill_usage(db, days=days)
    if as_json:
        _echo_json(doc)
        return
    if not doc["skills"]:
        scanned = "scans" in db.table_names() and db.execute("SELECT 1 FROM scans LIMIT 1").fetchone()
        click.echo(
            "the last scan found no skills: add some under ~/.claude/skills or a project's .claude/skills, "
            "or scan a folder: `skill-insights scan DIR`"
            if scanned
            else "no inventory yet: run `skill-insights scan`"
        )
    for s in sorted(doc["skills"], key=lambda s: (-s["activations"], s["name"])):
        if s["activations"]:
            click.echo(
                f"{s['name']:<40} {s['activations']:>5} activations  {s['sessions']:>4} sessions  last {s['last_used']}"
            )
    if doc["unused"]:
        click.echo(
            f"installed but not used in {days} days ({len(doc['unused'])}): "
            + ", ".join(u["name"] for u in doc["unused"])
        )
    if doc["missing"]:
        click.echo(
            "used but not installed any more: "
            + ", ".join(f"{m['name']} (×{m['activations']})" for m in doc["missing"])
        )


# -- opt-in org signals (PostHog) ------------------------------------------------------------------------------


@cli.group()
def telemetry() -> None:
    """Opt-in org signals: skill/MCP activations and session summaries sent to PostHog. Off by default."""


@telemetry.command("enable")
def telemetry_enable() -> None:
    """Start queueing and sending (running it is the consent; the first time it shows what is sent)."""
    from skill_insights.telemetry import commands

    click.echo(commands.enable(_reader()))


@telemetry.command("disable")
def telemetry_disable() -> None:
    """Stop sending now; events still queued are dropped."""
    from skill_insights.telemetry import commands

    click.echo(commands.disable(_reader()))


@telemetry.command("status")
@click.option("--show-payload", is_flag=True, help="Print, as JSON, exactly the events that would leave now.")
@click.option("--json", "as_json", is_flag=True)
def telemetry_status(show_payload: bool, as_json: bool) -> None:
    """Consent, destination and the outbox."""
    from skill_insights.telemetry import commands

    conn = _reader()
    if show_payload:
        _echo_json(commands.payload(conn))
        return
    doc = commands.status(conn)
    if as_json:
        _echo_json(doc)
    else:
        click.echo(commands.status_text(doc))


@telemetry.command("flush")
@click.option("--retry-parked", is_flag=True, help="Queue again the events the server refused (after a fix).")
def telemetry_flush(retry_parked: bool) -> None:
    """Send every queued event now; prints how many were sent, retried and parked."""
    from skill_insights.telemetry import commands

    click.echo(commands.flush(_reader(), retry_parked).line())


@cli.group("org-usage")
def org_usage() -> None:
    """The organisation's skill, MCP and session usage, fetched from PostHog with HogQL."""


@org_usage.command("fetch")
@click.option(
    "--output", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Write org_usage.json here."
)
@click.option("--windows", default="7,30,90", show_default=True, help="Comma-separated windows, in days.")
@click.option("--primary-window", default=30, show_default=True, type=int, help="The window used for ranking.")
@click.option("--filter-repos", default="", help="Comma-separated repo prefixes (github.com/org); none: every repo.")
@click.option("--filter-email-domains", default="", help="Comma-separated email domains of the people to count.")
@click.option("--project-id", type=int, help="PostHog project id (SKILL_INSIGHTS_POSTHOG_PROJECT_ID).")
@click.option("--host", help="PostHog host (SKILL_INSIGHTS_POSTHOG_HOST).")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A 0600 file holding the personal API key (else SKILL_INSIGHTS_POSTHOG_PERSONAL_API_KEY).",
)
def org_usage_fetch(
    output: Path,
    windows: str,
    primary_window: int,
    filter_repos: str,
    filter_email_domains: str,
    project_id: int | None,
    host: str | None,
    key_file: Path | None,
) -> None:
    """Run the org dashboards' HogQL queries; write the document; compare the org with this machine."""
    from skill_insights.telemetry import commands
    from skill_insights.telemetry.org_usage import OrgUsageError

    paths = get_paths()
    try:
        doc, here = commands.fetch_org_usage(
            _reader(),
            output,
            windows=windows,
            primary_window=primary_window,
            filter_repos=filter_repos,
            filter_email_domains=filter_email_domains,
            host=host,
            project_id=project_id,
            key_file=key_file,
            config_dir=paths.config_dir,
            copy_to=paths.data_dir / "org_usage.json",
        )
    except OrgUsageError as e:
        raise click.ClickException(str(e)) from None
    t = doc["totals"].get(here["window"], {})
    click.echo(
        f"{t.get('activations', 0)} skill activations by {t.get('users', 0)} people in {here['window']}; "
        f"{len(doc['skills']) + len(doc['untiled_skills'])} skills, {len(doc['mcp_tools'])} MCP tools"
    )
    if here["popular_not_installed"]:
        click.echo(
            "popular in the org, not installed here: "
            + ", ".join(f"{s['name']} ({s['users']} people)" for s in here["popular_not_installed"])
        )
    if here["installed_unused_org_wide"]:
        click.echo("installed here, unused org-wide: " + ", ".join(here["installed_unused_org_wide"]))
    click.echo(f"written to {output}")


if __name__ == "__main__":
    cli()

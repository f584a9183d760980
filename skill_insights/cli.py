"""The `skill-insights` command line: thin commands that call into the packages."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from skill_insights import __version__
from skill_insights.settings import Paths, default_projects_dirs, get_paths

if TYPE_CHECKING:
    from skill_insights.github.client import GitHub


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


def _echo_lines(lines: list[str], err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


def _show(doc: Any, as_json: bool, lines_of: Callable[[Any], list[str]]) -> None:
    """`doc` as JSON with --json, else the lines `lines_of(doc)` says it in (computed only then)."""
    if as_json:
        _echo_json(doc)
    else:
        _echo_lines(lines_of(doc))


def _print(table) -> None:
    from skill_insights.report.console import console

    console().print(table)


def _warn_unpriced(models: list[str]) -> None:
    from skill_insights.usage import unpriced_warning

    _echo_lines([unpriced_warning(m) for m in models], err=True)


def _check_date(_ctx, _param, value: str | None) -> str | None:
    from skill_insights.usage import parse_day

    try:
        return None if value is None else parse_day(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


_POSITIVE = click.FloatRange(min=0, min_open=True)


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # FloatRange lets nan (every comparison with it is false) and inf through: neither is a usable interval.
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


def _seconds(*decls: str, **kw):
    """An option of a positive, finite number of seconds."""
    return click.option(*decls, type=_POSITIVE, callback=_finite, **kw)


def _json_flag(help: str | None = None):
    return click.option("--json", "as_json", is_flag=True, help=help)


_SETTINGS_HELP = "Claude Code settings file. Default: $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json."
_settings_option = click.option(
    "--settings", "settings_path", type=click.Path(path_type=Path, dir_okay=False), help=_SETTINGS_HELP
)
_keep_option = click.option(
    "--keep", type=click.IntRange(min=1), help="Timestamped reports to keep (config report_keep, 20)."
)


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
    from skill_insights.collectors.capture import capture, progress_bar, refuse_file

    for refusal in filter(None, map(refuse_file, files)):
        raise click.ClickException(refusal)
    for d in projects_dirs:
        if not d.is_dir():
            raise click.ClickException(f"no such projects folder: {d}")
    db = _reader()  # capture needs no sqlite-utils (it costs more to import than a small ingest)
    roots = list(projects_dirs) + list(files) or default_projects_dirs()
    with contextlib.ExitStack() as stack:
        summary = capture(db, _prices(), roots, progress_bar(stack))
    _warn_unpriced(sorted(summary.unpriced_models))
    _echo_lines(summary.ledger_warnings(), err=True)
    click.echo(summary.line())


# -- usage ----------------------------------------------------------------------------------------------


@cli.command()
@click.argument("period", type=click.Choice(["daily", "weekly", "monthly", "session", "blocks", "quota", "sources"]))
@_json_flag("JSON: {rows: [...], totals: {...}}.")
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
        from skill_insights.report.sources import sources_table, usage_sources
        from skill_insights.usage import catch_up

        catch_up(db := _db())
        doc = usage_sources(db, since=since, until=until, kind=kind, by_day=by_day, project=project)
        _show(doc, as_json, sources_table)
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
        from skill_insights import quota

        doc = quota.history(db, since, until, tz)
        _show(doc, as_json, lambda d: quota.lines(d, tz))
        return
    doc = reports.period_report(db, period, since, until, project, tz, zoned=bool(timezone), active=active)
    _warn_unpriced(doc["totals"]["unpriced_models"])
    if as_json:
        _echo_json(doc)
        return
    from skill_insights.report.console import usage_view

    table, empty = usage_view(doc, period, tz, timezone, filtered=bool(since or until or project))
    if empty:
        click.echo(empty, err=True)
    _print(table)


@cli.group()
def session() -> None:
    """One session's stats."""


@session.command("show")
@click.argument("session_id")
@_json_flag()
def session_show(session_id: str, as_json: bool) -> None:
    """Models, tokens, cost, tools, skills, subagents and time of one session (id or unique prefix)."""
    from skill_insights.report.console import session_lines
    from skill_insights.usage import session_stats

    db = _reader()
    stats = _built(session_stats(db, _one_session(db, session_id)), session_id)
    _show(stats, as_json, session_lines)


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
@_json_flag("The session stats document (schema: session-stats).")
def session_stats_cmd(session_id: str, as_json: bool) -> None:
    """Per-session stats: models, tokens, cost, tools, skills, subagents, commits, problems, workflow edges."""
    from skill_insights.github import render, stats

    conn = _reader()
    data = _built(stats.build(conn, _one_session(conn, session_id)), session_id).model_dump(mode="json")
    _show(data, as_json, render.stats_lines)


@session.command("mermaid")
@click.argument("session_id")
def session_mermaid(session_id: str) -> None:
    """The workflow diagram of each invoked skill whose SKILL.md has one: edges green (taken), red (error
    path), grey (not taken), with Nx counters."""
    from skill_insights.github import render, stats

    conn = _reader()
    found = stats.diagrams(conn, _one_session(conn, session_id))
    if not found:
        click.echo("no invoked skill of this session has a mermaid flowchart in its SKILL.md", err=True)
    _echo_lines(render.diagram_blocks(found))


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
    with _github() as gh:
        ex = extract.collect(gh, repo, first, last, warn=_warn)
    _echo_lines([str(path) for path in extract.write(ex, output_dir)])


# -- pricing --------------------------------------------------------------------------------------------


@cli.group()
def pricing() -> None:
    """The price table used to estimate cost."""


@pricing.command("show")
@_json_flag()
def pricing_show(as_json: bool) -> None:
    """The models and prices in use (USD per million tokens)."""
    from skill_insights.pricing.commands import show_document, show_table

    doc = show_document(_prices())
    if as_json:
        _echo_json(doc)
        return
    heading, table = show_table(doc)
    click.echo(heading)
    _print(table)


@pricing.command("update")
@click.option("--from", "source", required=True, help="A LiteLLM-format price file: a path or an http(s) URL.")
@click.option("--timeout", default=20.0, show_default=True, help="Seconds, for a URL.")
def pricing_update(source: str, timeout: float) -> None:
    """Load a LiteLLM-format price file; stored costs are recomputed with it."""
    from skill_insights.pricing.commands import load_litellm, save
    from skill_insights.store.rollups import reprice

    try:
        doc = load_litellm(source, timeout)
    except Exception as e:
        raise click.ClickException(f"cannot load prices from {source}: {e}") from None
    db = _db()  # before the price file changes: a store we cannot open leaves prices and costs as they were
    n = reprice(db, save(doc, get_paths().ensure().prices_file))
    click.echo(f"loaded {len(doc['models'])} Claude models from {source}; re-priced {n} responses")


# -- daemon ---------------------------------------------------------------------------------------------


@cli.group()
def daemon() -> None:
    """The capture daemon: watches transcripts, takes hook nudges, ingests within a second."""


@daemon.command("run")
@click.option("--polling", is_flag=True, default=None, help="Poll the file system instead of inotify/FSEvents.")
@_seconds("--reconcile-interval", "reconcile_s", help="Seconds between full reconciles (300).")
@_seconds("--debounce-ms", help="Delay after a write before ingesting it (150).")
@click.option(
    "--projects-dir",
    "projects_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Transcript root to watch (repeatable). Default: $CLAUDE_CONFIG_DIR/projects.",
)
@click.option("-v", "--verbose", is_flag=True, default=None, help="Debug logging, also to stderr.")
def daemon_run(debounce_ms: float | None, projects_dirs: tuple[Path, ...], **overrides: Any) -> None:
    """Run the daemon in the foreground (SIGTERM or Ctrl-C stops it)."""
    from skill_insights.daemon.control import AlreadyRunning
    from skill_insights.daemon.service import Daemon, DaemonConfig

    for d in projects_dirs:  # a typo here would otherwise watch nothing, silently, forever
        if not d.is_dir():
            raise click.ClickException(f"no such projects folder: {d}")
    debounce_s = None if debounce_ms is None else debounce_ms / 1000
    cfg = DaemonConfig.from_env(debounce_s=debounce_s, roots=list(projects_dirs) or None, **overrides)
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
@_seconds("--wait", "wait_s", default=10.0, show_default=True, help="Seconds to wait until it is up.")
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
@_seconds("--timeout", default=10.0, show_default=True, help="Seconds to wait for it to exit.")
@click.option("--force", is_flag=True, help="SIGKILL it if it has not exited by then.")
def daemon_stop(timeout: float, force: bool) -> None:
    """Stop the daemon (SIGTERM, then wait)."""
    from skill_insights.daemon import control

    _pid, stopped, msg = control.stop(timeout, force)
    click.echo(msg)
    if not stopped:
        sys.exit(1)


@daemon.command("status")
@_json_flag()
def daemon_status(as_json: bool) -> None:
    """Pid, uptime, last ingest, files watched, backlog, RSS. Exit code 3 when not running."""
    from skill_insights.daemon import control

    doc = control.status()
    _show(doc, as_json, control.status_lines)
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


@cli.command()
@_settings_option
@click.option("--no-service", is_flag=True, help="Do not install the systemd user unit / LaunchAgent.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--statusline", is_flag=True, help="Also set Claude Code's statusLine to `skill-insights statusline`.")
@click.option("--force", is_flag=True, help="With --statusline: replace another statusLine (uninstall restores it).")
def install(settings_path: Path | None, no_service: bool, dry_run: bool, statusline: bool, force: bool) -> None:
    """Add the SessionStart/SessionEnd hooks to Claude Code's settings and set up the daemon's autostart."""
    from skill_insights.hooks import install as inst
    from skill_insights.hooks.install_report import change_lines

    if force and not statusline:
        raise click.UsageError("--force goes with --statusline")
    try:
        change, svc = inst.install(
            settings_path, service=not no_service, dry_run=dry_run, statusline=statusline, force=force
        )
    except inst.SettingsError as e:
        raise click.ClickException(f"{e}; nothing was changed") from None
    _echo_lines(change_lines(change, svc, dry_run, "added"))
    if statusline:
        click.echo(f"statusline {inst.statusline_command()}" + (" (would be set)" if dry_run else ""))


@cli.command()
@_settings_option
@click.option("--no-service", is_flag=True, help="Leave the systemd user unit / LaunchAgent alone.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
def uninstall(settings_path: Path | None, no_service: bool, dry_run: bool) -> None:
    """Remove exactly what `install` added."""
    from skill_insights.hooks import install as inst
    from skill_insights.hooks.install_report import change_lines

    try:
        change, svc = inst.uninstall(settings_path, service=not no_service, dry_run=dry_run)
    except inst.SettingsError as e:
        raise click.ClickException(f"{e}; nothing was changed") from None
    _echo_lines(change_lines(change, svc, dry_run, "removed"))


@cli.command("ingest-spool", hidden=True)
def ingest_spool() -> None:
    """Ingest the transcripts of spooled hook payloads, then delete them (started detached by the hook)."""
    from skill_insights.collectors.transcripts import TranscriptTailer
    from skill_insights.daemon.spool import drain_and_log

    click.echo(drain_and_log(TranscriptTailer(_db(), _prices()), default_projects_dirs()))


# -- report ---------------------------------------------------------------------------------------------


def _write_report(
    output: Path | None = None, keep: int | None = None, since=None, until=None, paths: Paths | None = None, demo=False
) -> Path:
    from skill_insights.report import generate_report, write_report

    db = _db()
    paths = paths or get_paths().ensure()
    try:
        if output is not None:
            return write_report(db, output, since=since, until=until, paths=paths)
        return generate_report(db, paths, keep=keep, since=since, until=until, demo=demo)
    except OSError as e:
        raise click.ClickException(f"cannot write the report: {e}") from None


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write exactly this file. Default: the reports dir (timestamped, plus latest.html).",
)
@_keep_option
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

    path = (latest_report(get_paths()) or _write_report()).resolve()
    click.echo(str(path))
    click.launch(str(path))


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


@cli.command("run")
@click.option(
    "--demo", is_flag=True, help="Use a generated demo data set (in the data folder's demo/; touches nothing of yours)."
)
@_keep_option
@click.option("--no-ingest", is_flag=True, hidden=True, help="Skip capture (the daemon has done it).")
def run_once(demo: bool, keep: int | None, no_ingest: bool) -> None:
    """Ingest + scan + analyze + report, once. The last line printed is the report's path."""
    from skill_insights.collectors.capture import has_history

    roots: list[str] = []
    analyze_args: list[str] = []
    if not demo and not no_ingest and not has_history(default_projects_dirs(), get_paths().database):
        click.echo("no Claude Code history on this machine yet: showing a generated demo instead", err=True)
        demo = True
    real_paths = get_paths().ensure()
    if demo:
        from skill_insights import demo as demo_data
        from skill_insights.demo.switch import use_demo

        env = use_demo(real_paths.data_dir / "demo")  # every path below now resolves into the demo
        roots = [str(p) for p in env.projects]
        analyze_args = demo_data.analyze_args(cli.commands.get("analyze"))
        click.echo(f"demo data in {env.root}", err=True)
    if not no_ingest:
        _run_step("ingest", [])
    _run_step("scan", roots)
    _run_step("analyze", analyze_args)
    # Into the user's own reports folder, a demo's too: `open` shows this report afterwards.
    click.echo(str(_write_report(None, keep, paths=real_paths, demo=demo).resolve()))


# -- analyze --------------------------------------------------------------------------------------------


def _scan_for_analysis() -> None:
    """A fresh `scan` (the inventory subsystem's command) when nothing is stored; its own summary goes to
    stderr: stdout stays the analysis (JSON with --json)."""
    from skill_insights.analyzers.source import InventoryError

    try:
        with contextlib.redirect_stdout(sys.stderr):
            scan.main(args=[], prog_name="skill-insights scan", standalone_mode=False)
    except SystemExit as e:
        if e.code:
            raise InventoryError(f"scan exited with {e.code}") from None


@cli.command()
@click.option(
    "--phase",
    "phases",
    multiple=True,
    type=click.Choice(["staleness", "quality", "duplicates", "registry"]),
    help="Run only this phase (repeatable). Default: all four.",
)
@_json_flag("JSON: {phases, findings, duplicate_groups}.")
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
    from skill_insights.analyzers.problems import summary_lines
    from skill_insights.analyzers.runner import analyze as run_analysis
    from skill_insights.analyzers.runner import report as analysis_report
    from skill_insights.analyzers.source import InventoryError, inventory_for

    db = _db()
    try:
        inventory = inventory_for(inventory_file, db, _scan_for_analysis)
    except InventoryError as e:
        raise click.ClickException(str(e)) from None
    run_id, results = run_analysis(db, inventory, build_options(llm=llm, stale_days=stale_days), list(phases))
    doc = analysis_report(results)
    _show(doc, as_json, lambda d: summary_lines(d, run_id, inventory))
    failed = [n for n, r in results.items() if r.status != "ok"]
    if failed:
        click.echo(f"phase(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)


# -- skills inventory -------------------------------------------------------------------------------------


def _existing_db():
    """The store (a plain connection) if it exists and opens, else None: a scan never creates it just to read
    it, nor fails on a store it only reads from (storing says why)."""
    if not get_paths().database.is_file():
        return None
    try:
        return _reader()
    except click.ClickException:
        return None


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-agent-dirs", is_flag=True, help="Skip the user-level skill dirs of every agent and plugins.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the inventory JSON here.")
@_json_flag("Print the inventory JSON.")
@click.option("--no-registry", is_flag=True, help="Don't ask the Tessl registry for tile signals (all `unknown`).")
def scan(roots: tuple[Path, ...], no_agent_dirs: bool, output: Path | None, as_json: bool, no_registry: bool) -> None:
    """Inventory every skill: agent skill dirs, plugins, Tessl tiles, ROOTs and the cwd of captured sessions."""
    from skill_insights.collectors.skills.output import OutputFailed
    from skill_insights.inventory import scan_and_store, scan_lines
    from skill_insights.outputs import NotRegularFile, check_output_path
    from skill_insights.schemas.validate import SchemaError

    for r in roots:
        if not r.is_dir():
            raise click.ClickException(f"no such folder: {r}")
    try:  # before scanning: the rename that writes it would turn a FIFO, /dev/full or a folder into a plain file
        if output is not None:
            check_output_path(output)
    except NotRegularFile as e:
        raise click.ClickException(str(e)) from None
    paths = get_paths()
    # Opened once: it names the sessions' folders to scan and stores the result. A plain connection: the
    # store takes one, and sqlite-utils costs more to import than a small scan.
    db = _existing_db()
    try:
        doc, diff = scan_and_store(
            list(roots),
            agent_dirs=not no_agent_dirs,
            use_registry=not no_registry,
            output=output,
            db=db,
            open_store=lambda: db if db is not None else _reader(),
            paths=paths,
        )
    except SchemaError as e:
        raise click.ClickException(f"the inventory does not match its schema at {e.path}: {e.message}") from None
    except OutputFailed as e:  # an unwritable -o is a user error: one line, not a traceback
        raise click.ClickException(f"cannot write {output}: {e.error.strerror or e.error}") from None
    _show(doc, as_json, lambda d: scan_lines(d, diff, output))


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
@_json_flag()
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="A skill not used in this many days counts as unused.",
)
def skills_usage(as_json: bool, days: int) -> None:
    """Activations, sessions and last use per installed skill; unused and no-longer-installed skills."""
    from skill_insights.inventory import has_scan, skill_usage, usage_lines
    from skill_insights.usage import catch_up

    db = _db()
    catch_up(db)
    doc = skill_usage(db, days=days)
    _show(doc, as_json, lambda d: usage_lines(d, scanned=not d["skills"] and has_scan(db)))


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
@_json_flag()
def telemetry_status(show_payload: bool, as_json: bool) -> None:
    """Consent, destination and the outbox."""
    from skill_insights.telemetry import commands

    conn = _reader()
    if show_payload:
        _echo_json(commands.payload(conn))
        return
    doc = commands.status(conn)
    _show(doc, as_json, lambda d: [commands.status_text(d)])


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
def org_usage_fetch(output: Path, **options: Any) -> None:
    """Run the org dashboards' HogQL queries; write the document; compare the org with this machine."""
    from skill_insights.telemetry import commands
    from skill_insights.telemetry.org_usage import OrgUsageError

    paths = get_paths()
    try:
        copy_to = paths.data_dir / "org_usage.json"
        doc, here = commands.fetch_org_usage(_reader(), output, config_dir=paths.config_dir, copy_to=copy_to, **options)
    except OrgUsageError as e:
        raise click.ClickException(str(e)) from None
    _echo_lines(commands.org_usage_lines(doc, here, output))


if __name__ == "__main__":
    cli()

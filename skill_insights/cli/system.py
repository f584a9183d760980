"""Capture and the machinery around it: `ingest`, `pricing`, `daemon`, the hooks, the statusline, `install`
and `uninstall`."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from skill_insights.cli.shared import (
    cli,
    echo_json,
    echo_lines,
    json_flag,
    price_table,
    print_table,
    seconds_option,
    show,
    store_db,
    store_reader,
    warn_unpriced,
)
from skill_insights.settings import default_projects_dirs, get_paths

_SETTINGS_HELP = "Claude Code settings file. Default: $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json."
_settings_option = click.option(
    "--settings", "settings_path", type=click.Path(path_type=Path, dir_okay=False), help=_SETTINGS_HELP
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
    db = store_reader()  # capture needs no sqlite-utils (it costs more to import than a small ingest)
    roots = list(projects_dirs) + list(files) or default_projects_dirs()
    with contextlib.ExitStack() as stack:
        summary = capture(db, price_table(), roots, progress_bar(stack))
    warn_unpriced(sorted(summary.unpriced_models))
    echo_lines(summary.ledger_warnings(), err=True)
    click.echo(summary.line())


# -- pricing --------------------------------------------------------------------------------------------


@cli.group()
def pricing() -> None:
    """The price table used to estimate cost."""


@pricing.command("show")
@json_flag()
def pricing_show(as_json: bool) -> None:
    """The models and prices in use (USD per million tokens)."""
    from skill_insights.pricing.commands import show_document, show_table

    doc = show_document(price_table())
    if as_json:
        echo_json(doc)
        return
    heading, table = show_table(doc)
    click.echo(heading)
    print_table(table)


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
    db = store_db()  # before the price file changes: a store we cannot open leaves prices and costs as they were
    n = reprice(db, save(doc, get_paths().ensure().prices_file))
    click.echo(f"loaded {len(doc['models'])} Claude models from {source}; re-priced {n} responses")


# -- daemon ---------------------------------------------------------------------------------------------


@cli.group()
def daemon() -> None:
    """The capture daemon: watches transcripts, takes hook nudges, ingests within a second."""


@daemon.command("run")
@click.option("--polling", is_flag=True, default=None, help="Poll the file system instead of inotify/FSEvents.")
@seconds_option("--reconcile-interval", "reconcile_s", help="Seconds between full reconciles (300).")
@seconds_option("--debounce-ms", help="Delay after a write before ingesting it (150).")
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
@seconds_option("--wait", "wait_s", default=10.0, show_default=True, help="Seconds to wait until it is up.")
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
@seconds_option("--timeout", default=10.0, show_default=True, help="Seconds to wait for it to exit.")
@click.option("--force", is_flag=True, help="SIGKILL it if it has not exited by then.")
def daemon_stop(timeout: float, force: bool) -> None:
    """Stop the daemon (SIGTERM, then wait)."""
    from skill_insights.daemon import control

    _pid, stopped, msg = control.stop(timeout, force)
    click.echo(msg)
    if not stopped:
        sys.exit(1)


@daemon.command("status")
@json_flag()
def daemon_status(as_json: bool) -> None:
    """Pid, uptime, last ingest, files watched, backlog, RSS. Exit code 3 when not running."""
    from skill_insights.daemon import control

    doc = control.status()
    show(doc, as_json, control.status_lines)
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
    echo_lines(change_lines(change, svc, dry_run, "added"))
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
    echo_lines(change_lines(change, svc, dry_run, "removed"))


@cli.command("ingest-spool", hidden=True)
def ingest_spool() -> None:
    """Ingest the transcripts of spooled hook payloads, then delete them (started detached by the hook)."""
    from skill_insights.collectors.transcripts import TranscriptTailer
    from skill_insights.daemon.spool import drain_and_log

    click.echo(drain_and_log(TranscriptTailer(store_db(), price_table()), default_projects_dirs()))

"""Skills and the report: `scan`, `schema`, `skills`, `analyze`, `report`, `open` and `run`."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from skill_insights.cli.shared import cli, json_flag, show, store_db, store_reader
from skill_insights.settings import Paths, default_projects_dirs, get_paths

_keep_option = click.option(
    "--keep", type=click.IntRange(min=1), help="Timestamped reports to keep (config report_keep, 20)."
)


# -- report ---------------------------------------------------------------------------------------------


def _write_report(
    output: Path | None = None, keep: int | None = None, since=None, until=None, paths: Paths | None = None, demo=False
) -> Path:
    from skill_insights.report import generate_report, write_report

    db = store_db()
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
@json_flag("JSON: {phases, findings, duplicate_groups}.")
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

    db = store_db()
    try:
        inventory = inventory_for(inventory_file, db, _scan_for_analysis)
    except InventoryError as e:
        raise click.ClickException(str(e)) from None
    run_id, results = run_analysis(db, inventory, build_options(llm=llm, stale_days=stale_days), list(phases))
    doc = analysis_report(results)
    show(doc, as_json, lambda d: summary_lines(d, run_id, inventory))
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
        return store_reader()
    except click.ClickException:
        return None


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-agent-dirs", is_flag=True, help="Skip the user-level skill dirs of every agent and plugins.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the inventory JSON here.")
@json_flag("Print the inventory JSON.")
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
            open_store=lambda: db if db is not None else store_reader(),
            paths=paths,
        )
    except SchemaError as e:
        raise click.ClickException(f"the inventory does not match its schema at {e.path}: {e.message}") from None
    except OutputFailed as e:  # an unwritable -o is a user error: one line, not a traceback
        raise click.ClickException(f"cannot write {output}: {e.error.strerror or e.error}") from None
    show(doc, as_json, lambda d: scan_lines(d, diff, output))


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
@json_flag()
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

    db = store_db()
    catch_up(db)
    doc = skill_usage(db, days=days)
    show(doc, as_json, lambda d: usage_lines(d, scanned=not d["skills"] and has_scan(db)))

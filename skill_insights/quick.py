"""The console script's entry point: the commands run most often, without importing click.

`usage … --json` (status lines and scripts call it over and over), `ingest` without a terminal (cron,
scripts; importing click is a fair share of a warm ingest) and `hook` (the plugin's hooks) are answered here
when this module fully understands the argument list and meets no error, by the same calls the click
commands make. Anything else (other commands, --help, a terminal's progress bar, a bad date or folder, a
store that cannot be opened) goes to the click CLI, which also gives every error message.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

_VALUE_OPTIONS = ("--since", "--until", "--project")


def _value(eq: str, value: str, rest: Iterator[str]) -> str | None:
    """An option's value: what follows its `=`, else the next argument (None when there is none)."""
    return value if eq else next(rest, None)


def parse_usage_json(argv: list[str]) -> tuple[str, str | None, str | None, str | None] | None:
    """(period, since, until, project) for `usage PERIOD --json [--since D] [--until D] [--project P]`, else None."""
    from skill_insights.usage import PERIODS, parse_day

    if not argv or argv[0] != "usage":
        return None
    period: str | None = None
    values: dict[str, str] = {}
    as_json = False
    args = iter(argv[1:])
    for arg in args:
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif name in _VALUE_OPTIONS and name not in values:
            given = _value(eq, value, args)
            if given is None:
                return None
            values[name] = given
        elif arg in PERIODS and period is None:
            period = arg
        else:  # help, an unknown or repeated option, a second argument: click's business
            return None
    if period is None or not as_json:
        return None
    try:
        since = parse_day(values["--since"]) if "--since" in values else None
        until = parse_day(values["--until"]) if "--until" in values else None
    except ValueError:
        return None
    if since and until and since > until:
        return None
    return period, since, until, values.get("--project")


def parse_ingest(argv: list[str]) -> list[str] | None:
    """The roots of `ingest [--projects-dir DIR]...` when they all exist, else None. `--file` goes to the click
    command, which first checks that the file is a transcript."""
    if not argv or argv[0] != "ingest":
        return None
    roots: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        name, eq, value = arg.partition("=")
        given = _value(eq, value, args) if name == "--projects-dir" else None
        if given is None or not os.path.isdir(given):
            return None
        roots.append(given)
    return roots


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["hook"] and "--help" not in argv:
        # A Claude Code hook through the console script (the plugin's): the same stdlib-only code `install`
        # points the hook at, and the same exit (always 0), without click.
        from skill_insights.hooks import fastpath

        sys.exit(fastpath.main(argv[1:2]))
    if argv[:1] == ["statusline"] and "--help" not in argv:
        # Claude Code's statusLine through the console script: the same stdlib-only line, without click.
        from skill_insights.hooks import statusline

        sys.exit(statusline.main(argv[1:]))
    answer = None
    try:  # whatever goes wrong here, the click command says it properly
        request = parse_usage_json(argv)
        if request is not None:
            answer = _usage_json(*request)
        elif not sys.stderr.isatty():
            roots = parse_ingest(argv)
            if roots is not None:
                answer = _ingest(roots)
    except Exception:
        answer = None
    except KeyboardInterrupt:  # as click ends an interrupted command
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
    if answer is None:
        from skill_insights.cli import cli

        cli(prog_name="skill-insights")
        return
    out, warnings = answer
    try:
        for line in warnings:
            sys.stderr.write(line + "\n")
        sys.stdout.write(out)
        sys.stdout.flush()
    except BrokenPipeError:  # a reader that went away (`| head`): quiet and 0, as other Unix tools end
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # nothing is flushed into the closed pipe at exit
        sys.exit(0)


def _usage_json(period: str, since: str | None, until: str | None, project: str | None) -> tuple[str, list[str]]:
    from skill_insights.outputs import to_json
    from skill_insights.settings import get_paths
    from skill_insights.store import open_reader
    from skill_insights.usage import report, unpriced_warning

    db = open_reader(get_paths().ensure().database)
    try:
        doc = report(db, period, since, until, project)
    finally:
        db.close()
    warnings = [unpriced_warning(m) for m in doc["totals"]["unpriced_models"]]
    return to_json(doc) + "\n", warnings


def _ingest(roots: list[str]) -> tuple[str, list[str]]:
    from pathlib import Path

    from skill_insights.collectors.capture import capture
    from skill_insights.pricing import PriceTable
    from skill_insights.settings import default_projects_dirs, get_paths
    from skill_insights.store import open_reader
    from skill_insights.usage import unpriced_warning

    paths = get_paths().ensure()
    prices = PriceTable.load(paths.prices_file)
    db = open_reader(paths.database)
    try:
        summary = capture(db, prices, [Path(r) for r in roots] or default_projects_dirs())
    finally:
        db.close()
    warnings = [unpriced_warning(m) for m in sorted(summary.unpriced_models)]
    return summary.line() + "\n", warnings + summary.ledger_warnings()

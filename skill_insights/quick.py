"""The console script's entry point: `usage daily|monthly|session --json` without importing click.

Status lines and scripts call the JSON usage query over and over, and importing click costs a third of its
time. An argument list this module fully understands (and can answer without error) is answered here, by the
same `usage.report` the click command calls; anything else (other commands, --help, a bad date, a store that
cannot be opened) goes to the click CLI, which also gives every error message.
"""

from __future__ import annotations

import sys

_VALUE_OPTIONS = ("--since", "--until", "--project")


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
            if not eq:
                value = next(args, None)  # type: ignore[assignment]
                if value is None:
                    return None
            values[name] = value
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


def main() -> None:
    request = parse_usage_json(sys.argv[1:])
    if request is not None:
        try:
            out, warnings = _usage_json(*request)
        except Exception:  # whatever went wrong, the click command says it properly
            pass
        else:
            for line in warnings:
                sys.stderr.write(line + "\n")
            sys.stdout.write(out)
            return
    from skill_insights.cli import cli

    cli(prog_name="skill-insights")


def _usage_json(period: str, since: str | None, until: str | None, project: str | None) -> tuple[str, list[str]]:
    import orjson

    from skill_insights.settings import get_paths
    from skill_insights.store import open_reader
    from skill_insights.usage import report, unpriced_warning

    db = open_reader(get_paths().ensure().database)
    try:
        doc = report(db, period, since, until, project)
    finally:
        db.close()
    warnings = [unpriced_warning(m) for m in doc["totals"]["unpriced_models"]]
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n", warnings

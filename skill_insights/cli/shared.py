"""The root `skill-insights` group and what its commands share: opening the store and the price table,
printing JSON or lines, common options, and one-line errors for what goes wrong in the environment."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from skill_insights import __version__
from skill_insights.settings import get_paths


def store_db(plain: bool = False):
    """The migrated store: a sqlite-utils Database, or with `plain` a sqlite3 connection (no sqlite-utils
    import, which costs more than a whole usage query)."""
    from skill_insights.store import open_db, open_reader

    paths = get_paths().ensure()
    try:
        return open_reader(paths.database) if plain else open_db(paths.database)
    except Exception as e:  # a corrupt or foreign file: say so in one line
        raise click.ClickException(f"cannot open the store at {paths.database}: {e}") from None


def store_reader():
    return store_db(plain=True)


def price_table():
    from skill_insights.pricing import PriceTable

    try:
        return PriceTable.load(get_paths().prices_file)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise click.ClickException(f"cannot read the price table: {e}") from None


def echo_json(doc) -> None:
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


def echo_lines(lines: list[str], err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


def show(doc: Any, as_json: bool, lines_of: Callable[[Any], list[str]]) -> None:
    """`doc` as JSON with --json, else the lines `lines_of(doc)` says it in (computed only then)."""
    if as_json:
        echo_json(doc)
    else:
        echo_lines(lines_of(doc))


def print_table(table) -> None:
    from skill_insights.report.console import console

    console().print(table)


def warn_unpriced(models: list[str]) -> None:
    from skill_insights.usage import unpriced_warning

    echo_lines([unpriced_warning(m) for m in models], err=True)


def check_date(_ctx, _param, value: str | None) -> str | None:
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


def seconds_option(*decls: str, **kw):
    """An option of a positive, finite number of seconds."""
    return click.option(*decls, type=_POSITIVE, callback=_finite, **kw)


def json_flag(help: str | None = None):
    return click.option("--json", "as_json", is_flag=True, help=help)

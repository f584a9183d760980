"""Opt-in org signals: `telemetry` (sending to PostHog) and `org-usage` (reading it back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skill_insights.cli.shared import cli, echo_json, echo_lines, json_flag, show, store_reader
from skill_insights.settings import get_paths

# -- opt-in org signals (PostHog) ------------------------------------------------------------------------------


@cli.group()
def telemetry() -> None:
    """Opt-in org signals: skill/MCP activations and session summaries sent to PostHog. Off by default."""


@telemetry.command("enable")
def telemetry_enable() -> None:
    """Start queueing and sending (running it is the consent; the first time it shows what is sent)."""
    from skill_insights.telemetry import commands

    click.echo(commands.enable(store_reader()))


@telemetry.command("disable")
def telemetry_disable() -> None:
    """Stop sending now; events still queued are dropped."""
    from skill_insights.telemetry import commands

    click.echo(commands.disable(store_reader()))


@telemetry.command("status")
@click.option("--show-payload", is_flag=True, help="Print, as JSON, exactly the events that would leave now.")
@json_flag()
def telemetry_status(show_payload: bool, as_json: bool) -> None:
    """Consent, destination and the outbox."""
    from skill_insights.telemetry import commands

    conn = store_reader()
    if show_payload:
        echo_json(commands.payload(conn))
        return
    doc = commands.status(conn)
    show(doc, as_json, lambda d: [commands.status_text(d)])


@telemetry.command("flush")
@click.option("--retry-parked", is_flag=True, help="Queue again the events the server refused (after a fix).")
def telemetry_flush(retry_parked: bool) -> None:
    """Send every queued event now; prints how many were sent, retried and parked."""
    from skill_insights.telemetry import commands

    click.echo(commands.flush(store_reader(), retry_parked).line())


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
        doc, here = commands.fetch_org_usage(
            store_reader(), output, config_dir=paths.config_dir, copy_to=copy_to, **options
        )
    except OrgUsageError as e:
        raise click.ClickException(str(e)) from None
    echo_lines(commands.org_usage_lines(doc, here, output))

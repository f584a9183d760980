"""What the `telemetry` and `org-usage` commands do, so the CLI stays a thin layer of options and echoes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from skill_insights.telemetry import consent, signals
from skill_insights.telemetry.outbox import collect
from skill_insights.telemetry.sender import FlushResult, drain, requeue_parked

NEVER_SENT = ("prompts or responses", "file contents", "local paths", "user names or email addresses")


def disclosure(session_idle_s: float = consent.DEFAULT_SESSION_IDLE_S) -> str:
    """Exactly what may leave, event by event: shown by the first `enable`."""
    lines = ["What is sent (only these events, only these properties):"]
    for event, props in signals.ALLOWED.items():
        lines.append(f"  {event}")
        for p in props:
            desc = signals.DESCRIPTIONS.get(p)
            lines.append(f"    {p}" + (f" — {desc}" if desc else ""))
    lines.append("  each with a random per-install distinct_id (unless you set telemetry.distinct_id), a stable")
    lines.append("  event uuid and the time of the activity.")
    lines.append("Never sent: " + ", ".join(NEVER_SENT) + ".")
    lines.append(f"A session's summary is sent once, after {session_idle_s / 60:g} minutes without activity.")
    lines.append("See what would leave: skill-insights telemetry status --show-payload")
    lines.append("Stop: skill-insights telemetry disable, DO_NOT_TRACK=1 or SKILL_INSIGHTS_TELEMETRY=0.")
    return "\n".join(lines)


def _warnings(settings: consent.TelemetrySettings) -> list[str]:
    out: list[str] = []
    refusal = consent.refused_by_env()
    if refusal:
        out.append(f"nothing is sent while {refusal} (it wins over enable)")
    if not settings.project_key:
        out.append("no PostHog project key yet: set SKILL_INSIGHTS_POSTHOG_KEY or telemetry.posthog_key in config.json")
    return out


def enable(conn: sqlite3.Connection) -> str:
    state, first = consent.enable(conn)
    settings = consent.load_settings()
    lines = [f"telemetry enabled (install id {state.install_id}); activity from now on is queued, nothing from before"]
    if first:
        lines.append(disclosure(settings.session_idle_s))
    lines += [f"note: {w}" for w in _warnings(settings)]
    return "\n".join(lines)


def disable(conn: sqlite3.Connection) -> str:
    dropped = consent.disable(conn)
    return f"telemetry disabled; {dropped} queued events dropped (never sent)"


def status(conn: sqlite3.Connection) -> dict[str, Any]:
    state = consent.read_consent(conn)
    settings = consent.load_settings()
    counts = dict(conn.execute("SELECT status, count(*) FROM telemetry_outbox GROUP BY status").fetchall())
    parked = [
        {"event": e, "reason": r, "count": n}
        for e, r, n in conn.execute(
            "SELECT event, last_error, count(*) FROM telemetry_outbox WHERE status = 'parked'"
            " GROUP BY event, last_error ORDER BY count(*) DESC"
        )
    ]
    return {
        "enabled": state.enabled,
        "refused_by_environment": consent.refused_by_env(),
        "sending": bool(state.enabled and not consent.refused_by_env() and settings.project_key),
        "install_id": state.install_id,
        "distinct_id": settings.distinct_id or state.install_id,
        "host": settings.host,
        "project_key_set": bool(settings.project_key),
        "outbox": {
            "pending": counts.get("pending", 0),
            "sent": counts.get("sent", 0),
            "parked": counts.get("parked", 0),
        },
        "parked": parked,
    }


def status_text(doc: dict[str, Any]) -> str:
    lines = [
        f"telemetry: {'enabled' if doc['enabled'] else 'disabled'}"
        + (f" (but {doc['refused_by_environment']}: nothing is sent)" if doc["refused_by_environment"] else "")
    ]
    if doc["install_id"]:
        lines.append(f"distinct id: {doc['distinct_id']}")
    lines.append(f"host: {doc['host']}; project key {'set' if doc['project_key_set'] else 'not set'}")
    o = doc["outbox"]
    lines.append(f"outbox: {o['pending']} pending, {o['sent']} sent, {o['parked']} parked")
    lines += [f"  parked {p['count']} {p['event']}: {p['reason']}" for p in doc["parked"]]
    return "\n".join(lines)


def payload(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The events `telemetry flush` would send now, exactly as they would be posted; [] when nothing may leave."""
    state = consent.read_consent(conn)
    if not state.enabled or state.install_id is None or consent.refused_by_env():
        return []
    got = collect(conn, consent.load_settings(), state.install_id, respect_backoff=False)
    return [o.event for o in got.ready]


def flush(conn: sqlite3.Connection, retry_parked: bool = False) -> FlushResult:
    if retry_parked:
        requeue_parked(conn)
    return drain(conn, respect_backoff=False)


# -- org usage ------------------------------------------------------------------------------------------------


def org_settings(
    host: str | None, project_id: int | None, key_file: Path | None, config_dir: Path
) -> tuple[str, int, Path]:
    """(app host, project id, key file) from options, then the environment, then config.json's telemetry."""
    from posthog.request import determine_app_host

    from skill_insights.settings import read_config
    from skill_insights.telemetry.org_usage import OrgUsageError

    section = read_config().get("telemetry")
    cfg = section if isinstance(section, dict) else {}
    host = host or os.environ.get("SKILL_INSIGHTS_POSTHOG_HOST") or cfg.get("posthog_host") or consent.DEFAULT_HOST
    if project_id is None:
        raw = os.environ.get("SKILL_INSIGHTS_POSTHOG_PROJECT_ID") or cfg.get("project_id")
        try:
            project_id = int(raw) if raw is not None and not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            raise OrgUsageError(f"project id {raw!r} is not a number") from None
    if project_id is None:
        raise OrgUsageError("no PostHog project id: pass --project-id or set SKILL_INSIGHTS_POSTHOG_PROJECT_ID")
    if key_file is None:
        configured = cfg.get("personal_api_key_file")
        key_file = (
            Path(configured).expanduser()
            if isinstance(configured, str) and configured
            else config_dir / "posthog-personal-api-key"
        )
    return determine_app_host(str(host)), project_id, key_file


def fetch_org_usage(
    conn: sqlite3.Connection,
    output: Path,
    *,
    windows: str,
    primary_window: int,
    filter_repos: str | None,
    filter_email_domains: str | None,
    host: str | None,
    project_id: int | None,
    key_file: Path | None,
    config_dir: Path,
    copy_to: Path | None,
    backoff_s: tuple[float, ...] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fetch, validate against the shipped schema, write `output` (and the copy the report reads); returns
    (the document, this machine compared with the org)."""
    from skill_insights.outputs import to_json, write_atomic
    from skill_insights.schemas.validate import SchemaError, validate
    from skill_insights.telemetry import org_usage as ou

    try:
        wins = ou.parse_windows(windows)
    except ValueError as e:
        raise ou.OrgUsageError(str(e)) from None
    if primary_window <= 0:
        raise ou.OrgUsageError("--primary-window must be a positive number of days")
    filters = ou.Filters(ou.parse_list(filter_repos), ou.parse_list(filter_email_domains, "@"))
    app_host, pid, kf = org_settings(host, project_id, key_file, config_dir)
    key = ou.read_personal_key(kf)
    client = ou.HogQL(app_host, pid, key, backoff_s=ou.RETRY_BACKOFF_S if backoff_s is None else backoff_s)
    try:
        doc = ou.fetch(client, wins, primary_window, filters).model_dump(mode="json")
    finally:
        client.close()
    try:
        validate(doc, "org-usage")
    except SchemaError as e:
        raise ou.OrgUsageError(f"the fetched document does not match org-usage.schema.json: {e}") from None
    data = (to_json(doc) + "\n").encode()
    write_atomic(output, data)
    if copy_to is not None and copy_to.resolve() != output.resolve():
        write_atomic(copy_to, data)
    return doc, ou.compare_with_local(doc, ou.local_skills(conn))


def org_usage_lines(doc: dict[str, Any], here: dict[str, Any], output: Path) -> list[str]:
    """`org-usage fetch` for a person: the org's totals, how this machine compares, where the document went."""
    t = doc["totals"].get(here["window"], {})
    lines = [
        f"{t.get('activations', 0)} skill activations by {t.get('users', 0)} people in {here['window']}; "
        f"{len(doc['skills']) + len(doc['untiled_skills'])} skills, {len(doc['mcp_tools'])} MCP tools"
    ]
    if here["popular_not_installed"]:
        lines.append(
            "popular in the org, not installed here: "
            + ", ".join(f"{s['name']} ({s['users']} people)" for s in here["popular_not_installed"])
        )
    if here["installed_unused_org_wide"]:
        lines.append("installed here, unused org-wide: " + ", ".join(here["installed_unused_org_wide"]))
    lines.append(f"written to {output}")
    return lines

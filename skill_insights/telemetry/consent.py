"""Whether org signals may leave this machine, and where they go.

Off by default. `telemetry enable` writes the consent row the store's triggers read (so events are queued in the
capture's own transaction); `DO_NOT_TRACK` and `SKILL_INSIGHTS_TELEMETRY=0` are read at send time and always win.
Project key, host and an optional distinct id come from the environment or config.json's `telemetry` object.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skill_insights.settings import read_config
from skill_insights.store import write_transaction

DEFAULT_HOST = "https://us.i.posthog.com"
# A session is finished once nothing was appended to it for this long; then its summary is sent, once.
DEFAULT_SESSION_IDLE_S = 3600.0
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class TelemetrySettings:
    project_key: str | None
    host: str
    distinct_id: str | None  # the user's own choice; else the random install id
    session_idle_s: float = DEFAULT_SESSION_IDLE_S
    timeout_s: float = 15.0


def load_settings(env: Mapping[str, str] | None = None, config: dict[str, Any] | None = None) -> TelemetrySettings:
    env = os.environ if env is None else env
    section = (read_config() if config is None else config).get("telemetry")
    cfg = section if isinstance(section, dict) else {}

    def text(env_name: str | None, key: str) -> str | None:
        value = env.get(env_name) if env_name else None
        if not value:
            value = cfg.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    idle = cfg.get("session_idle_minutes")
    idle_s = float(idle) * 60 if isinstance(idle, int | float) and not isinstance(idle, bool) and idle > 0 else None
    return TelemetrySettings(
        project_key=text("SKILL_INSIGHTS_POSTHOG_KEY", "posthog_key"),
        host=(text("SKILL_INSIGHTS_POSTHOG_HOST", "posthog_host") or DEFAULT_HOST).rstrip("/"),
        distinct_id=text(None, "distinct_id"),
        session_idle_s=idle_s or DEFAULT_SESSION_IDLE_S,
    )


def refused_by_env(env: Mapping[str, str] | None = None) -> str | None:
    """Why the environment forbids sending (it wins over `enable`), or None."""
    env = os.environ if env is None else env
    dnt = env.get("DO_NOT_TRACK", "").strip().lower()
    if dnt and dnt not in _FALSE:
        return "DO_NOT_TRACK is set"
    if env.get("SKILL_INSIGHTS_TELEMETRY", "").strip().lower() in _FALSE:
        return "SKILL_INSIGHTS_TELEMETRY=0"
    return None


@dataclass(frozen=True)
class Consent:
    enabled: bool
    install_id: str | None
    changed_at: str | None


def read_consent(conn: sqlite3.Connection) -> Consent:
    row = conn.execute("SELECT enabled, install_id, changed_at FROM telemetry_state WHERE id = 1").fetchone()
    if row is None:
        return Consent(False, None, None)
    return Consent(bool(row[0]), row[1], row[2])


def enable(conn: sqlite3.Connection) -> tuple[Consent, bool]:
    """Turn telemetry on; (consent, whether this install had never enabled it before). Activity from this moment
    on is queued (`changed_at`, which enabling again does not move)."""
    with write_transaction(conn):
        before = read_consent(conn)
        conn.execute(
            """INSERT INTO telemetry_state (id, enabled, install_id, changed_at)
               VALUES (1, 1, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
               ON CONFLICT(id) DO UPDATE SET enabled = 1,
                   changed_at = CASE enabled WHEN 1 THEN changed_at ELSE excluded.changed_at END""",
            [str(uuid.uuid4())],
        )
        after = read_consent(conn)
    return after, before.install_id is None


def disable(conn: sqlite3.Connection) -> int:
    """Turn telemetry off and drop what was queued but not sent; returns how many events were dropped."""
    with write_transaction(conn):
        conn.execute(
            "UPDATE telemetry_state SET enabled = 0, changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1"
        )
        return drop_unsent(conn)


def drop_unsent(conn: sqlite3.Connection) -> int:
    """Delete every queued event that has not been sent. Looked for first: the daemon calls this every pass while
    telemetry is off, and a DELETE would take the write lock the capture needs even when nothing matches."""
    if conn.execute("SELECT 1 FROM telemetry_outbox WHERE status != 'sent' LIMIT 1").fetchone() is None:
        return 0
    return conn.execute("DELETE FROM telemetry_outbox WHERE status != 'sent'").rowcount

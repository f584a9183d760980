"""Drain the outbox to PostHog's batch endpoint with the `posthog` client, at least once.

Each event keeps its uuid across sends, so a batch re-sent after a lost answer is one event to PostHog. A 5xx,
429 or network error leaves the batch queued with an exponential backoff; any other 4xx parks it with the
reason (a payload the server refuses will not be accepted later). Consent is checked before every batch, so
`telemetry disable` or DO_NOT_TRACK stops sending at once.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from skill_insights.store import write_transaction
from skill_insights.telemetry.consent import TelemetrySettings, drop_unsent, load_settings, read_consent, refused_by_env
from skill_insights.telemetry.outbox import collect

log = logging.getLogger("skill_insights.telemetry")

BATCH_SIZE = 100
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 6 * 3600.0
KEEP_SENT_DAYS = 90
_MAX_REASON = 300
GONE = "its captured rows are gone"


@dataclass
class FlushResult:
    sent: int = 0
    retried: int = 0
    parked: int = 0
    dropped: int = 0
    waiting: int = 0
    skipped: str | None = None  # why nothing was tried at all

    def line(self) -> str:
        text = f"sent {self.sent}, retried {self.retried}, parked {self.parked}"
        if self.waiting:
            text += f", waiting {self.waiting}"
        if self.dropped:
            text += f", dropped {self.dropped}"
        return text + (f" ({self.skipped})" if self.skipped else "")


def _backoff_base() -> float:
    """BACKOFF_BASE_S, or SKILL_INSIGHTS_TELEMETRY_BACKOFF_S when it is a finite number above 0."""
    try:
        value = float(os.environ["SKILL_INSIGHTS_TELEMETRY_BACKOFF_S"])
    except (KeyError, ValueError):
        return BACKOFF_BASE_S
    return value if math.isfinite(value) and value > 0 else BACKOFF_BASE_S


def backoff_s(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempts + 1`: doubling from the base, capped, with up to 25% jitter."""
    delay = min(BACKOFF_CAP_S, _backoff_base() * 2 ** max(0, attempts - 1)) * (1 + random.random() / 4)
    return max(delay, retry_after or 0.0)


def _post(settings: TelemetrySettings, batch: list[dict[str, Any]]) -> None:
    from posthog.request import batch_post

    batch_post(settings.project_key or "", host=settings.host, timeout=settings.timeout_s, batch=batch)


def _classify(exc: Exception) -> tuple[str, str, float | None]:
    """('retry' | 'park', reason, retry-after seconds) for a failed batch."""
    import requests
    from posthog.request import APIError

    if isinstance(exc, APIError):
        status = exc.status
        reason = f"HTTP {status}: {str(exc.message)[:_MAX_REASON]}"
        if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
            return "park", reason, None
        return "retry", reason, exc.retry_after
    if isinstance(exc, requests.RequestException | OSError):
        return "retry", f"{type(exc).__name__}: network error", None
    raise exc


def drain(
    conn: sqlite3.Connection,
    settings: TelemetrySettings | None = None,
    *,
    now: float | None = None,
    respect_backoff: bool = True,
    max_batches: int = 50,
) -> FlushResult:
    """Send what is due. `respect_backoff=False` (the `flush` command) tries every queued event now."""
    settings = settings or load_settings()
    result = FlushResult()
    prune_sent(conn)
    for _ in range(max_batches):
        consent = read_consent(conn)
        refusal = refused_by_env()
        if refusal or not consent.enabled or consent.install_id is None:
            # Never sent later: what was queued while sending is refused is dropped.
            result.dropped += drop_unsent(conn)
            result.skipped = refusal or "telemetry is disabled"
            return result
        if not settings.project_key:
            result.skipped = "no PostHog project key (SKILL_INSIGHTS_POSTHOG_KEY or telemetry.posthog_key)"
            return result
        clock = time.time() if now is None else now
        got = collect(conn, settings, consent.install_id, now=clock, respect_backoff=respect_backoff, limit=BATCH_SIZE)
        result.waiting = got.waiting
        if got.gone:
            with write_transaction(conn):
                conn.executemany(
                    "UPDATE telemetry_outbox SET status = 'parked', last_error = ? WHERE id = ? AND status = 'pending'",
                    [(GONE, i) for i in got.gone],
                )
            result.parked += len(got.gone)
        if not got.ready:
            return result
        ids = [(o.row_id,) for o in got.ready]
        try:
            _post(settings, [o.event for o in got.ready])
        except Exception as e:
            verdict, reason, retry_after = _classify(e)
            with write_transaction(conn):
                if verdict == "park":
                    conn.executemany(
                        "UPDATE telemetry_outbox SET status = 'parked', attempts = attempts + 1, last_error = ?"
                        " WHERE id = ? AND status = 'pending'",
                        [(reason, i) for (i,) in ids],
                    )
                    result.parked += len(ids)
                else:
                    attempts = dict(
                        conn.execute(
                            f"SELECT id, attempts FROM telemetry_outbox WHERE id IN ({','.join('?' * len(ids))})",
                            [i for (i,) in ids],
                        ).fetchall()
                    )
                    conn.executemany(
                        "UPDATE telemetry_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                        " WHERE id = ? AND status = 'pending'",
                        [(reason, clock + backoff_s(attempts.get(i, 0) + 1, retry_after), i) for (i,) in ids],
                    )
                    result.retried += len(ids)
            log.info("telemetry batch of %d not sent: %s", len(ids), reason)
            if verdict == "retry":
                return result
            continue
        with write_transaction(conn):
            conn.executemany(
                "UPDATE telemetry_outbox SET status = 'sent', attempts = attempts + 1, last_error = NULL,"
                " sent_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ? AND status = 'pending'",
                ids,
            )
        result.sent += len(ids)
    return result


def requeue_parked(conn: sqlite3.Connection) -> int:
    """Put parked events back in the queue (after fixing what the server refused, say a wrong project key);
    events whose captured rows are gone stay parked. Returns how many."""
    with write_transaction(conn):
        return conn.execute(
            "UPDATE telemetry_outbox SET status = 'pending', attempts = 0, next_attempt_at = NULL, last_error = NULL"
            " WHERE status = 'parked' AND coalesce(last_error, '') != ?",
            [GONE],
        ).rowcount


def prune_sent(conn: sqlite3.Connection, days: int = KEEP_SENT_DAYS) -> int:
    """Forget events sent more than `days` ago. Kept until then so a re-derived transcript does not queue them
    again; one re-sent later still carries its uuid, which PostHog keeps once."""
    cutoff = f"-{int(days)} days"
    old = "status = 'sent' AND sent_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?)"
    if conn.execute(f"SELECT 1 FROM telemetry_outbox WHERE {old} LIMIT 1", [cutoff]).fetchone() is None:
        return 0
    return conn.execute(f"DELETE FROM telemetry_outbox WHERE {old}", [cutoff]).rowcount


def _thread_connection(db_path: Any) -> sqlite3.Connection:
    """A connection for the sender's thread to the daemon's (already migrated, WAL) store.

    Not `store.connect`: that opens and closes the database file itself to fix its mode, and closing any
    descriptor of a file drops every POSIX lock this process holds on it, the daemon's own connection's included
    (after a crash left a WAL behind, this connection then failed with "disk I/O error").
    """
    from skill_insights.store import BUSY_TIMEOUT_MS

    conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class SenderJob:
    """The daemon's sender: each tick drains the outbox on a thread of its own, with its own connection, so the
    network never holds up the loop that captures transcripts. One drain at a time."""

    def __init__(self, db_path: Any) -> None:
        self.db_path = db_path
        self.thread: threading.Thread | None = None
        self.last: FlushResult | None = None

    def tick(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        self.thread = threading.Thread(target=self._run, name="telemetry-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn = _thread_connection(self.db_path)
        try:
            self.last = drain(conn)
            if self.last.sent or self.last.retried or self.last.parked:
                log.info("telemetry: %s", self.last.line())
        except Exception:
            log.exception("telemetry sender failed")
        finally:
            conn.close()

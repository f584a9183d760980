"""The one local store: a SQLite database in WAL mode, its schema applied by named migrations.

Writers take `BEGIN IMMEDIATE` (see `write_transaction`), so two processes serialize on the write lock and
wait for it (busy timeout) instead of failing with "database is locked" on a read→write upgrade.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from skill_insights.store.migrations import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 60_000


def connect(path: Path | str) -> sqlite3.Connection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _enable_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Scratch set of response keys whose canonical row an ingest recomputes (per connection).
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS keys (message_id TEXT, request_id TEXT, file_id INTEGER,"
        " PRIMARY KEY (message_id, request_id))"
    )
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching a new database to WAL needs an exclusive lock, and SQLite may answer SQLITE_BUSY at once
    # (without the busy handler) while another process is creating the same file: retry briefly.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_db(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the store, as a sqlite-utils Database."""
    import sqlite_utils

    conn = connect(path)
    _ensure_schema(conn)
    return sqlite_utils.Database(conn)


def open_reader(path: Path | str) -> sqlite3.Connection:
    """A plain connection to a migrated store: the quick path for commands that only query.

    Importing sqlite-utils costs more than a whole usage query, so it is only loaded to migrate an older store.
    """
    conn = connect(path)
    _ensure_schema(conn)
    return conn


def _ensure_schema(conn: sqlite3.Connection) -> None:
    """A new store is created from the schema snapshot; an older one is migrated (needs sqlite-utils)."""
    if not _pending(conn):
        return
    from skill_insights.store.snapshot import create_from_snapshot

    if create_from_snapshot(conn, [name for name, _ in MIGRATIONS]) and not _pending(conn):
        return
    import sqlite_utils

    migrate(sqlite_utils.Database(conn))


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """A read-only connection, as it is: no migration, no pragma, no lock taken (a reader beside a writer)."""
    return sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True)  # as_uri escapes `?`, `#` and `%`


def _pending(conn: sqlite3.Connection) -> bool:
    try:
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        return True
    return any(name not in done for name, _ in MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet recorded in `_migrations`; returns the names applied."""
    applied: list[str] = []
    if not _pending(db.conn):
        return applied
    with write_transaction(db):
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        done = {r[0] for r in db.execute("SELECT name FROM _migrations").fetchall()}
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))",
                [name],
            )
            applied.append(name)
    return applied


@contextmanager
def write_transaction(db: sqlite_utils.Database | sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn = db if isinstance(db, sqlite3.Connection) else db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")

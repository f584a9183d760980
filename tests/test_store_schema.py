"""The schema snapshot (store/schema.sql) equals what the migrations build, and new stores come from it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import sqlite_utils

from skill_insights.store import MIGRATIONS, connect, create_from_snapshot, migrate, open_db, open_reader
from skill_insights.store.snapshot import SNAPSHOT, dump_schema


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()


def _migrated(path) -> sqlite3.Connection:
    db = sqlite_utils.Database(connect(path))
    assert migrate(db) == [name for name, _ in MIGRATIONS]
    return db.conn


def test_snapshot_file_is_current(tmp_path):
    # Fails after a new migration until `python -m skill_insights.store` is run.
    assert SNAPSHOT.read_text(encoding="utf-8") == dump_schema(_migrated(tmp_path / "m.db"))


def test_new_store_from_snapshot_equals_migrated_store(tmp_path):
    from_snapshot = open_reader(tmp_path / "s.db")
    migrated = _migrated(tmp_path / "m.db")
    assert _schema(from_snapshot) == _schema(migrated)
    names = [r[0] for r in from_snapshot.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
    # The snapshot's store takes rows like a migrated one (tables, keys, defaults).
    from_snapshot.execute("INSERT INTO files (path) VALUES ('/x.jsonl')")
    assert from_snapshot.execute("SELECT offset, lines FROM files").fetchone() == (0, 0)


def test_new_store_does_not_import_sqlite_utils(tmp_path):
    code = (
        "import sys; from skill_insights.store import open_reader; "
        f"open_reader({str(tmp_path / 'n.db')!r}); print('sqlite_utils' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_snapshot_refused_for_a_store_that_is_not_empty(tmp_path):
    conn = connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE mine (x)")
    assert not create_from_snapshot(conn, [name for name, _ in MIGRATIONS])
    # …and refused when it names a migration this code does not have.
    fresh = connect(tmp_path / "fresh.db")
    assert not create_from_snapshot(fresh, [name for name, _ in MIGRATIONS][:-1])
    assert fresh.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def _first_migration_only(path) -> sqlite_utils.Database:
    """A store as the first migration left it (an old store the snapshot is ahead of)."""
    name, first = MIGRATIONS[0]
    db = sqlite_utils.Database(connect(path))
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    first(db)
    db.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", [name])
    return db


def test_store_behind_the_snapshot_is_migrated_step_by_step(tmp_path):
    path = tmp_path / "behind.db"
    db = _first_migration_only(path)
    db.conn.execute("INSERT INTO files (path) VALUES ('/kept.jsonl')")
    db.conn.close()
    upgraded = open_db(path)
    assert [r[0] for r in upgraded.execute("SELECT name FROM _migrations ORDER BY rowid")] == [
        name for name, _ in MIGRATIONS
    ]
    assert upgraded.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]
    assert _schema(upgraded.conn) == _schema(_migrated(tmp_path / "m.db"))


def test_a_store_from_before_meta_was_dropped_loses_it(tmp_path):
    # capture_0001 created an unused `meta` table; a later edit of that shipped migration left old stores with
    # it and new ones without. capture_0002 drops it, so both end the same.
    path = tmp_path / "old.db"
    db = _first_migration_only(path)
    assert "meta" in db.table_names()
    db.conn.close()
    assert "meta" not in open_db(path).table_names()

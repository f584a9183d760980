"""The one local store: a SQLite database in WAL mode, its schema applied by named migrations.

Writers take `BEGIN IMMEDIATE` (see `write_transaction`), so two processes serialize on the write lock and
wait for it (busy timeout) instead of failing with "database is locked" on a read→write upgrade.

The store holds project paths, branches, remotes and slash commands, so the file and its WAL and shared-memory
files are private to the user (0600). Opening a store checks it against the migrations this code has: a store
written by a newer version is refused (never written), one whose tables were lost is repaired, and anything
else that cannot be used raises `StoreError` with a one-line reason.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from skill_insights.settings import DATABASE_COMPANIONS, private_file
from skill_insights.store import snapshot
from skill_insights.store.migrations import MIGRATIONS, REPAIRS

if TYPE_CHECKING:
    import sqlite_utils

WAL_KEEP_BYTES = 16 * 1024 * 1024
BUSY_TIMEOUT_MS = 60_000
# `PRAGMA application_id` of every store this code stamps ("skin"): tells our file from another program's.
APPLICATION_ID = 0x736B696E
PRIVATE_FILE = 0o600


class StoreError(sqlite3.DatabaseError):
    """The store cannot be used as it is: newer than this code, foreign, or damaged beyond repair.

    A `sqlite3.DatabaseError`, so whatever already turns a corrupt store into one line says this one too.
    """


class NewerStoreError(StoreError):
    """The store was written by a newer skill-insights: it is never written by this one."""


def schema_version() -> int:
    """The schema this code builds: one step per migration (stamped in the store as `PRAGMA user_version`)."""
    return len(MIGRATIONS)


def connect(path: Path | str, *, wal: bool = True) -> sqlite3.Connection:
    """A connection with the store's settings. `wal=False` leaves the journal mode to the caller: switching it
    writes the file's header, which a store not yet checked must not get."""
    if str(path) != ":memory:":
        _make_private(Path(path))
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if wal:
        _enable_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    # A bulk ingest lets the WAL grow (its workers skip the checkpoint after each commit); once checkpointed it
    # is cut back to this size instead of keeping its largest size on disk while a daemon holds it open.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Scratch set of response keys whose canonical row an ingest recomputes (per connection).
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS keys (message_id TEXT, request_id TEXT, file_id INTEGER,"
        " PRIMARY KEY (message_id, request_id))"
    )
    return conn


def _make_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644 and give the WAL the same), and take
    group and other access away from an existing one and its companions. Symlinks and files of another user
    are left as they are."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # O_EXCL: only a file this call creates is opened (and closed). Closing any descriptor of a file drops
    # every POSIX lock this process holds on it, and another connection of the process may hold SQLite's.
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK, PRIVATE_FILE))
    except FileExistsError:
        pass
    except OSError:
        return  # a symlink, a folder, no permission: SQLite's own open says what is wrong, if anything
    # SQLite creates the WAL and shared-memory files with the database file's permissions; ones an older
    # version left readable to all are fixed here.
    for suffix in ("", *DATABASE_COMPANIONS):
        private_file(Path(f"{path}{suffix}"))


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
    """Open (creating if needed), check and migrate the store, as a sqlite-utils Database."""
    import sqlite_utils

    return sqlite_utils.Database(open_reader(path))


def open_reader(path: Path | str) -> sqlite3.Connection:
    """A plain connection to a checked, migrated store: the quick path for commands that only query.

    Importing sqlite-utils costs more than a whole usage query, so it is only loaded to migrate or repair.
    Raises StoreError (NewerStoreError for a newer store) when the store cannot be used.
    """
    conn = connect(path, wal=False)
    try:
        recorded = _recorded(conn)
        version = check(conn, recorded)  # before the switch to WAL, which writes the file
        _enable_wal(conn)
        _ensure_schema(conn, recorded, version)
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """A read-only connection, as it is: no migration, no pragma, no lock taken (a reader beside a writer)."""
    return sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True)  # as_uri escapes `?`, `#` and `%`


# -- checking a store -----------------------------------------------------------------------------------


def _known() -> list[str]:
    return [name for name, _ in MIGRATIONS]


def _recorded(conn: sqlite3.Connection) -> list[str] | None:
    """The migrations the store says it has, in the order applied; None without a `_migrations` table."""
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise


def _objects(conn: sqlite3.Connection) -> dict[str, str]:
    """{name: type} of the store's tables, indexes, views and triggers (SQLite's own and `_migrations` aside)."""
    return {
        name: kind
        for kind, name in conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        if name != "_migrations"
    }


def check(conn: sqlite3.Connection, recorded: list[str] | None) -> int:
    """Raise StoreError for a store this code must not write (another program's, a newer version's); else
    return its stamped schema version (0 before the stamp existed). `recorded` is what `_migrations` holds."""
    version, app_id = conn.execute("SELECT * FROM pragma_user_version, pragma_application_id").fetchone()
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(f"not a skill-insights store (its application id is {app_id:#x})")
    known = _known()
    unknown = [n for n in (recorded or []) if n not in known]
    if version > len(known) or unknown:
        what = f"migrations {', '.join(unknown)}" if unknown else f"schema {version}"
        raise NewerStoreError(
            f"written by a newer skill-insights ({what}; this version knows schema {len(known)}):"
            " upgrade skill-insights to use it"
        )
    if not recorded and _objects(conn):
        _infer_level(conn)  # a database without `_migrations` must be one our migrations could have made
    return int(version)


def _ensure_schema(conn: sqlite3.Connection, recorded: list[str] | None, version: int) -> None:
    """Create a checked store (from the schema snapshot), or repair or migrate it when it needs it."""
    known = _known()
    if recorded == known and not _missing(_objects(conn), recorded):
        if version != len(known):
            _stamp_quietly(conn)
        return
    if recorded is None and create_from_snapshot(conn, known):
        recorded = _recorded(conn)
        check(conn, recorded)  # another process may have made it first, from newer code
        if recorded == known:
            return
    import sqlite_utils

    migrate(sqlite_utils.Database(conn))


def _missing(objects: dict[str, str], recorded: list[str]) -> list[str]:
    """The objects `recorded` migrations make that the store lacks (computed cheaply from the snapshot when the
    store is at the snapshot's level)."""
    expected = _expected_names(tuple(recorded))
    return [name for name in expected if name not in objects]


@lru_cache(maxsize=8)
def _expected_names(recorded: tuple[str, ...]) -> tuple[str, ...]:
    names, objects = snapshot.snapshot_objects()
    if list(recorded) == names:
        return tuple(objects)
    steps = _replay(recorded)
    return tuple(o.name for o in steps[-1][1]) if steps else ()


def stamp(conn: sqlite3.Connection) -> None:
    """Mark the store as ours and as of this code's schema: a newer version's stamp is what `check` refuses."""
    conn.execute(f"PRAGMA user_version = {schema_version()}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _stamp_quietly(conn: sqlite3.Connection) -> None:
    # A current store from before the stamp existed: stamp it if the write lock is free and the file writable.
    # Not worth waiting for a writer, nor failing a query for: the next open stamps it.
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        with suppress(sqlite3.OperationalError), write_transaction(conn):
            stamp(conn)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


# -- migrating and repairing ------------------------------------------------------------------------------


class SchemaObject(NamedTuple):
    name: str
    kind: str  # table, index, view or trigger
    sql: str
    shape: str  # what tells two versions of it apart: a table's column names, a view's or trigger's SQL


Schema = list[SchemaObject]  # in creation order


def _shape(conn: sqlite3.Connection, name: str, kind: str, sql: str) -> str:
    if kind == "table":
        return ",".join(sorted(r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", [name])))
    return " ".join(sql.split()) if kind in ("view", "trigger") else ""


def _schema_of(conn: sqlite3.Connection) -> Schema:
    rows = conn.execute(
        "SELECT name, type, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " AND name != '_migrations' ORDER BY rowid"
    ).fetchall()
    return [SchemaObject(name, kind, sql, _shape(conn, name, kind, sql)) for name, kind, sql in rows]


@lru_cache(maxsize=8)
def _replay(names: tuple[str, ...]) -> list[tuple[str, Schema]]:
    """Apply the named migrations (in MIGRATIONS order) to an empty in-memory store: each one's name and the
    schema after it. A step that fails means the names cannot describe a real store."""
    import sqlite_utils

    scratch = sqlite_utils.Database(memory=True)
    steps: list[tuple[str, Schema]] = []
    for name, fn in MIGRATIONS:
        if name not in names:
            continue
        try:
            fn(scratch)
        except Exception as e:
            raise StoreError(f"its recorded migrations cannot be replayed ({name}: {e})") from None
        steps.append((name, _schema_of(scratch.conn)))
    return steps


def _infer_level(conn: sqlite3.Connection) -> int:
    """How many migrations made a store that lost its `_migrations` table: the most whose schema holds every
    object the store has, in the same shape (a column a later step adds, or a table it drops, caps it)."""
    steps = _replay(tuple(_known()))
    have = {o.name: (o.kind, o.shape) for o in _schema_of(conn)}
    for level in range(len(steps), 0, -1):
        made = {o.name: (o.kind, o.shape) for o in steps[level - 1][1]}
        if all(made.get(name) == shape for name, shape in have.items()):
            return level
    ours = {o.name for _name, schema in steps for o in schema}
    foreign = sorted(name for name in have if name not in ours)
    raise StoreError(
        "not a skill-insights store: it has no _migrations table and "
        + (
            f"tables this version does not make ({', '.join(foreign[:5])})"
            if foreign
            else "its tables are not as any version of skill-insights made them"
        )
    )


def _restore(db: sqlite_utils.Database, recorded: list[str]) -> list[str]:
    """Make again, empty, the objects `recorded` migrations made that the store lost, then let each migration
    that has a repair refill its own; the names of the objects made.

    A recorded migration cannot simply run again (the objects it made that are left would clash), so each lost
    object is made from the DDL the migrations gave it, tables before the indexes, views and triggers that
    refer to them."""
    conn = db.conn
    objects = _objects(conn)
    steps = _replay(tuple(recorded))
    maker: dict[str, str] = {}  # object name -> the migration that last made or changed it
    before: dict[str, str] = {}
    for migration_name, schema in steps:
        for o in schema:
            if before.get(o.name) != o.sql:
                maker[o.name] = migration_name
        before = {o.name: o.sql for o in schema}
    lost = [o for o in (steps[-1][1] if steps else []) if o.name not in objects]
    for o in sorted(lost, key=lambda o: o.kind != "table"):
        try:
            conn.execute(o.sql)
        except sqlite3.Error as e:
            raise StoreError(f"it lost {o.name} and it cannot be made again ({e})") from None
    for migration_name, _schema in steps:
        mine = {o.name for o in lost if maker[o.name] == migration_name}
        if mine and migration_name in REPAIRS:
            REPAIRS[migration_name](db, mine)
    return [o.name for o in lost]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Bring the store to this code's schema; returns the names of the migrations applied.

    Under the write lock: a store without `_migrations` gets it back with the migrations its tables show;
    objects recorded migrations made and the store lost are made again (empty); the migrations not yet
    recorded are applied; the store is stamped with the schema version. A newer or foreign store raises
    StoreError and is left untouched.
    """
    applied: list[str] = []
    with write_transaction(db):
        conn = db.conn
        recorded = _recorded(conn)
        check(conn, recorded)
        if not recorded:  # no `_migrations`, or an empty one: the tables say how far the store got
            level = _infer_level(conn) if _objects(conn) else 0
            if recorded is None:
                conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
            recorded = _known()[:level]
            conn.executemany(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", [(n,) for n in recorded]
            )
        if recorded:
            lost = _restore(db, recorded)
            if lost:
                _say(f"the store had lost {', '.join(lost)}: made again")
        for name, fn in MIGRATIONS:
            if name in recorded:
                continue
            fn(db)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", [name])
            applied.append(name)
        stamp(conn)
    return applied


def _say(message: str) -> None:
    # A repair is worth one line; logging is imported here only, as repairs are rare and the quick path is not.
    import logging

    logging.getLogger("skill_insights.store").warning(message)


@contextmanager
def write_transaction(db: sqlite_utils.Database | sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn = db if isinstance(db, sqlite3.Connection) else db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite rolls the transaction back by itself after some errors (a full disk, out of memory); a ROLLBACK
    # then fails with "no transaction is active", and raising that would hide the error that matters.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def create_from_snapshot(conn: sqlite3.Connection, known: list[str]) -> bool:
    """Create the schema of an empty store from schema.sql. False (nothing done) when the store is not empty.

    `known` is the migrations this code has: names the snapshot holds that are not among them mean a stale or
    foreign file, which is refused the same way, leaving the store to the migrations.
    """
    names, statements = snapshot.read_snapshot(snapshot.SNAPSHOT.read_text(encoding="utf-8"))
    if not names or any(n not in known for n in names):
        return False
    with write_transaction(conn):
        # Checked under the write lock: two processes creating the same new store do it once.
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            return False
        for statement in statements:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", [(n,) for n in names]
        )
        if names == known:
            stamp(conn)
    return True

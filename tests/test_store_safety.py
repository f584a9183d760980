"""The store and the data folders: private to the user, the real error on a full disk, a damaged store repaired,
a foreign or newer one refused in one line and never written."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils
from transcript_corpus import assistant_line

from skill_insights.settings import get_paths
from skill_insights.store import (
    APPLICATION_ID,
    MIGRATIONS,
    NewerStoreError,
    StoreError,
    connect,
    migrate,
    open_db,
    open_reader,
    open_readonly,
    write_transaction,
)
from skill_insights.store.snapshot import snapshot_objects

# What the console script runs (pyproject's [project.scripts]).
ENTRY = "import sys; from skill_insights.quick import main; sys.argv[0] = 'skill-insights'; main()"


@pytest.fixture
def umask_022():
    """The usual umask, under which a file made without an explicit mode is readable by everyone."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _run(env: dict[str, str], *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], env=env, capture_output=True, text=True, timeout=120, **kw
    )


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ).fetchall()


def _recorded(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


KNOWN = [name for name, _ in MIGRATIONS]


# -- private files and folders ----------------------------------------------------------------------------


def test_a_new_store_its_wal_and_the_folders_are_private(umask_022):
    paths = get_paths().ensure()
    conn = open_reader(paths.database)
    conn.execute("INSERT INTO files (path) VALUES ('/p/a.jsonl')")
    for f in (paths.database, Path(f"{paths.database}-wal"), Path(f"{paths.database}-shm")):
        assert _mode(f) == 0o600, f
    for folder in (
        paths.data_dir,
        paths.config_dir,
        paths.log_dir,
        paths.reports_dir,
        paths.cache_dir,
        paths.runtime_dir,
    ):
        assert _mode(folder) == 0o700, folder
    conn.close()


def test_an_install_readable_by_all_is_made_private_by_the_next_command(isolated_env, tmp_path, umask_022):
    # What an older version left: 0755 folders, a 0644 store with its WAL, logs and config.
    paths = get_paths()
    for folder in (paths.data_dir, paths.config_dir, paths.log_dir, paths.reports_dir, paths.cache_dir):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    old = sqlite_utils.Database(sqlite3.connect(paths.database, isolation_level=None))
    old.execute("PRAGMA journal_mode = WAL")
    migrate(old)
    old.execute("INSERT INTO files (path) VALUES ('/p/a.jsonl')")  # the WAL stays while this connection is open
    (paths.log_dir / "daemon.log").write_text("project /home/me/secret-project\n")
    (paths.log_dir / "jobs.log").write_text("")
    paths.config_file.write_text("{}")
    # A config kept in the user's dotfiles and linked here: the link is followed for reading, never chmod'ed.
    dotfile = tmp_path / "dotfiles-config.json"
    dotfile.write_text("{}")
    dotfile.chmod(0o644)
    linked = paths.config_dir / "linked.json"
    linked.symlink_to(dotfile)
    for f in (paths.database, Path(f"{paths.database}-wal"), paths.log_dir / "daemon.log", paths.config_file):
        assert _mode(f) == 0o644, f

    result = _run(isolated_env, "usage", "daily", "--json")
    old.conn.close()
    assert result.returncode == 0, result.stderr
    for f in (paths.database, paths.log_dir / "daemon.log", paths.log_dir / "jobs.log", paths.config_file):
        assert _mode(f) == 0o600, f
    for folder in (paths.data_dir, paths.config_dir, paths.log_dir, paths.reports_dir, paths.cache_dir):
        assert _mode(folder) == 0o700, folder
    assert _mode(dotfile) == 0o644


def test_an_old_store_and_its_wal_are_made_private_on_open(tmp_path, umask_022):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    db.execute("PRAGMA journal_mode = WAL")
    migrate(db)
    db.execute("INSERT INTO files (path) VALUES ('/p/a.jsonl')")
    assert _mode(path) == 0o644 and _mode(Path(f"{path}-wal")) == 0o644
    conn = open_reader(path)
    assert _mode(path) == 0o600
    assert _mode(Path(f"{path}-wal")) == 0o600
    assert conn.execute("SELECT path FROM files").fetchall() == [("/p/a.jsonl",)]
    db.conn.close()
    conn.close()


# -- a full disk --------------------------------------------------------------------------------------------


def _fill(conn: sqlite3.Connection) -> None:
    for i in range(10_000):
        conn.execute("INSERT INTO files (path, cwd) VALUES (?, ?)", (f"/p/{i}.jsonl", "x" * 2000))


def test_a_full_store_raises_the_full_disk_error_not_the_failed_rollback(tmp_path):
    conn = open_reader(tmp_path / "s.db")
    conn.execute("INSERT INTO files (path) VALUES ('/kept.jsonl')")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # this connection's store is "full" past two pages
    with pytest.raises(sqlite3.OperationalError) as failed, write_transaction(conn):
        _fill(conn)
    assert "full" in str(failed.value)
    assert "rollback" not in str(failed.value)
    # SQLite rolled the transaction back: nothing half-written, nothing lost, the connection usable again.
    assert not conn.in_transaction
    assert conn.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]
    with write_transaction(conn):
        conn.execute("DELETE FROM files")
    assert conn.execute("SELECT count(*) FROM files").fetchone() == (0,)


def test_an_error_inside_a_transaction_is_rolled_back_and_kept(tmp_path):
    conn = open_reader(tmp_path / "s.db")
    with pytest.raises(ZeroDivisionError), write_transaction(conn):
        conn.execute("INSERT INTO files (path) VALUES ('/gone.jsonl')")
        1 / 0  # noqa: B018
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM files").fetchone() == (0,)


def _limit_file_size(limit: int):
    def apply() -> None:
        # Past the limit a write fails (EFBIG) instead of killing the process: a full disk, seen by SQLite.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_the_cli_names_the_write_error_of_a_full_disk_in_one_line(isolated_home, isolated_env):
    projects = isolated_home.claude / "projects" / "-p"
    projects.mkdir(parents=True)
    assert _run(isolated_env, "usage", "daily", "--json").returncode == 0  # the store exists, small
    database = get_paths().database
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = max(os.path.getsize(database), 64 * 1024)
    lines = [assistant_line(f"m{i}", output_tokens=i) for i in range(20_000)]
    (projects / "s.jsonl").write_text("\n".join(lines) + "\n")

    result = _run(isolated_env, "ingest", preexec_fn=_limit_file_size(size + 16 * 1024))
    assert result.returncode != 0
    err = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "disk I/O error" in err[0] or "full" in err[0], err[0]
    assert "rollback" not in err[0]


# -- a damaged, foreign or newer store ------------------------------------------------------------------------


def _store_with_rows(path: Path) -> None:
    conn = open_reader(path)
    conn.execute("INSERT INTO files (path) VALUES ('/kept.jsonl')")
    conn.execute("INSERT INTO sessions (session_id, project) VALUES ('s1', 'demo')")
    conn.close()


def _damage(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for s in statements:
        conn.execute(s)
    conn.close()


def test_a_store_that_lost_tables_gets_them_back_and_keeps_its_rows(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    lost = ["responses", "telemetry_outbox", "analysis_findings", "idx_sessions_last_date"]
    _damage(path, *(f"DROP {'INDEX' if n.startswith('idx_') else 'TABLE'} {n}" for n in lost))

    conn = open_reader(path)
    assert _schema(conn) == _schema(open_reader(tmp_path / "fresh.db"))
    assert conn.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]
    assert conn.execute("SELECT session_id FROM sessions").fetchall() == [("s1",)]
    assert _recorded(conn) == KNOWN
    conn.execute("INSERT INTO responses (message_id, request_id) VALUES ('m', 'r')")  # usable again


def test_a_lost_table_comes_back_with_the_triggers_that_hung_off_it(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
    before = sqlite3.connect(path).execute(triggers).fetchall()
    _damage(path, "DROP TABLE events")  # its triggers go with it
    assert len(sqlite3.connect(path).execute(triggers).fetchall()) < len(before)
    assert open_db(path).execute(triggers).fetchall() == before


@pytest.mark.parametrize("damage", ["DROP TABLE _migrations", "DELETE FROM _migrations"])
def test_a_store_without_its_migrations_table_is_opened_and_recorded(tmp_path, damage):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    _damage(path, damage)

    db = open_db(path)
    assert _recorded(db.conn) == KNOWN
    assert db.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]
    assert _schema(db.conn) == _schema(open_reader(tmp_path / "fresh.db"))


def test_an_old_store_without_its_migrations_table_is_migrated_from_where_its_tables_say(tmp_path):
    # A store the first migration left (it still has `meta`, which a later migration drops), that then lost
    # `_migrations`: only the first migration is taken as done, the others run.
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(connect(path))
    MIGRATIONS[0][1](db)
    db.execute("INSERT INTO files (path) VALUES ('/kept.jsonl')")
    db.conn.close()

    upgraded = open_db(path)
    assert _recorded(upgraded.conn) == KNOWN
    assert "meta" not in upgraded.table_names()
    assert upgraded.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]
    assert _schema(upgraded.conn) == _schema(open_reader(tmp_path / "fresh.db"))


def _fingerprint(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_foreign_database_is_refused_and_not_written(tmp_path):
    path = tmp_path / "mine.db"
    _damage(path, "CREATE TABLE people (name TEXT)", "INSERT INTO people VALUES ('ada')")
    before = _fingerprint(path)
    with pytest.raises(StoreError, match=r"not a skill-insights store.*people"):
        open_db(path)
    assert _fingerprint(path) == before
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("people",)]


def test_a_database_of_another_program_is_refused_by_its_application_id(tmp_path):
    path = tmp_path / "other.db"
    _damage(path, "PRAGMA application_id = 1234")
    with pytest.raises(StoreError, match="application id is 0x4d2"):
        open_reader(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_a_store_stamped_newer_is_refused_and_never_written(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    _damage(path, f"PRAGMA user_version = {len(KNOWN) + 1}", "DROP TABLE responses")
    before = _fingerprint(path)
    for opener in (open_db, open_reader):
        with pytest.raises(NewerStoreError, match=rf"newer skill-insights.*schema {len(KNOWN) + 1}"):
            opener(path)
    assert _fingerprint(path) == before  # not repaired, not migrated, not stamped
    with open_readonly(path) as conn:  # still readable as it is
        assert conn.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]


def test_a_store_with_a_migration_this_version_does_not_know_is_refused(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    _damage(path, "PRAGMA user_version = 0", "INSERT INTO _migrations VALUES ('capture_9999_future', 'x')")
    with pytest.raises(NewerStoreError, match="capture_9999_future"):
        open_db(path)


def test_the_cli_says_a_newer_store_is_newer_in_one_line(isolated_env):
    paths = get_paths().ensure()
    _store_with_rows(paths.database)
    _damage(paths.database, f"PRAGMA user_version = {len(KNOWN) + 5}")
    for args in (["usage", "daily", "--json"], ["ingest"], ["usage", "daily"]):
        result = _run(isolated_env, *args)
        assert result.returncode != 0, args
        err = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(err) == 1, result.stderr
        assert str(paths.database) in err[0] and "newer skill-insights" in err[0], err[0]


def test_a_lost_index_that_cannot_be_made_again_is_named(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    _damage(path, "DROP INDEX idx_files_path", "INSERT INTO files (path) VALUES ('/kept.jsonl')")
    with pytest.raises(StoreError, match="idx_files_path"):
        open_db(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM files").fetchone() == (2,)  # nothing dropped


# -- the stamp --------------------------------------------------------------------------------------------


def test_new_and_migrated_stores_are_stamped_with_the_schema_version(tmp_path):
    fresh = open_reader(tmp_path / "fresh.db")
    migrated = sqlite_utils.Database(connect(tmp_path / "m.db"))
    migrate(migrated)
    for conn in (fresh, migrated.conn):
        assert conn.execute("PRAGMA user_version").fetchone() == (len(KNOWN),)
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


def test_a_current_store_from_before_the_stamp_is_stamped_on_open(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    _damage(path, "PRAGMA user_version = 0", "PRAGMA application_id = 0")
    conn = open_reader(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(KNOWN),)
    assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


def test_the_snapshot_names_the_objects_a_migrated_store_has(tmp_path):
    migrated = sqlite_utils.Database(connect(tmp_path / "m.db"))
    migrate(migrated)
    names, objects = snapshot_objects()
    have = {r[0] for r in migrated.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    assert names == KNOWN
    assert set(objects) == have - {"_migrations"}


def test_a_healthy_store_opens_without_sqlite_utils(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    code = (
        "import sys; from skill_insights.store import open_reader; "
        f"open_reader({str(path)!r}); print('sqlite_utils' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_migrate_on_a_current_store_applies_nothing(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    assert migrate(open_db(path)) == []
    assert _recorded(open_reader(path)) == KNOWN


def test_stamping_an_old_store_does_not_wait_for_a_writer(tmp_path):
    path = tmp_path / "s.db"
    _store_with_rows(path)
    _damage(path, "PRAGMA user_version = 0")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # an ingest holding the write lock
    started = time.monotonic()
    conn = open_reader(path)
    assert time.monotonic() - started < 5  # not the 60 s busy timeout
    assert conn.execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]
    assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    writer.execute("ROLLBACK")
    conn.close()
    assert open_reader(path).execute("PRAGMA user_version").fetchone() == (len(KNOWN),)


def test_the_next_command_repairs_a_store_that_lost_a_table(isolated_env):
    paths = get_paths().ensure()
    _store_with_rows(paths.database)
    _damage(paths.database, "DROP TABLE usage_daily")
    result = _run(isolated_env, "usage", "daily", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == []
    assert result.stderr.splitlines() == ["the store had lost usage_daily: made again"]
    assert sqlite3.connect(paths.database).execute("SELECT path FROM files").fetchall() == [("/kept.jsonl",)]


def test_a_store_without_its_migrations_table_gets_the_columns_later_migrations_add(tmp_path):
    # Every table name of a store made before capture_0003 exists later too; its `responses` table lacks the
    # column capture_0003 adds, which is what says capture_0003 has not run.
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(connect(path))
    for _name, fn in MIGRATIONS[: KNOWN.index("capture_0003_totals")]:
        fn(db)
    db.execute("DROP TABLE usage_daily")  # lost as well
    db.execute("INSERT INTO responses (message_id, request_id, cost_usd) VALUES ('m', 'r', 0.5)")
    db.conn.close()

    upgraded = open_db(path)
    assert _recorded(upgraded.conn) == KNOWN
    assert upgraded.execute("SELECT cost_units FROM responses").fetchall() == [(500_000_000_000,)]
    assert _schema(upgraded.conn) == _schema(open_reader(tmp_path / "fresh.db"))


def test_a_migration_with_a_repair_refills_what_a_store_lost(tmp_path, monkeypatch):
    from skill_insights import store
    from skill_insights.store import migrations

    own = list(migrations.MIGRATIONS)
    repairs = dict(migrations.REPAIRS)
    for module in (migrations, store):
        monkeypatch.setattr(module, "MIGRATIONS", own)
        monkeypatch.setattr(module, "REPAIRS", repairs)
    refilled: list[set[str]] = []

    def refill(db: sqlite_utils.Database, lost: set[str]) -> None:
        refilled.append(lost)
        db.execute("INSERT INTO test_sums SELECT sum(x) FROM test_source")

    @migrations.migration("test_9999_sums", repair=refill)
    def sums(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE test_source (x INTEGER)")
        db.execute("CREATE TABLE test_sums (total INTEGER)")  # derived from test_source

    path = tmp_path / "s.db"
    conn = open_reader(path)
    conn.execute("INSERT INTO test_source VALUES (2), (3)")
    conn.close()
    _damage(path, "DROP TABLE test_sums", "DROP TABLE skills_daily")

    conn = open_reader(path)
    assert refilled == [{"test_sums"}]  # only the migration that lost something is asked
    assert conn.execute("SELECT total FROM test_sums").fetchall() == [(5,)]
    assert conn.execute("SELECT count(*) FROM skills_daily").fetchone() == (0,)


def test_opening_a_second_connection_keeps_the_first_ones_locks(tmp_path):
    """Closing any descriptor of a file drops every POSIX lock the process holds on it. An open WAL connection
    holds a shared lock on the database file, which keeps another process that closes its own connection from
    taking the WAL away (checkpoint and delete) under it; a second connect() must not drop it."""
    path = tmp_path / "s.db"
    first = connect(path)
    first.execute("CREATE TABLE t (x)")
    second = connect(path)  # a second connection of the same process, as the daemon's jobs open
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " c.execute('INSERT INTO t VALUES (1)'); c.commit(); c.close()",
            str(path),
        ],
        check=True,
    )
    assert Path(f"{path}-wal").exists()  # the other process was not the last one: the WAL stays for ours
    assert first.execute("SELECT count(*) FROM t").fetchone() == (1,)
    second.close()
    first.close()


def test_the_wal_is_cut_back_after_a_big_write_while_another_connection_stays_open(tmp_path):
    """A bulk ingest grows the WAL; with a daemon holding the store open it is never deleted, so once
    checkpointed it must shrink back (journal_size_limit) instead of keeping its largest size on disk."""
    from skill_insights.store import WAL_KEEP_BYTES

    path = tmp_path / "s.db"
    holder = connect(path)  # as the daemon keeps its connection
    writer = connect(path)
    writer.execute("CREATE TABLE blob (x BLOB)")
    writer.execute("BEGIN IMMEDIATE")
    writer.executemany("INSERT INTO blob VALUES (?)", [(os.urandom(4096),) for _ in range(2 * WAL_KEEP_BYTES // 4096)])
    writer.execute("COMMIT")  # past the auto-checkpoint size: checkpointed at this commit
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > WAL_KEEP_BYTES
    writer.execute("INSERT INTO blob VALUES (x'00')")  # the next write starts the WAL over, cut back to the limit
    assert wal.stat().st_size <= WAL_KEEP_BYTES
    writer.close()
    holder.close()

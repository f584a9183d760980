"""Named, append-only schema migrations. Never edit one that has shipped: add another.

Each subsystem owns its tables; the names say whose they are (`capture_…`, `skills_…`, `analysis_…`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from skill_insights.records import TOKEN_COLS

if TYPE_CHECKING:
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]
# Called with the names of the objects a migration made that a damaged store lost and that were made again,
# empty: it refills what can be derived from the tables that are left (a rollup, for example).
Repair = Callable[["sqlite_utils.Database", set[str]], None]
MIGRATIONS: list[tuple[str, Migration]] = []
REPAIRS: dict[str, Repair] = {}


def migration(name: str, *, repair: Repair | None = None) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        if any(n == name for n, _ in MIGRATIONS):
            raise ValueError(f"duplicate migration name {name}")
        MIGRATIONS.append((name, fn))
        if repair is not None:
            REPAIRS[name] = repair
        return fn

    return register


TOKENS = dict.fromkeys(TOKEN_COLS, int)


def _refill_capture(db: sqlite_utils.Database, lost: set[str]) -> None:
    """Capture's derived tables come back from its rows: the running totals now, the session rows and daily
    rollups at the next flush (every session and day is marked for it)."""
    from skill_insights.store import totals

    conn = db.conn
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'response_totals'").fetchone():
        totals.rebuild(conn)  # else capture_0003 has yet to run, and builds them
    conn.execute("INSERT OR IGNORE INTO dirty SELECT 'session', session_id FROM files")
    conn.execute("INSERT OR IGNORE INTO dirty SELECT 'date', date FROM responses WHERE date IS NOT NULL")
    conn.execute("INSERT OR IGNORE INTO dirty SELECT 'date', date FROM events WHERE date IS NOT NULL")


@migration("capture_0001_core", repair=_refill_capture)
def capture_core(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")  # shipped; unused, dropped by capture_0002

    # One row per transcript file: its checkpoint and the per-file facts kept incrementally.
    db.table("files").create(
        {
            "id": int,
            "path": str,
            "session_id": str,
            "agent_id": str,  # set for <session>/subagents/agent-<id>.jsonl
            "project_dir": str,
            "dev": int,
            "inode": int,
            "size": int,
            "offset": int,  # byte offset just past the last complete line consumed
            "mtime": float,
            "head_hash": str,  # hash of the first bytes: detects a rewrite in place
            "lines": int,
            "malformed": int,
            "user_messages": int,
            "first_ts": float,
            "last_ts": float,
            # Timestamp of the first timestamped line in file order: a fork starts with lines written when it
            # was forked, before the older lines it copied, so the original of a copy has the smaller one.
            "opened_ts": float,
            "blocks": str,  # JSON [[start, end], ...] activity blocks (gaps > 10 min split)
            "cwd": str,
            "git_branch": str,
            "client_version": str,
            "processor_version": int,
            "updated_at": str,
        },
        pk="id",
        not_null={"path"},
        defaults={"offset": 0, "lines": 0, "malformed": 0, "user_messages": 0},
    )
    db.table("files").create_index(["path"], unique=True)
    db.table("files").create_index(["session_id"])

    # Every observation of an API response, per file (forks copy lines into new files).
    db.table("response_obs").create(
        {
            "message_id": str,
            "request_id": str,
            "file_id": int,
            "session_id": str,
            "agent_id": str,
            "model": str,
            "ts": float,
            "date": str,
            **TOKENS,
            "cost_usd": float,
            "copied": int,  # 1 when the line says it was copied from another session (a fork)
        },
        pk=("message_id", "request_id", "file_id"),
    )
    db.table("response_obs").create_index(["file_id"])

    # The canonical response: one row per (message_id, requestId), owned by the first file that showed
    # it, with the token counts of the observation with the largest output_tokens.
    db.table("responses").create(
        {
            "message_id": str,
            "request_id": str,
            "file_id": int,
            "session_id": str,
            "agent_id": str,
            "model": str,
            "ts": float,
            "date": str,
            **TOKENS,
            "cost_usd": float,
        },
        pk=("message_id", "request_id"),
    )
    db.table("responses").create_index(["session_id"])
    db.table("responses").create_index(["date"])

    # Tool calls, tool errors, skills, subagents, MCP calls, slash commands, subagent links. An event seen in
    # several files (forks) counts once, for the earliest row with its (kind, key).
    db.table("events").create(
        {
            "file_id": int,
            "kind": str,
            "key": str,
            "session_id": str,
            "agent_id": str,
            "ts": float,
            "date": str,
            "name": str,
            "detail": str,
        },
        pk=("file_id", "kind", "key"),
    )
    db.table("events").create_index(["kind", "key"])
    db.table("events").create_index(["session_id"])
    db.table("events").create_index(["date", "kind"])

    db.table("sessions").create(
        {
            "session_id": str,
            "project": str,
            "project_dir": str,
            "git_branch": str,
            "git_repo": str,
            "started_at": str,
            "ended_at": str,
            "last_date": str,
            "wall_seconds": float,
            "active_seconds": float,
            "user_messages": int,
            "assistant_messages": int,
            "primary_model": str,
            "models": str,  # JSON {model: {tokens..., cost_usd, responses}}
            "input_tokens": int,
            "output_tokens": int,
            "cache_creation_input_tokens": int,
            "cache_read_input_tokens": int,
            "total_tokens": int,
            "cost_usd": float,
            "unpriced_models": str,  # JSON list
            "tool_calls": int,
            "tool_errors": int,
            "skill_calls": int,
            "subagent_calls": int,
            "mcp_calls": int,
            "slash_commands": int,
            "distinct_tools": int,
            "distinct_skills": int,
            "tools": str,  # JSON {tool: {calls, errors}}
            "skills": str,  # JSON {skill: count}
            "subagents": str,  # JSON [{agent_id, type, tool_use_id, tokens, cost_usd}]
            "mcp": str,  # JSON {server: {tool: count}}
            "slash": str,  # JSON {command: count}
            "files": int,
            "malformed": int,
            "processor_version": int,
            "updated_at": str,
        },
        pk="session_id",
    )
    db.table("sessions").create_index(["last_date"])

    # Daily rollups, recomputed for the days an ingest touched.
    db.table("usage_daily").create(
        {
            "date": str,
            "model": str,
            "responses": int,
            **TOKENS,
            "cost_usd": float,
            "unpriced_responses": int,
        },
        pk=("date", "model"),
    )
    db.table("tools_daily").create({"date": str, "tool": str, "calls": int, "errors": int}, pk=("date", "tool"))
    db.table("skills_daily").create(
        {"date": str, "skill": str, "activations": int, "sessions": int}, pk=("date", "skill")
    )

    # What an ingest changed and the rollups have not yet caught up with. Committed with the rows that
    # made it dirty, so a crash between the two never leaves a rollup silently stale.
    db.table("dirty").create({"kind": str, "value": str}, pk=("kind", "value"))

    # Normalised git remote per working directory, resolved once.
    db.table("repos").create({"cwd": str, "remote": str, "checked_at": str}, pk="cwd")


@migration("analysis_0001_findings")
def analysis_findings(db: sqlite_utils.Database) -> None:
    # One row per `analyze` run; its phases' outputs and findings hang off it.
    db.table("analysis_runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "inventory_generated_at": str,
            "inventory_skills": int,
            "phases": str,  # JSON list of requested phases
            "status": str,  # ok | partial (a phase failed)
        },
        pk="id",
    )
    db.table("analysis_phase_results").create(
        {"run_id": int, "phase": str, "status": str, "seconds": float, "error": str, "summary": str, "output": str},
        pk=("run_id", "phase"),
        foreign_keys=[("run_id", "analysis_runs", "id")],
    )
    db.table("analysis_findings").create(
        {
            "id": int,
            "run_id": int,
            "phase": str,
            "skill_id": str,
            "skill_name": str,
            "rule": str,
            "severity": str,
            "message": str,
            "fix": str,
            "evidence": str,  # JSON
        },
        pk="id",
        foreign_keys=[("run_id", "analysis_runs", "id")],
    )
    db.table("analysis_findings").create_index(["run_id", "phase"])
    db.table("analysis_findings").create_index(["skill_id"])
    db.table("analysis_duplicate_groups").create(
        {"run_id": int, "group_no": int, "kind": str, "similarity": float, "skills": str, "pairs": str},
        pk=("run_id", "group_no"),
        foreign_keys=[("run_id", "analysis_runs", "id")],
    )
    # LLM answers keyed by what was judged (content hashes + model): a re-run never pays twice.
    db.table("analysis_llm_cache").create(
        {"key": str, "kind": str, "model": str, "response": str, "created_at": str}, pk="key"
    )


@migration("skills_0001_inventory")
def skills_inventory(db: sqlite_utils.Database) -> None:
    # One row per scan; the full inventory document is kept for the newest scans only.
    db.table("scans").create(
        {
            "id": int,
            "generated_at": str,
            "schema_version": str,
            "roots": str,  # JSON
            "skills": int,
            "locations": int,
            "files": int,
            "manifests": int,
            "added": int,
            "removed": int,
            "changed": int,
            "duration_seconds": float,
            "document": str,  # JSON inventory, NULL once superseded
        },
        pk="id",
    )
    # The current inventory (the latest scan): canonical skills, where each lives, its files, manifests.
    db.table("skills").create(
        {
            "id": str,
            "name": str,
            "description": str,
            "content_hash": str,
            "names": str,  # JSON: every name an activation may use (plugin skills as plugin:skill)
            "frontmatter": str,  # JSON
            "body_lines": int,
            "approx_tokens": int,
            "size_bytes": int,
            "findings": str,  # JSON
            "first_seen": str,
            "last_changed": str,
            "scan_id": int,
        },
        pk="id",
    )
    db.table("skills").create_index(["name"])
    db.table("skills").create_index(["content_hash"])
    db.table("skill_locations").create(
        {
            "path": str,
            "skill_id": str,
            "realpath": str,
            "agent": str,
            "scope": str,
            "is_link": int,
            "installed": int,
            "project_root": str,
            "plugin": str,
            "tile": str,
            "names": str,  # JSON
        },
        pk="path",
    )
    db.table("skill_locations").create_index(["skill_id"])
    db.table("skill_files").create(
        {"skill_id": str, "path": str, "size": int, "sha256": str, "kind": str, "is_link": int},
        pk=("skill_id", "path"),
    )
    db.table("manifests").create(
        {"path": str, "kind": str, "name": str, "version": str, "scope": str, "data": str}, pk="path"
    )
    # What each scan changed against the one before: the "recently changed" history.
    db.table("skills_changes").create(
        {"id": int, "scan_id": int, "at": str, "change": str, "skill_id": str, "name": str, "detail": str},
        pk="id",
    )
    db.table("skills_changes").create_index(["skill_id"])


@migration("skills_0002_files_view")
def skills_files_view(db: sqlite_utils.Database) -> None:
    # The files of the current skills, read from the newest stored inventory document, which lists them all
    # anyway: writing them again as 100k rows was half of a first 10k-skill scan's store (and a third of the
    # database), for a table nothing in skill-insights reads — it is there for the user's own queries.
    db.execute("DROP TABLE skill_files")
    db.create_view(
        "skill_files",
        "SELECT json_extract(s.value, '$.id') AS skill_id, json_extract(f.value, '$.path') AS path,"
        " json_extract(f.value, '$.size') AS size, json_extract(f.value, '$.sha256') AS sha256,"
        " json_extract(f.value, '$.kind') AS kind, json_extract(f.value, '$.is_link') AS is_link"
        " FROM scans, json_each(scans.document, '$.skills') AS s, json_each(s.value, '$.files') AS f"
        " WHERE scans.id = (SELECT max(id) FROM scans WHERE document IS NOT NULL)",
    )


@migration("capture_0002_drop_meta")
def capture_drop_meta(db: sqlite_utils.Database) -> None:
    # Nothing reads `meta`. IF EXISTS: stores made while capture_0001 had been edited not to create it have none.
    db.execute("DROP TABLE IF EXISTS meta")


@migration("telemetry_0001_outbox")
def telemetry_outbox(db: sqlite_utils.Database) -> None:
    # Consent, one row (id 1) written by `telemetry enable|disable`; no row means off. Kept in the store, not in
    # config.json, so the triggers below can read it inside the capture's own transaction.
    db.execute(
        """CREATE TABLE telemetry_state (
               id INTEGER PRIMARY KEY CHECK (id = 1),
               enabled INTEGER NOT NULL DEFAULT 0,
               install_id TEXT NOT NULL,
               changed_at TEXT)"""
    )
    # What is owed to PostHog: one row per (event, key), so the copies of an event in forked transcripts and a
    # re-derived file collapse. Payloads are built at send time from the rows named here; a sent row is kept
    # (status 'sent') so a re-derivation does not queue it again.
    db.execute(
        """CREATE TABLE telemetry_outbox (
               id INTEGER PRIMARY KEY,
               event TEXT NOT NULL,
               key TEXT NOT NULL,
               session_id TEXT,
               ts REAL,
               created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
               status TEXT NOT NULL DEFAULT 'pending',
               attempts INTEGER NOT NULL DEFAULT 0,
               next_attempt_at REAL,
               last_error TEXT,
               sent_at TEXT,
               UNIQUE (event, key))"""
    )
    db.execute("CREATE INDEX telemetry_outbox_status ON telemetry_outbox (status, next_attempt_at)")
    # Triggers put the outbox rows in the transaction that writes the rows they describe, whatever code wrote
    # them; they queue nothing unless the user opted in.
    db.execute(
        """CREATE TRIGGER telemetry_activation AFTER INSERT ON events
           WHEN NEW.kind IN ('skill', 'mcp') AND EXISTS (SELECT 1 FROM telemetry_state WHERE enabled = 1)
           BEGIN
               INSERT OR IGNORE INTO telemetry_outbox (event, key, session_id, ts)
               VALUES (CASE NEW.kind WHEN 'skill' THEN 'cli:agent-signals:skill-activation'
                                     ELSE 'cli:agent-signals:mcp-tool-activation' END,
                       NEW.key, NEW.session_id, NEW.ts);
           END"""
    )
    db.execute(
        """CREATE TRIGGER telemetry_session AFTER INSERT ON sessions
           WHEN EXISTS (SELECT 1 FROM telemetry_state WHERE enabled = 1)
           BEGIN
               INSERT OR IGNORE INTO telemetry_outbox (event, key, session_id)
               VALUES ('cli:agent-signals:session-processed', NEW.session_id, NEW.session_id);
           END"""
    )


@migration("capture_0003_totals", repair=_refill_capture)
def capture_totals(db: sqlite_utils.Database) -> None:
    from skill_insights.records import MAX_RESPONSE_TOKENS
    from skill_insights.store import totals

    conn = db.conn
    # Token counts no response can hold overflowed the rollups' sums; capture now refuses such lines, and the
    # rows they left (perhaps of files since deleted) go, their sessions and days recomputed.
    absurd = " OR ".join(f"{c} NOT BETWEEN 0 AND {MAX_RESPONSE_TOKENS}" for c in TOKENS)
    for table in ("response_obs", "responses"):
        conn.execute(f"INSERT OR IGNORE INTO dirty SELECT 'session', session_id FROM {table} WHERE {absurd}")
        conn.execute(f"INSERT OR IGNORE INTO dirty SELECT 'date', date FROM {table} WHERE {absurd}")
        conn.execute(f"DELETE FROM {table} WHERE {absurd}")
    for table in ("response_obs", "responses"):
        db.table(table).add_column("cost_units", int)
        conn.execute(f"UPDATE {table} SET cost_units = coalesce(CAST(round(cost_usd * 1e12) AS INTEGER), 0)")
    db.table("response_totals").create(
        {
            "session_id": str,
            "agent_id": str,
            "date": str,
            "model": str,
            "responses": int,
            **TOKENS,
            "cost_units": int,
            "unpriced": int,
        },
        pk=("session_id", "agent_id", "date", "model"),
    )
    db.table("response_totals").create_index(["date"])
    db.table("event_totals").create(
        {"session_id": str, "date": str, "kind": str, "name": str, "detail": str, "calls": int, "failed": int},
        pk=("session_id", "date", "kind", "name", "detail"),
    )
    db.table("event_totals").create_index(["date", "kind"])
    totals.rebuild(conn)


@migration("telemetry_0002_triggers_never_replace")
def telemetry_triggers_never_replace(db: sqlite_utils.Database) -> None:
    # A trigger's INSERT OR IGNORE takes the conflict rule of the statement that fired it: the rollups' INSERT OR
    # REPLACE INTO sessions turned it into a REPLACE, which put an event already sent back in the queue. An
    # insert that cannot conflict (NOT EXISTS) behaves the same under every outer statement.
    db.execute("DROP TRIGGER telemetry_activation")
    db.execute("DROP TRIGGER telemetry_session")
    db.execute(
        """CREATE TRIGGER telemetry_activation AFTER INSERT ON events
           WHEN NEW.kind IN ('skill', 'mcp') AND EXISTS (SELECT 1 FROM telemetry_state WHERE enabled = 1)
           BEGIN
               INSERT INTO telemetry_outbox (event, key, session_id, ts)
               SELECT v.event, NEW.key, NEW.session_id, NEW.ts
               FROM (SELECT CASE NEW.kind WHEN 'skill' THEN 'cli:agent-signals:skill-activation'
                                          ELSE 'cli:agent-signals:mcp-tool-activation' END AS event) AS v
               WHERE NOT EXISTS (SELECT 1 FROM telemetry_outbox o WHERE o.event = v.event AND o.key = NEW.key);
           END"""
    )
    db.execute(
        """CREATE TRIGGER telemetry_session AFTER INSERT ON sessions
           WHEN EXISTS (SELECT 1 FROM telemetry_state WHERE enabled = 1)
           BEGIN
               INSERT INTO telemetry_outbox (event, key, session_id)
               SELECT 'cli:agent-signals:session-processed', NEW.session_id, NEW.session_id
               WHERE NOT EXISTS (SELECT 1 FROM telemetry_outbox o
                                 WHERE o.event = 'cli:agent-signals:session-processed' AND o.key = NEW.session_id);
           END"""
    )


@migration("telemetry_0003_activity_since_consent")
def telemetry_activity_since_consent(db: sqlite_utils.Database) -> None:
    # Consent covers activity from the moment telemetry was enabled (telemetry_state.changed_at while enabled):
    # an activation or a session that ended before then is not queued when a re-derivation or a re-pricing
    # writes its rows again. An activation without a timestamp cannot be placed in time and is not queued.
    db.execute("DROP TRIGGER telemetry_activation")
    db.execute("DROP TRIGGER telemetry_session")
    db.execute(
        """CREATE TRIGGER telemetry_activation AFTER INSERT ON events
           WHEN NEW.kind IN ('skill', 'mcp') AND NEW.ts IS NOT NULL AND EXISTS (
               SELECT 1 FROM telemetry_state
               WHERE enabled = 1 AND NEW.ts >= CAST(strftime('%s', changed_at) AS INTEGER))
           BEGIN
               INSERT INTO telemetry_outbox (event, key, session_id, ts)
               SELECT v.event, NEW.key, NEW.session_id, NEW.ts
               FROM (SELECT CASE NEW.kind WHEN 'skill' THEN 'cli:agent-signals:skill-activation'
                                          ELSE 'cli:agent-signals:mcp-tool-activation' END AS event) AS v
               WHERE NOT EXISTS (SELECT 1 FROM telemetry_outbox o WHERE o.event = v.event AND o.key = NEW.key);
           END"""
    )
    db.execute(
        """CREATE TRIGGER telemetry_session AFTER INSERT ON sessions
           WHEN NEW.ended_at IS NOT NULL AND EXISTS (
               SELECT 1 FROM telemetry_state
               WHERE enabled = 1
                 AND CAST(strftime('%s', NEW.ended_at) AS INTEGER) >= CAST(strftime('%s', changed_at) AS INTEGER))
           BEGIN
               INSERT INTO telemetry_outbox (event, key, session_id)
               SELECT 'cli:agent-signals:session-processed', NEW.session_id, NEW.session_id
               WHERE NOT EXISTS (SELECT 1 FROM telemetry_outbox o
                                 WHERE o.event = 'cli:agent-signals:session-processed' AND o.key = NEW.session_id);
           END"""
    )


@migration("capture_0004_ledger")
def capture_ledger(db: sqlite_utils.Database) -> None:
    # files.ledger: the last `cost-state` line of the file (Claude Code's own totals for its session, side calls
    # included); sessions.side_calls: per model, what that ledger holds beyond the session's responses.
    # Prompts become events (kind 'prompt'), so a fork's copies count once: the processor version re-derives
    # every file, which fills all three.
    db.execute("ALTER TABLE files ADD COLUMN ledger TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN side_calls TEXT")
    # A fork's copies, which its ledger covers: read per file when its side calls are settled.
    db.execute("CREATE INDEX idx_response_obs_copied ON response_obs (file_id) WHERE copied = 1")


@migration("capture_0005_quota_snapshots")
def capture_quota_snapshots(db: sqlite_utils.Database) -> None:
    # Every rate-limit reading the statusline saw: per window (five_hour, seven_day, …), the used percentage at
    # a moment, and when that window resets. One row per window, moment and session.
    db.table("quota_snapshots").create(
        {"window": str, "ts": float, "session_id": str, "used_percentage": float, "resets_at": float},
        pk=("window", "ts", "session_id"),
    )
    db.table("quota_snapshots").create_index(["window", "resets_at"])

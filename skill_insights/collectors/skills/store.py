"""The inventory in SQLite: the current skills, their locations, files and manifests, one row per scan, and
the diff of each scan against the one before (added / removed / changed), for "recently changed".

Tables (migrations `skills_0001_inventory`, `skills_0002_files_view`): scans, skills, skill_locations,
manifests, skills_changes, and the view skill_files (the files listed by the newest stored document). The
current-state tables hold the latest scan only; `skills_changes` keeps the history.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from skill_insights.store import write_transaction

if TYPE_CHECKING:  # at run time either a sqlite-utils Database or a plain connection will do (both `execute`)
    import sqlite_utils

    Store = sqlite_utils.Database | sqlite3.Connection

KEEP_DOCUMENTS = 1  # full documents kept in `scans` (the newest); older scans keep their summary only


def _diff(old: dict[str, tuple[Any, ...]], new: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None]]:
    """[(change, skill_id, name, detail)] between the stored skills {id: (name, hash, …)} and a new scan."""
    out: list[tuple[str, str, str, str | None]] = []
    seen: set[str] = set()
    for s in new:
        seen.add(s["id"])
        prev = old.get(s["id"])
        if prev is None:
            out.append(("added", s["id"], s["name"], s["locations"][0]["path"]))
        elif prev[1] != s["content_hash"]:
            out.append(("changed", s["id"], s["name"], f"{prev[1][:12]} → {s['content_hash'][:12]}"))
    for sid, (name, *_) in old.items():
        if sid not in seen:
            out.append(("removed", sid, name, None))
    return out


ROWS_VERSION = 1  # bump when the rows written from a document change: a stored document then never matches
_STAMP_KEYS = ("generated_at", "duration_seconds")  # kept in their `scans` columns, not in the stored text
_MARK = "stored_rows"


@functools.cache
def _mark() -> str:
    """The rows version and the shipped inventory schema's digest: a document stored under another mark was
    written by other code or checked against another schema."""
    import zlib

    from skill_insights.schemas.validate import schema_text

    return f"{ROWS_VERSION}:{zlib.crc32(schema_text('inventory').encode()):08x}"


def stored_text(doc: dict[str, Any]) -> str:
    """The document as `scans.document` keeps it: without what differs on every scan (the `scans` row has
    those as columns), marked with the rows version and schema — so equal text means the current tables
    already hold exactly what this document would write, and that it passed this schema when stored."""
    return orjson.dumps({_MARK: _mark(), **{k: v for k, v in doc.items() if k not in _STAMP_KEYS}}).decode()


def _latest_text(conn: Any) -> str | None:
    row = conn.execute("SELECT document FROM scans WHERE document IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def is_stored(db: Store, text: str) -> bool:
    """Is `text` (from `stored_text`) the latest stored document? Then it was valid when stored, and a scan
    that found it again (the usual re-scan) needs no second schema check."""
    try:
        return _latest_text(db) == text
    except sqlite3.OperationalError:  # no `scans` table: nothing stored yet
        return False


def store_scan(
    db: Store,
    doc: dict[str, Any],
    before_commit: Callable[[], None] | None = None,
    check: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Replace the current inventory with `doc`, record the scan and its diff. Returns {scan_id, added,
    removed, changed, first}; `first` is True when there was no earlier scan (everything counts as added).

    A scan that found exactly what the latest stored document holds (the usual re-scan) records its row and
    nothing else: the document is not stored twice and the current tables are already right. Otherwise the
    document is stored and the tables rewritten (the skill_files view reads the stored document).
    `check` (the schema check) runs first for a document that is not the stored one: a stored one passed it
    when stored. `before_commit` runs last inside the transaction. Whatever either raises rolls the whole scan
    back."""
    text = stored_text(doc)
    with write_transaction(db) as conn:
        first = conn.execute("SELECT 1 FROM scans LIMIT 1").fetchone() is None
        same = is_stored(conn, text)
        old: dict[str, tuple[Any, ...]] = {}  # id → (name, content_hash, first_seen, last_changed)
        diff: list[tuple[str, str, str, str | None]] = []
        if not same:
            if check is not None:
                check()
            old = {
                r[0]: r[1:] for r in conn.execute("SELECT id, name, content_hash, first_seen, last_changed FROM skills")
            }
            diff = _diff(old, doc["skills"])
        counts = {k: sum(1 for d in diff if d[0] == k) for k in ("added", "removed", "changed")}
        cur = conn.execute(
            "INSERT INTO scans (generated_at, schema_version, roots, skills, locations, files, manifests, added,"
            " removed, changed, duration_seconds, document) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                doc["generated_at"],
                doc["schema_version"],
                orjson.dumps(doc["roots"]).decode(),
                len(doc["skills"]),
                sum(len(s["locations"]) for s in doc["skills"]),
                sum(len(s["files"]) for s in doc["skills"]),
                len(doc["manifests"]),
                counts["added"],
                counts["removed"],
                counts["changed"],
                doc.get("duration_seconds"),
                None if same else text,
            ],
        )
        scan_id = cur.lastrowid
        assert scan_id is not None  # an INSERT always gives one
        if not same:  # (same: the rows stay those of the scan that wrote them)
            conn.execute(
                "UPDATE scans SET document = NULL WHERE document IS NOT NULL AND id NOT IN"
                " (SELECT id FROM scans WHERE document IS NOT NULL ORDER BY id DESC LIMIT ?)",
                [KEEP_DOCUMENTS],
            )
            conn.executemany(
                "INSERT INTO skills_changes (scan_id, at, change, skill_id, name, detail) VALUES (?,?,?,?,?,?)",
                [(scan_id, doc["generated_at"], c, sid, name, detail) for c, sid, name, detail in diff],
            )
            _store_rows(conn, doc, old, scan_id)
        if before_commit is not None:
            before_commit()
    return {"scan_id": scan_id, "first": first, **counts}


def _store_rows(conn: Any, doc: dict[str, Any], old: dict[str, tuple[Any, ...]], scan_id: int) -> None:
    for t in ("skill_locations", "skills", "manifests"):
        conn.execute(f"DELETE FROM {t}")
    at = doc["generated_at"]
    conn.executemany(
        "INSERT INTO skills (id, name, description, content_hash, names, frontmatter, body_lines,"
        " approx_tokens, size_bytes, findings, first_seen, last_changed, scan_id) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        sorted(
            [
                (
                    s["id"],
                    s["name"],
                    s.get("description"),
                    s["content_hash"],
                    orjson.dumps(s.get("names", [])).decode(),
                    orjson.dumps(s.get("frontmatter")).decode(),
                    s.get("body_lines"),
                    s.get("approx_tokens"),
                    s.get("size_bytes"),
                    orjson.dumps(s["findings"]).decode(),
                    old.get(s["id"], (None, None, at))[2] or at,
                    at if (s["id"] not in old or old[s["id"]][1] != s["content_hash"]) else old[s["id"]][3],
                    scan_id,
                )
                for s in doc["skills"]
            ],
            key=itemgetter(0),
        ),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO skill_locations (path, skill_id, realpath, agent, scope, is_link, installed,"
        " project_root, plugin, tile, names) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        sorted(
            [
                (
                    loc["path"],
                    s["id"],
                    loc.get("realpath"),
                    loc["agent"],
                    loc["scope"],
                    int(loc["is_link"]),
                    None if loc.get("installed") is None else int(loc["installed"]),
                    loc.get("project_root"),
                    (loc.get("plugin") or {}).get("name"),
                    (loc.get("tile") or {}).get("name"),
                    orjson.dumps(loc.get("names", [])).decode(),
                )
                for s in doc["skills"]
                for loc in s["locations"]
            ],
            key=itemgetter(0),
        ),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO manifests (path, kind, name, version, scope, data) VALUES (?,?,?,?,?,?)",
        [
            (m["path"], m["kind"], m.get("name"), m.get("version"), m.get("scope"), orjson.dumps(m).decode())
            for m in doc["manifests"]
        ],
    )


def latest_inventory(db: Store) -> dict[str, Any] | None:
    """The newest stored inventory document (read by the analyzers and the report): the newest stored text,
    with the `generated_at` and `duration_seconds` of the newest scan (which found the same, when it stored
    no text of its own)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scans'").fetchone() is None:
        return None
    text = _latest_text(db)
    if not text:
        return None
    stored = orjson.loads(text)
    if _MARK not in stored:  # written before documents were stored without their stamps: whole as it is
        return stored
    stored.pop(_MARK)
    at, duration = db.execute("SELECT generated_at, duration_seconds FROM scans ORDER BY id DESC LIMIT 1").fetchone()
    doc: dict[str, Any] = {"schema_version": stored.pop("schema_version")} if "schema_version" in stored else {}
    doc["generated_at"] = at
    if duration is not None:
        doc["duration_seconds"] = duration
    doc.update(stored)
    return doc


def recent_changes(db: Store, limit: int = 200) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT scan_id, at, change, skill_id, name, detail FROM skills_changes ORDER BY id DESC LIMIT ?", [limit]
    ).fetchall()
    return [dict(zip(("scan_id", "at", "change", "skill_id", "name", "detail"), r, strict=True)) for r in rows]

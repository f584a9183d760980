"""The inventory in SQLite: the current skills, their locations, files and manifests, one row per scan, and
the diff of each scan against the one before (added / removed / changed), for "recently changed".

Tables (migration `skills_0001_inventory`): scans, skills, skill_locations, skill_files, manifests,
skills_changes. The current-state tables hold the latest scan only; `skills_changes` keeps the history.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlite_utils

from skill_insights.store import write_transaction

KEEP_DOCUMENTS = 1  # full documents kept in `scans` (the newest); older scans keep their summary only


def _diff(old: dict[str, tuple[str, str]], new: list[dict[str, Any]]) -> list[tuple[str, str, str, str | None]]:
    """[(change, skill_id, name, detail)] between the stored skills {id: (name, hash)} and a new scan."""
    out: list[tuple[str, str, str, str | None]] = []
    seen: set[str] = set()
    for s in new:
        seen.add(s["id"])
        prev = old.get(s["id"])
        if prev is None:
            out.append(("added", s["id"], s["name"], s["locations"][0]["path"]))
        elif prev[1] != s["content_hash"]:
            out.append(("changed", s["id"], s["name"], f"{prev[1][:12]} → {s['content_hash'][:12]}"))
    for sid, (name, _h) in old.items():
        if sid not in seen:
            out.append(("removed", sid, name, None))
    return out


def store_scan(db: sqlite_utils.Database, doc: dict[str, Any]) -> dict[str, Any]:
    """Replace the current inventory with `doc`, record the scan and its diff. Returns {scan_id, added,
    removed, changed, first}; `first` is True when there was no earlier scan (everything counts as added)."""
    with write_transaction(db) as conn:
        old = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, name, content_hash FROM skills")}
        first = conn.execute("SELECT 1 FROM scans LIMIT 1").fetchone() is None
        diff = _diff(old, doc["skills"])
        counts = {k: sum(1 for d in diff if d[0] == k) for k in ("added", "removed", "changed")}
        cur = conn.execute(
            "INSERT INTO scans (generated_at, schema_version, roots, skills, locations, files, manifests, added,"
            " removed, changed, duration_seconds, document) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [doc["generated_at"], doc["schema_version"], orjson.dumps(doc["roots"]).decode(), len(doc["skills"]),
             sum(len(s["locations"]) for s in doc["skills"]), sum(len(s["files"]) for s in doc["skills"]),
             len(doc["manifests"]), counts["added"], counts["removed"], counts["changed"],
             doc.get("duration_seconds"), orjson.dumps(doc).decode()],
        )
        scan_id = cur.lastrowid
        conn.execute(
            "UPDATE scans SET document = NULL WHERE id NOT IN (SELECT id FROM scans ORDER BY id DESC LIMIT ?)",
            [KEEP_DOCUMENTS],
        )
        conn.executemany(
            "INSERT INTO skills_changes (scan_id, at, change, skill_id, name, detail) VALUES (?,?,?,?,?,?)",
            [(scan_id, doc["generated_at"], c, sid, name, detail) for c, sid, name, detail in diff],
        )
        kept = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, first_seen, last_changed FROM skills")}
        for t in ("skill_files", "skill_locations", "skills", "manifests"):
            conn.execute(f"DELETE FROM {t}")
        conn.executemany(
            "INSERT INTO skills (id, name, description, content_hash, names, frontmatter, body_lines,"
            " approx_tokens, size_bytes, findings, first_seen, last_changed, scan_id) VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (s["id"], s["name"], s.get("description"), s["content_hash"], orjson.dumps(s.get("names", [])).decode(),
                 orjson.dumps(s.get("frontmatter")).decode(), s.get("body_lines"), s.get("approx_tokens"),
                 s.get("size_bytes"), orjson.dumps(s["findings"]).decode(),
                 kept.get(s["id"], (doc["generated_at"],))[0] or doc["generated_at"],
                 doc["generated_at"] if (s["id"] not in old or old[s["id"]][1] != s["content_hash"])
                 else kept[s["id"]][1],
                 scan_id)
                for s in doc["skills"]
            ],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO skill_locations (path, skill_id, realpath, agent, scope, is_link, installed,"
            " project_root, plugin, tile, names) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (loc["path"], s["id"], loc.get("realpath"), loc["agent"], loc["scope"], int(loc["is_link"]),
                 None if loc.get("installed") is None else int(loc["installed"]), loc.get("project_root"),
                 (loc.get("plugin") or {}).get("name"), (loc.get("tile") or {}).get("name"),
                 orjson.dumps(loc.get("names", [])).decode())
                for s in doc["skills"] for loc in s["locations"]
            ],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO skill_files (skill_id, path, size, sha256, kind, is_link) VALUES (?,?,?,?,?,?)",
            [(s["id"], f["path"], f["size"], f["sha256"], f["kind"], int(f["is_link"]))
             for s in doc["skills"] for f in s["files"]],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO manifests (path, kind, name, version, scope, data) VALUES (?,?,?,?,?,?)",
            [(m["path"], m["kind"], m.get("name"), m.get("version"), m.get("scope"), orjson.dumps(m).decode())
             for m in doc["manifests"]],
        )
    return {"scan_id": scan_id, "first": first, **counts}


def latest_inventory(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest stored inventory document (read by the analyzers and the report)."""
    if "scans" not in db.table_names():
        return None
    row = db.execute("SELECT document FROM scans WHERE document IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    return orjson.loads(row[0]) if row and row[0] else None


def recent_changes(db: sqlite_utils.Database, limit: int = 200) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT scan_id, at, change, skill_id, name, detail FROM skills_changes ORDER BY id DESC LIMIT ?", [limit]
    ).fetchall()
    return [dict(zip(("scan_id", "at", "change", "skill_id", "name", "detail"), r, strict=True)) for r in rows]

"""A read-only view over the store for the report: which tables exist, rows as dicts, JSON columns decoded.

Every reader of the report (`data`, `adapters`) goes through it, so a table missing or mid-migration gives an
empty section instead of an error.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
import sqlite_utils


def json_or(text: Any, default: Any) -> Any:
    """A stored JSON column, or `default` when it is empty or not JSON."""
    if not isinstance(text, str | bytes) or not text:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return default


class Store:
    """A thin read-only view over the database that knows which tables and columns exist."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self._tables = {
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall()
        }

    def has(self, table: str) -> bool:
        return table in self._tables

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        try:
            cur = self.db.execute(sql, list(params))
        except sqlite3.Error:
            # A table of a subsystem mid-migration, or one whose shape changed: show nothing, do not fail.
            return []
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

"""Where `analyze` gets its inventory: a file, the latest scan stored by the inventory subsystem, or a new scan.

This is the only place that knows how the inventory subsystem stores scans, so a change there is a change
here only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils


class InventoryError(Exception):
    pass


def read_inventory_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InventoryError(f"cannot read the inventory {path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("skills"), list):
        raise InventoryError(f"{path} is not an inventory document (no `skills` list)")
    return doc


def latest_stored(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest inventory document the scan stored, if any."""
    try:
        from skill_insights.collectors.skills import store as inv_store  # type: ignore[attr-defined]
    except ImportError:
        inv_store = None
    fn = getattr(inv_store, "latest_inventory", None) if inv_store is not None else None
    if callable(fn):
        doc = fn(db)
        return doc if isinstance(doc, dict) else None
    # Fallback: a table of scans holding the whole document as JSON.
    for table, col in (("skills_scans", "document"), ("skills_scans", "inventory")):
        if table in db.table_names() and col in db[table].columns_dict:
            row = db.execute(f"SELECT {col} FROM {table} ORDER BY rowid DESC LIMIT 1").fetchone()
            if row and row[0]:
                return json.loads(row[0])
    return None

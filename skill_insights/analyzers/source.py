"""Where `analyze` gets its inventory: a file, the latest scan stored by the inventory subsystem, or a new scan.

This is the only place that knows how the inventory subsystem stores scans, so a change there is a change
here only.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils


class InventoryError(Exception):
    pass


def read_inventory_file(path: Path) -> dict[str, Any]:
    try:
        # A FIFO or a device would block the read (or never end): only a regular file is an inventory.
        if not stat.S_ISREG(path.stat().st_mode):
            raise InventoryError(f"cannot read the inventory {path}: not a regular file")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InventoryError(f"cannot read the inventory {path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("skills"), list):
        raise InventoryError(f"{path} is not an inventory document (no `skills` list)")
    from skill_insights.schemas.validate import SchemaError, validate

    try:  # the analyzers trust the schema's shapes: a hand-edited file must not reach them as a traceback
        validate(doc, "inventory")
    except SchemaError as e:
        msg = " ".join(e.message.split())  # one line, whatever the offending value holds
        raise InventoryError(f"{path} does not match the inventory schema at {e.path}: {msg}") from None
    return doc


def latest_stored(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest inventory document the scan stored (`skill-insights scan`), if any."""
    from skill_insights.collectors.skills.store import latest_inventory

    doc = latest_inventory(db)
    return doc if isinstance(doc, dict) else None


def inventory_for(path: Path | None, db: sqlite_utils.Database, scan: Callable[[], None]) -> dict[str, Any]:
    """The file at `path`, else the latest stored scan, else the one `scan()` stores (it raises InventoryError
    when it fails)."""
    if path is not None:
        return read_inventory_file(path)
    doc = latest_stored(db)
    if doc is not None:
        return doc
    scan()
    doc = latest_stored(db)  # the scan stores what it found
    if doc is None:
        raise InventoryError("the scan stored no inventory: pass --inventory FILE")
    return doc

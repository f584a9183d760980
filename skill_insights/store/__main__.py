"""`python -m skill_insights.store`: write `schema.sql`, the sum of the migrations (see snapshot.py)."""

from __future__ import annotations

import sqlite_utils

from skill_insights.store import migrate
from skill_insights.store.snapshot import SNAPSHOT, dump_schema


def main() -> None:
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    SNAPSHOT.write_text(dump_schema(db.conn), encoding="utf-8")
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()

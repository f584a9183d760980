"""The report: one self-contained HTML page built from the store.

`generate_report(db, paths)` is the entry point for the CLI and the daemon: it writes a timestamped report
into the reports dir, refreshes `latest.html`, and keeps only the newest `keep` timestamped files.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from skill_insights.outputs import check_output_path, write_atomic
from skill_insights.settings import read_config

if TYPE_CHECKING:
    from pathlib import Path

    import sqlite_utils

    from skill_insights.settings import Paths

DEFAULT_KEEP = 20
LATEST = "latest.html"
PREFIX = "report-"


def org_data(db: sqlite_utils.Database, paths: Paths | None) -> dict[str, Any] | None:
    """The org section (the copy `org-usage fetch` keeps, compared with this machine's skills), or None."""
    if paths is None:
        return None
    from skill_insights.telemetry.org_usage import org_section

    try:
        return org_section(paths.data_dir / "org_usage.json", db.conn)
    except sqlite3.Error:  # no inventory table yet: nothing to compare with
        return None


def build_html(
    db: sqlite_utils.Database,
    *,
    now: datetime | None = None,
    since: date | None = None,
    until: date | None = None,
    demo: bool = False,
    paths: Paths | None = None,
) -> str:
    from skill_insights.report.data import gather
    from skill_insights.report.render import render

    return render(gather(db, now=now, since=since, until=until, demo=demo, org=org_data(db, paths)))


def write_report(
    db: sqlite_utils.Database,
    out: Path,
    *,
    now: datetime | None = None,
    since: date | None = None,
    until: date | None = None,
    paths: Paths | None = None,
) -> Path:
    """Render the report into exactly `out`. Raises NotRegularFile (an OSError) for a FIFO, device or folder."""
    check_output_path(out)  # before rendering: the rename would replace a FIFO or /dev/null with a file
    write_atomic(out, build_html(db, now=now, since=since, until=until, paths=paths).encode())
    return out


def configured_keep(paths: Paths) -> int:
    """`report_keep` from config.json, else 20."""
    try:
        keep = int(read_config(paths.config_file).get("report_keep", DEFAULT_KEEP))
    except (ValueError, TypeError):
        return DEFAULT_KEEP
    return keep if keep > 0 else DEFAULT_KEEP


def prune(reports_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` timestamped reports; returns what was removed."""
    reports = sorted(reports_dir.glob(f"{PREFIX}*.html"), key=lambda p: (p.stat().st_mtime, p.name))
    doomed = reports[:-keep] if keep > 0 else reports
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def generate_report(
    db: sqlite_utils.Database,
    paths: Paths,
    keep: int | None = None,
    *,
    now: datetime | None = None,
    since: date | None = None,
    until: date | None = None,
    demo: bool = False,
) -> Path:
    """Write reports_dir/report-<UTC timestamp>.html and latest.html; keep the last `keep`. Returns the new file."""
    keep = configured_keep(paths) if keep is None else keep
    now = now or datetime.now(UTC)
    html = build_html(db, now=now, since=since, until=until, demo=demo, paths=paths).encode()
    reports_dir = paths.reports_dir
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    out = reports_dir / f"{PREFIX}{stamp}Z.html"
    n = 1
    while out.exists():  # two reports in one second (daemon + CLI): never overwrite, add a suffix
        out = reports_dir / f"{PREFIX}{stamp}Z-{n}.html"
        n += 1
    # Written next to the target and renamed: a browser (or the daemon) never sees half a report.
    write_atomic(out, html)
    write_atomic(reports_dir / LATEST, html)
    prune(reports_dir, keep)
    return out


def latest_report(paths: Paths) -> Path | None:
    p = paths.reports_dir / LATEST
    return p if p.is_file() else None

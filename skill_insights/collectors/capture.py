"""The one way transcripts reach the store: discover → tail → flush.

The CLI's `ingest`, the quick path, the spool drain and the daemon all capture through here, so each takes
the same files (the projects-folder rule of `skill_insights.projects`) and leaves the rollups flushed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from skill_insights.collectors.transcripts import IngestSummary, TranscriptTailer, discover
from skill_insights.projects import ProjectRoots, StrPath


def transcripts(roots: Iterable[StrPath], inside: ProjectRoots | None = None) -> list[Path]:
    """Every transcript under `roots` that the projects-folder rule takes (`inside`, default: `roots`
    themselves), spelled under its folder, least recently written first; a file link that leads out of the
    folders is left out."""
    given = [Path(os.path.abspath(r)) for r in roots]
    inside = inside or ProjectRoots(given)
    out: list[Path] = []
    seen: set[str] = set()
    # A root is walked only if it still is one of the folders `inside` resolved (a root re-created as a link
    # to `/` is not walked), and `discover` follows no link to a folder below it.
    walked = [r for r in given if (inside.folder(r) if r.is_dir() else inside.transcript(r)) is not None]
    for p in discover(walked):
        spelled = inside.transcript(str(p))
        if spelled is not None and spelled not in seen:
            seen.add(spelled)
            out.append(Path(spelled))
    return out


def tail(
    tailer: TranscriptTailer,
    paths: Iterable[Path | str],
    progress: Callable[[Path], None] | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Bring known transcript files up to date and flush the rollups they touched. `workers=1` parses in this
    process only (the daemon, whose watcher thread makes forking unsafe)."""
    return tailer.ingest_paths([Path(p) for p in paths], progress=progress, workers=workers)


def capture(
    db,
    prices,
    roots: Iterable[StrPath],
    progress_for: Callable[[int], Callable[[Path], None] | None] | None = None,
) -> IngestSummary:
    """Capture what is new under `roots` (projects folders, or transcript files) into the store.

    `progress_for(number of files found)` may return a callback called once per file (a progress bar)."""
    found = transcripts(roots)
    progress = progress_for(len(found)) if progress_for else None
    return tail(TranscriptTailer(db, prices), found, progress)


def refuse_file(path: Path) -> str | None:
    """Why `ingest --file path` cannot take it (a folder, missing, not a transcript), or None."""
    if path.is_dir():
        return f"{path} is a folder: pass it with --projects-dir, or one transcript with --file"
    if not path.is_file():
        return f"no such transcript file: {path}"
    refusal = not_a_transcript(path)
    return f"{path} is not a Claude Code transcript ({refusal})" if refusal else None


def not_a_transcript(path: Path) -> str | None:
    """Why `path` is not a Claude Code transcript (JSON lines of objects with a `type`), or None when it is one.
    An empty .jsonl file is a transcript Claude Code has only just created."""
    import json

    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError as e:
        return e.strerror or str(e)
    if not head.strip():
        return None if path.suffix == ".jsonl" else "it is empty"
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        line = json.loads(first)
    except (ValueError, RecursionError):
        return "its first line is not JSON"
    if not isinstance(line, dict) or not isinstance(line.get("type"), str):
        return "its first line is not a transcript entry"
    return None


def has_history(projects_dirs: Iterable[Path], database: Path) -> bool:
    """Transcripts to read under `projects_dirs`, or sessions already captured in the store at `database`.
    A store that can't be read raises sqlite3's error."""
    for d in projects_dirs:
        if d.is_dir() and next(d.rglob("*.jsonl"), None) is not None:
            return True
    if not database.exists():
        return False
    import sqlite3

    from skill_insights.store import open_readonly

    try:
        with open_readonly(database) as conn:
            return conn.execute("SELECT 1 FROM sessions LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # a store created before any capture
            return False
        raise


def progress_bar(stack: contextlib.ExitStack) -> Callable[[int], Callable[[Path], None] | None]:
    """A `progress_for` for `capture`: a transient bar on a terminal's stderr when there are more than 20 files,
    closed with `stack`."""

    def bar_for(found: int) -> Callable[[Path], None] | None:
        # Without a terminal, skill_insights.quick runs this same capture without importing click.
        if not sys.stderr.isatty() or found <= 20:
            return None
        from rich.progress import Progress

        bar = stack.enter_context(Progress(transient=True))
        task = bar.add_task("ingesting", total=found)
        return lambda _p: bar.advance(task)

    return bar_for

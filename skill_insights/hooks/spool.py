"""Drain the hook spool: payloads the hook wrote because no daemon was listening.

Used by the hidden `skill-insights ingest-spool` command that the hook starts detached. The daemon drains the
same folder; ingest is idempotent (per-file checkpoints), so two drainers at once only cost time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from skill_insights.hooks import locations, payload

STALE_TMP_SECONDS = 3600
MAX_ROUNDS = 5


@dataclass
class DrainResult:
    payloads: int = 0
    garbage: int = 0
    transcripts: list[Path] = field(default_factory=list)
    summary: str = ""


def pending(directory: Path) -> list[Path]:
    """Finished spool files, oldest first (names start with time_ns); `.…tmp` files are still being written."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(directory / n for n in names if n.endswith(".json") and not n.startswith("."))


def read_payload(f: Path) -> bytes:
    """A spooled payload, cut one byte past MAX_PAYLOAD (enough for `payload.parse` to refuse an oversized one)."""
    with f.open("rb") as fh:
        return fh.read(locations.MAX_PAYLOAD + 1)


def readable(files: list[Path]) -> Iterator[tuple[Path, bytes]]:
    """(file, its payload) for each spool file that can be read now. One that cannot is left alone: deleting
    it would lose its payload, and the next drainer reads it."""
    for f in files:
        try:
            yield f, read_payload(f)
        except OSError:
            continue


def transcripts_for(raw: bytes) -> list[Path] | None:
    """The session transcript and its subagents' files, or None when the payload is garbage."""
    p = payload.parse(raw)
    if p is None:
        return None
    return [Path(f) for f in payload.transcript_files(p)]


def _remove_stale_tmp(directory: Path) -> None:
    now = time.time()
    try:
        for entry in os.scandir(directory):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                try:
                    if now - entry.stat().st_mtime > STALE_TMP_SECONDS:  # a hook killed mid-write
                        os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass


def drain(db, prices, directory: Path | None = None) -> DrainResult:
    """Ingest every spooled payload's transcripts, then delete the payload files that were read (garbage too).

    A file that cannot be read now stays in the spool for the next drainer: deleting it would lose its payload.
    """
    from skill_insights.collectors.transcripts import TranscriptTailer

    directory = Path(directory or locations.spool_dir())
    result = DrainResult()
    tailer = TranscriptTailer(db, prices)
    lines = []
    unread: set[Path] = set()
    # A few rounds: payloads spooled while we ingest are picked up too.
    for _ in range(MAX_ROUNDS):
        files = [f for f in pending(directory) if f not in unread]
        if not files:
            break
        batch: dict[str, Path] = {}
        read: list[Path] = []
        for f, raw in readable(files):
            read.append(f)
            found = transcripts_for(raw)
            result.payloads += 1
            if found is None:
                result.garbage += 1
            for p in found or []:
                batch.setdefault(str(p), p)
        unread.update(set(files) - set(read))  # not retried in this drain
        if batch:
            summary = tailer.ingest_paths(list(batch.values()))
            lines.append(summary.line())
            result.transcripts.extend(batch.values())
        # Only after the ingest committed: a crash before this leaves the payloads for the next drainer.
        for f in read:
            f.unlink(missing_ok=True)
    _remove_stale_tmp(directory)
    result.summary = "; ".join(lines)
    return result

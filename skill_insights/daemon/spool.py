"""Drain the hook spool: payloads the hook wrote because no daemon was listening.

Used by the daemon and by the hidden `skill-insights ingest-spool` command that the hook starts detached.
Both may drain the same folder at once; ingest is idempotent (per-file checkpoints), so that only costs time.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from skill_insights.collectors import capture
from skill_insights.collectors.transcripts import IngestSummary, TranscriptTailer
from skill_insights.hooks import locations, payload
from skill_insights.projects import ProjectRoots, StrPath
from skill_insights.safefile import NotRegularFile, read_prefix

STALE_TMP_SECONDS = 3600
MAX_ROUNDS = 5


@dataclass
class DrainResult:
    payloads: int = 0
    garbage: int = 0
    transcripts: list[Path] = field(default_factory=list)
    summaries: list[IngestSummary] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)  # "<spool file>: why", each removed
    summary: str = ""


def pending(directory: Path) -> list[Path]:
    """Finished spool files, oldest first (names start with time_ns); `.…tmp` files are still being written."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(directory / n for n in names if n.endswith(".json") and not n.startswith("."))


def read_payload(f: Path) -> bytes:
    """A spooled payload, cut one byte past MAX_PAYLOAD (enough for `payload.parse` to refuse an oversized one).

    Read through `safefile` (regular files only, never following a link): a FIFO named like a payload must
    not stall the drain."""
    try:
        return read_prefix(f, locations.MAX_PAYLOAD + 1, follow=False)
    except NotRegularFile as e:
        raise IsADirectoryError(str(e)) from None


def readable(files: list[Path]) -> Iterator[tuple[Path, bytes | None]]:
    """(file, its payload) for each spool file that can be read now, (file, None) for one that never will be
    a payload (not a regular file). One that cannot be read now is left alone: deleting it would lose its
    payload, and the next drainer reads it."""
    for f in files:
        try:
            yield f, read_payload(f)
        except IsADirectoryError:
            yield f, None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENXIO):  # a link (never followed out of the spool) or a socket
                yield f, None
            continue


def transcripts_for(raw: bytes | None, roots: Iterable[StrPath] | ProjectRoots) -> tuple[list[Path] | None, str]:
    """(the session transcript and its subagents' files inside the projects folders, "") or (None, why the
    payload cannot be used). Never raises: one bad payload must not hold up the others."""
    if raw is None:
        return None, "not a regular file"
    try:
        p = payload.parse(raw)
        if p is None:
            return None, f"not hook JSON ({len(raw)} bytes)"
        return [Path(f) for f in payload.transcript_files(p, roots)], ""
    except Exception as e:
        return None, f"{e.__class__.__name__}: {e}"


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


def drain(
    tailer: TranscriptTailer, roots: Iterable[StrPath], directory: Path | None = None, workers: int | None = None
) -> DrainResult:
    """Ingest every spooled payload's transcripts inside the projects folders `roots`, then delete the payload
    files that were read (unusable ones too, named in `unusable`).

    A file that cannot be read now stays in the spool for the next drainer. An ingest that fails (a store
    locked by another writer) raises before any payload of its round is deleted.
    """
    directory = Path(directory or locations.spool_dir())
    roots = list(roots)
    result = DrainResult()
    unread: set[Path] = set()
    # A few rounds: payloads spooled while we ingest are picked up too.
    for _ in range(MAX_ROUNDS):
        files = [f for f in pending(directory) if f not in unread]
        if not files:
            break
        inside = ProjectRoots(roots)
        batch: dict[str, Path] = {}
        read: list[Path] = []
        for f, raw in readable(files):
            read.append(f)
            found, why = transcripts_for(raw, inside)
            result.payloads += 1
            if found is None:
                result.garbage += 1
                result.unusable.append(f"{f.name}: {why}")
            for p in found or []:
                batch.setdefault(str(p), p)
        unread.update(set(files) - set(read))  # not retried in this drain
        if batch:
            result.summaries.append(capture.tail(tailer, list(batch.values()), workers=workers))
            result.transcripts.extend(batch.values())
        # Only after the ingest committed: a crash before this leaves the payloads for the next drainer.
        for f in read:
            try:
                f.unlink(missing_ok=True)
            except IsADirectoryError:
                with contextlib.suppress(OSError):
                    f.rmdir()
            except OSError:
                pass
    _remove_stale_tmp(directory)
    result.summary = "; ".join(s.line() for s in result.summaries)
    return result


def drain_and_log(tailer: TranscriptTailer, roots: Iterable[StrPath]) -> str:
    """`ingest-spool`: drain, saying in the hook log what failed or was removed (started detached, its stdio is
    /dev/null); returns the line it prints."""
    from skill_insights.hooks import fastpath

    try:
        result = drain(tailer, roots)
    except Exception as e:
        fastpath.log("ingest-spool", f"failed: {e.__class__.__name__}: {e}")
        raise
    for why in result.unusable:  # each such file is removed: said once
        fastpath.log("ingest-spool", f"removed an unusable payload {why}")
    if result.payloads:
        fastpath.log("ingest-spool", f"{result.payloads} payloads ({result.garbage} garbage): {result.summary}")
    return f"{result.payloads} spooled payloads, {len(result.transcripts)} transcripts. {result.summary}"

"""Incremental, crash-safe capture of Claude Code transcripts into the store.

* `checkpoint` — which files there are, and how far each has been read (a file that shrank, changed inode or
  was rewritten in place is re-derived from the start);
* `chunk` — one chunk of a file parsed into the rows it adds;
* `batch` — a batch of chunks written in one transaction, with the running totals moved by what it changes;
* `tailer` — the passes over files that tie them together, on every core for a large backlog.
"""

from skill_insights.collectors.transcripts.checkpoint import (
    TranscriptFile,
    classify,
    discover,
    is_current,
    known_checkpoints,
)
from skill_insights.collectors.transcripts.chunk import CHUNK_BYTES
from skill_insights.collectors.transcripts.tailer import IngestSummary, TranscriptTailer

__all__ = [
    "CHUNK_BYTES",
    "IngestSummary",
    "TranscriptFile",
    "TranscriptTailer",
    "classify",
    "discover",
    "is_current",
    "known_checkpoints",
]

"""A transcript file's checkpoint: how far capture has read it, and whether what was read is still there.

Each file has a row in `files` (inode/device, size, mtime, byte offset just past the last complete line, a
hash of its first bytes, and the per-file facts kept line by line). A file that shrank, changed inode or was
rewritten in place `needs_reset`: it is re-derived from the start.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from skill_insights import records

HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class TranscriptFile:
    path: Path
    session_id: str
    agent_id: str | None
    project_dir: str


def classify(path: Path) -> TranscriptFile:
    """`<project>/<session>.jsonl` or `<project>/<session>/subagents/agent-<id>.jsonl`."""
    # One spelling per file (absolute, `..` folded, links kept), as the daemon spells it: one row per file.
    path = Path(os.path.abspath(path))
    if path.parent.name == "subagents":
        agent = path.stem[6:] if path.stem.startswith("agent-") else path.stem
        return TranscriptFile(path, path.parent.parent.name, agent, path.parent.parent.parent.name)
    return TranscriptFile(path, path.stem, None, path.parent.name)


def discover(roots: Iterable[Path]) -> list[Path]:
    """Every regular `*.jsonl` file under the roots, in one spelling each, least recently written first."""
    found: dict[str, tuple[float, Path]] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            candidates: Iterable[Path] = [root]
        elif root.is_dir():
            candidates = root.rglob("*.jsonl")
        else:
            continue
        for p in candidates:
            try:
                st = p.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO named *.jsonl would block the read forever
                continue
            p = Path(os.path.abspath(p))
            found[str(p)] = (st.st_mtime, p)
    return [p for _, p in sorted(found.values(), key=lambda t: (t[0], str(t[1])))]


def known_checkpoints(db) -> dict[str, tuple]:
    """path → the part of its checkpoint `is_current` compares, for every file in the store."""
    rows = db.execute("SELECT path, size, mtime, inode, dev, offset, processor_version FROM files").fetchall()
    return {r[0]: r[1:] for r in rows}


def is_current(checkpoint: tuple | None, st: os.stat_result) -> bool:
    """Has a file (stat `st`) nothing its checkpoint (from `known_checkpoints`) has not read?"""
    return checkpoint == (st.st_size, st.st_mtime, st.st_ino, st.st_dev, st.st_size, records.PROCESSOR_VERSION)


def read_checkpoint(conn, tf: TranscriptFile) -> dict | None:
    row = conn.execute(f"SELECT {CP_COLS} FROM files WHERE path = ?", [str(tf.path)]).fetchone()
    return cp_dict(row) if row else None


def open_checkpoint(conn, tf: TranscriptFile, st: os.stat_result) -> dict:
    cp = read_checkpoint(conn, tf)
    if cp is None:
        cur = conn.execute(
            """INSERT INTO files (path, session_id, agent_id, project_dir, dev, inode, size, offset, mtime,
                                  processor_version, blocks)
               VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, ?, '[]')""",
            [str(tf.path), tf.session_id, tf.agent_id, tf.project_dir, st.st_dev, st.st_ino, records.PROCESSOR_VERSION],
        )
        row = conn.execute(f"SELECT {CP_COLS} FROM files WHERE id = ?", [cur.lastrowid]).fetchone()
        cp = cp_dict(row)
    return cp


def needs_reset(cp: dict, st: os.stat_result, fh) -> bool:
    if cp["offset"] == 0:
        return False
    if (cp["dev"], cp["inode"]) != (st.st_dev, st.st_ino):
        return True
    if st.st_size < cp["offset"] or cp["processor_version"] != records.PROCESSOR_VERSION:
        return True
    head = cp["head_hash"]
    if head:
        n = int(head.split(":")[0])
        return head_hash(fh, n) != head
    return False


CP_KEYS = (
    "id",
    "dev",
    "inode",
    "size",
    "offset",
    "head_hash",
    "first_ts",
    "last_ts",
    "opened_ts",
    "blocks",
    "cwd",
    "git_branch",
    "client_version",
    "processor_version",
    "ledger",
)
CP_COLS = ", ".join(CP_KEYS)


def cp_dict(row: tuple) -> dict:
    cp = dict(zip(CP_KEYS, row, strict=True))
    cp["blocks"] = orjson.loads(cp["blocks"] or "[]")
    return cp


def fresh_checkpoint() -> dict:
    return {**dict.fromkeys(CP_KEYS), "offset": 0, "blocks": [], "processor_version": records.PROCESSOR_VERSION}


def base_of(cp: dict) -> tuple:
    """What a parse started from: if the stored checkpoint still says this, the parse is still valid."""
    return (cp["offset"], cp["head_hash"], cp["processor_version"], cp["first_ts"], cp["last_ts"])


def head_hash(fh, n: int) -> str:
    pos = fh.tell()
    fh.seek(0)
    data = fh.read(n)
    fh.seek(pos)
    return digest_head(data)


def digest_head(data: bytes) -> str:
    # A CRC tells a rewritten head from the one read before; no cryptographic hash is needed for that (and
    # hashlib's import alone is a visible share of a small capture).
    return f"{len(data)}:{zlib.crc32(data):08x}"

"""Small JSON files of the scan (manifests, Claude Code's plugin lists, registry answers): read capped, without
blocking on a FIFO and without following a symlink out of the folder they describe."""

from __future__ import annotations

import errno
import json
import os
import stat
from typing import Any

from skill_insights.collectors.skills.skilldir import within

MAX_MANIFEST_BYTES = 1024 * 1024

_O_MANIFEST = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
SYMLINK_ERRNOS = {errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP), getattr(errno, "EFTYPE", errno.ELOOP)}


def read_json(path: str, *, follow: bool = False, inside: str | None = None) -> Any:
    """A small JSON file. Raises OSError (missing, unreadable, a symlink refused) or ValueError (not a regular
    file, over MAX_MANIFEST_BYTES, not JSON, nested too deeply): the caller records why.

    O_NONBLOCK, then fstat on the open file: a FIFO or device is refused without a read that could block, and
    the type checked is the one of the file read (no stat-then-open race). O_NOFOLLOW: a manifest that is a
    symlink is followed only with `follow`, or when it resolves inside `inside` (the real path of the folder
    it describes: marketplaces commit `.claude-plugin/marketplace.json -> ../marketplace.json`); any other
    link is refused rather than followed out of the tree (its directories may still be links)."""
    try:
        fd = os.open(path, _O_MANIFEST if follow else _O_MANIFEST | _O_NOFOLLOW)
    except OSError as e:
        if follow or inside is None or e.errno not in SYMLINK_ERRNOS:
            raise
        real = os.path.realpath(path)
        if not within(real, inside):
            raise
        fd = os.open(real, _O_MANIFEST | _O_NOFOLLOW)  # a real path: no link left to follow
    parts: list[bytes] = []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        total = 0
        while total <= MAX_MANIFEST_BYTES and (chunk := os.read(fd, MAX_MANIFEST_BYTES + 1 - total)):
            parts.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    raw = b"".join(parts)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ValueError(f"over {MAX_MANIFEST_BYTES} bytes")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def json_type(v: Any) -> str:
    """How a finding names a JSON value's type (never the value: it may hold anything, newlines included)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(v), type(v).__name__)

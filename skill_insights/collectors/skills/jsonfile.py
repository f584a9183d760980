"""Small JSON files of the scan (manifests, Claude Code's plugin lists, registry answers): read capped, without
blocking on a FIFO and without following a symlink out of the folder they describe."""

from __future__ import annotations

import errno
import json
import os
from typing import Any

from skill_insights.collectors.skills.skilldir import within
from skill_insights.safefile import NotRegularFile, TooLarge, read_capped

MAX_MANIFEST_BYTES = 1024 * 1024

SYMLINK_ERRNOS = {errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP), getattr(errno, "EFTYPE", errno.ELOOP)}


def read_json(path: str, *, follow: bool = False, inside: str | None = None) -> Any:
    """A small JSON file. Raises OSError (missing, unreadable, a symlink refused) or ValueError (not a regular
    file, over MAX_MANIFEST_BYTES, not JSON, nested too deeply): the caller records why.

    Read through `safefile` (non-blocking, the type checked on the open file, capped). O_NOFOLLOW: a manifest that is a
    symlink is followed only with `follow`, or when it resolves inside `inside` (the real path of the folder
    it describes: marketplaces commit `.claude-plugin/marketplace.json -> ../marketplace.json`); any other
    link is refused rather than followed out of the tree (its directories may still be links)."""
    try:
        try:
            raw = read_capped(path, MAX_MANIFEST_BYTES, follow=follow)
        except OSError as e:
            if follow or inside is None or e.errno not in SYMLINK_ERRNOS:
                raise
            real = os.path.realpath(path)
            if not within(real, inside):
                raise
            raw = read_capped(real, MAX_MANIFEST_BYTES, follow=False)  # a real path: no link left to follow
    except NotRegularFile:
        raise ValueError("not a regular file") from None
    except TooLarge:
        raise ValueError(f"over {MAX_MANIFEST_BYTES} bytes") from None
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

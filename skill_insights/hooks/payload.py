"""Hook payloads (from the daemon's socket or the spool) → the transcript files worth ingesting.

Shared by the daemon and the spool drain; the hook's fast path never imports it.

Pure and tolerant: garbage, a wrong shape, a path outside the projects folders or that is not a `.jsonl`
file gives an empty list, never an exception, because whatever wrote the bytes (a hook killed mid-write, a
stray client) is not trusted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from skill_insights.hooks.locations import MAX_PAYLOAD
from skill_insights.projects import ProjectRoots, StrPath

# Subagent transcripts listed per session: a folder holding more is not a Claude Code session folder.
MAX_SUBAGENTS = 10_000


@dataclass(frozen=True)
class HookPayload:
    transcript_path: str | None
    session_id: str | None
    event: str | None
    request: str | None = None  # a control request from our own CLI (e.g. "status"), not a hook


def parse(raw: bytes) -> HookPayload | None:
    if not raw or len(raw) > MAX_PAYLOAD:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None

    def s(key: str) -> str | None:
        v = doc.get(key)
        return v if isinstance(v, str) and v else None

    return HookPayload(s("transcript_path"), s("session_id"), s("hook_event_name"), s("skill_insights_request"))


def _plain_name(name: str | None) -> bool:
    """A single path component (a session id or a file stem), nothing that walks or cannot be a name."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")  # type: ignore[operator]


def transcript_files(p: HookPayload, roots: Iterable[StrPath] | ProjectRoots) -> list[str]:
    """The session's transcript and its subagents' (`<dir>/<session>/subagents/*.jsonl`), each spelled under
    the projects folder that holds it; nothing outside the projects folders (`roots`), whatever the payload
    says, and no folder outside them is listed."""
    inside = roots if isinstance(roots, ProjectRoots) else ProjectRoots(roots)
    tp = p.transcript_path
    if not tp or "\0" in tp:
        return []
    try:
        tp = os.path.normpath(os.path.expanduser(tp))
    except (KeyError, ValueError):  # a `~user` that the password database cannot even look up
        return []
    if not os.path.isabs(tp) or not tp.endswith(".jsonl"):
        return []
    out: list[str] = []
    found = inside.transcript(tp)
    if found is not None:
        out.append(found)
    # The file stem is the session id; the payload's session_id can differ after a fork or a failed resume.
    stems = {os.path.basename(tp)[: -len(".jsonl")]}
    if _plain_name(p.session_id):
        stems.add(p.session_id)  # type: ignore[arg-type]
    base = os.path.dirname(tp)
    for stem in sorted(s for s in stems if _plain_name(s)):
        folder = inside.folder(os.path.join(base, stem, "subagents"))
        if folder is None:
            continue
        try:
            with os.scandir(folder) as entries:
                names = sorted(e.name for _, e in zip(range(MAX_SUBAGENTS), entries, strict=False))
        except (OSError, ValueError):
            continue
        for name in names:
            if name.endswith(".jsonl") and not name.startswith("."):
                sub = inside.transcript(os.path.join(folder, name))
                if sub is not None and sub not in out:
                    out.append(sub)
    return out

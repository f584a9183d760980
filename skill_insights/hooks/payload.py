"""Hook payloads (from the daemon's socket or the spool) → the transcript files worth ingesting.

Shared by the daemon and the detached spool ingest; the hook's fast path never imports it.

Pure and tolerant: garbage, a wrong shape or a path that is not a `.jsonl` file gives an empty list, never
an exception, because whatever wrote the bytes (a hook killed mid-write, a stray client) is not trusted.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import orjson

from skill_insights.hooks.locations import MAX_PAYLOAD


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


def transcript_files(p: HookPayload) -> list[str]:
    """The session's transcript and its subagents' (`<dir>/<session>/subagents/*.jsonl`)."""
    tp = p.transcript_path
    if not tp or "\0" in tp:
        return []
    tp = os.path.normpath(os.path.expanduser(tp))
    if not os.path.isabs(tp) or not tp.endswith(".jsonl"):
        return []
    out: list[str] = []
    if os.path.isfile(tp):
        out.append(tp)
    # The file stem is the session id; the payload's session_id can differ after a fork or a failed resume.
    stems = {os.path.basename(tp)[: -len(".jsonl")]}
    if p.session_id and "/" not in p.session_id and p.session_id not in (".", ".."):
        stems.add(p.session_id)
    base = os.path.dirname(tp)
    for stem in sorted(stems):
        out.extend(sorted(glob.glob(os.path.join(glob.escape(base), glob.escape(stem), "subagents", "*.jsonl"))))
    return out

"""Parsing one chunk of a transcript into the rows it adds: responses observed, events, and the file's facts.

Lines are parsed in place (spans of the chunk), so the large ones that are never decoded are never copied.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from skill_insights.collectors.parse import MAX_LINE_BYTES, MalformedLine, ParsedLine, parse_span
from skill_insights.collectors.transcripts.checkpoint import TranscriptFile
from skill_insights.pricing import PriceTable
from skill_insights.records import Usage, cost_units, local_date
from skill_insights.safefile import read_capped
from skill_insights.store.activity import add_timestamp

CHUNK_BYTES = 8 * 1024 * 1024
META_BYTES = 1_000_000


class ObsRow(NamedTuple):
    """One file's observation of one API response (the line with the largest output_tokens)."""

    message_id: str
    request_id: str
    session_id: str
    agent_id: str | None
    model: str
    ts: float | None
    date: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_creation_5m: int
    cache_creation_1h: int
    cache_read_input_tokens: int
    cost_usd: float | None
    cost_units: int
    copied: int


class EventRow(NamedTuple):
    kind: str
    key: str
    session_id: str
    agent_id: str | None
    ts: float | None
    date: str | None
    name: str | None
    detail: str | None


@dataclass
class Chunk:
    """What one chunk of a file adds: accumulated in memory, written in one transaction."""

    obs: dict[tuple[str, str], ObsRow] = field(default_factory=dict)
    events: list[EventRow] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)
    lines: int = 0
    malformed: int = 0
    user_messages: int = 0


class ChunkParser:
    """Parses chunks for one tailer: prices each response, and collects the models it has no price for."""

    def __init__(self, prices: PriceTable, unpriced: set[str], ledger_priced: set[str] | None = None):
        self.prices = prices
        self.unpriced = unpriced
        self.ledger_priced = ledger_priced if ledger_priced is not None else set()

    def parse(self, fh, tf: TranscriptFile, cp: dict, buf: bytes, at_eof: bool) -> tuple[int, Chunk]:
        """Parse the complete lines of `buf` (read from `fh` at checkpoint `cp`, which is advanced); returns
        (bytes consumed, rows)."""
        chunk = Chunk()
        end = buf.rfind(b"\n") + 1
        if end == 0 and not at_eof and len(buf) >= CHUNK_BYTES:
            # One line longer than a chunk: read on up to the line cap; past it, skip the line without holding
            # it and count it as malformed.
            buf, end = _read_long_line(fh, buf)
            if end == 0:
                skipped = _skip_long_line(fh, cp["offset"] + len(buf))
                if skipped is None:
                    return 0, chunk
                chunk.lines = chunk.malformed = 1
                return skipped - cp["offset"], chunk
            at_eof = cp["offset"] + len(buf) >= os.fstat(fh.fileno()).st_size
        if cp["offset"] == 0 and tf.agent_id:
            self._link_from_meta(tf, chunk)
        # Lines are parsed in place (spans of buf), so the large ones that are never decoded are never copied.
        base = cp["offset"]
        find = buf.find
        start = 0
        while start < end:
            stop = find(b"\n", start, end)
            self._absorb(tf, cp, chunk, buf, start, stop, base + start)
            start = stop + 1
        consumed = end
        tail = buf[end:]
        # A last line without its newline is normally still being written. If it is already a whole JSON
        # object (a writer that never ends the file with a newline), take it; a later "\n" is a blank line.
        if at_eof and tail.strip() and len(tail) <= MAX_LINE_BYTES:
            try:
                complete = isinstance(orjson.loads(tail), dict)
            except orjson.JSONDecodeError:
                complete = False
            if complete:
                self._absorb(tf, cp, chunk, tail, 0, len(tail), base + end)
                consumed += len(tail)
        return consumed, chunk

    def _absorb(self, tf: TranscriptFile, cp: dict, chunk: Chunk, buf: bytes, start: int, stop: int, pos: int) -> None:
        """Fold the line buf[start:stop], at byte `pos` of its file, into the chunk and the checkpoint `cp`."""
        try:
            line = parse_span(buf, start, stop)
        except MalformedLine:
            chunk.lines += 1
            chunk.malformed += 1
            return
        if line is None:
            return
        chunk.lines += 1
        ts = line.timestamp
        if ts is not None:
            if cp["opened_ts"] is None:
                cp["opened_ts"] = ts
            # A line older than the file's first one is a copy a fork made of its parent's (2.1.337 forks
            # start with lines of their own, then the copies): it is not this session's time.
            if ts >= cp["opened_ts"]:
                if cp["first_ts"] is None or ts < cp["first_ts"]:
                    cp["first_ts"] = ts
                if cp["last_ts"] is None or ts > cp["last_ts"]:
                    cp["last_ts"] = ts
                add_timestamp(cp["blocks"], ts)
        if not line.type:  # a large line read lazily: its timestamp is all it gives
            return
        if line.cwd and not cp["cwd"]:
            cp["cwd"] = line.cwd
        if line.git_branch and not cp["git_branch"]:
            cp["git_branch"] = line.git_branch
        if line.version and not cp["client_version"]:
            cp["client_version"] = line.version
        if line.ledger is not None:
            cp["ledger"] = orjson.dumps({**line.ledger, "ts": ts}).decode()
            for model in line.ledger["models"]:
                if model not in self.ledger_priced and self.prices.cost(model, Usage(1)) is None:
                    self.ledger_priced.add(model)
            return
        prompt = line.is_prompt and tf.agent_id is None  # a subagent's task is its parent's tool call
        if line.is_prompt:
            chunk.user_messages += 1
        if not (line.response or line.tool_uses or line.tool_results or line.slash_command or prompt):
            return  # no response and no event (an agent link comes with a tool result): no date needed
        date = local_date(ts if ts is not None else (cp["last_ts"] or time.time()))
        self._collect(tf, chunk, line, ts, date, pos)
        if prompt:
            # Keyed by the line's uuid, which a fork's copy keeps: the prompt counts once, for its writer.
            key = line.uuid or f"{tf.session_id}@{pos}"
            chunk.events.append(EventRow("prompt", key, tf.session_id, None, ts, date, None, None))
            chunk.dates.add(date)

    def _collect(self, tf: TranscriptFile, chunk: Chunk, line: ParsedLine, ts, date: str, pos: int) -> None:
        sid, aid = tf.session_id, tf.agent_id
        r = line.response
        if r is not None:
            u = r.usage
            key = (r.message_id, r.request_id)
            prev = chunk.obs.get(key)
            if prev is None or u.output_tokens > prev.output_tokens:
                cost = self.prices.cost(r.model, u)
                if cost is None:
                    self.unpriced.add(r.model)
                chunk.obs[key] = ObsRow(
                    r.message_id,
                    r.request_id,
                    sid,
                    aid,
                    r.model,
                    ts,
                    date,
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_creation_input_tokens,
                    u.cache_creation_5m,
                    u.cache_creation_1h,
                    u.cache_read_input_tokens,
                    cost,
                    cost_units(cost),
                    1 if r.copied_from else 0,
                )
            chunk.dates.add(date)
        ev = chunk.events
        for t in line.tool_uses:
            ev.append(EventRow("tool", t.tool_use_id, sid, aid, ts, date, t.name, None))
            if t.skill:
                ev.append(EventRow("skill", t.tool_use_id, sid, aid, ts, date, t.skill, None))
            if t.subagent_type:
                ev.append(EventRow("subagent", t.tool_use_id, sid, aid, ts, date, t.subagent_type, None))
            if t.mcp_server:
                ev.append(EventRow("mcp", t.tool_use_id, sid, aid, ts, date, t.mcp_server, t.mcp_tool))
        for tid, is_error in line.tool_results:
            if is_error:
                ev.append(EventRow("tool_error", tid, sid, aid, ts, date, None, None))
        if line.agent_link:
            agent_id, agent_type, tool_use_id = line.agent_link
            ev.append(EventRow("agent_link", agent_id, sid, aid, ts, date, agent_type, tool_use_id))
        if line.slash_command:
            ev.append(EventRow("slash", line.uuid or f"@{pos}", sid, aid, ts, date, line.slash_command, None))
        if line.tool_uses or line.tool_results or line.slash_command:
            chunk.dates.add(date)

    def _link_from_meta(self, tf: TranscriptFile, chunk: Chunk) -> None:
        """`agent-<id>.meta.json` beside a subagent transcript names its type and the parent's tool call."""
        if tf.agent_id is None:
            return
        meta = tf.path.with_name(tf.path.stem + ".meta.json")
        try:
            doc = orjson.loads(read_capped(meta, META_BYTES))
        except (OSError, ValueError):  # gone, a FIFO or folder, over the cap, or not JSON
            return
        if isinstance(doc, dict):
            atype = doc.get("agentType")
            tuid = doc.get("toolUseId")
            chunk.events.append(
                EventRow(
                    "agent_link",
                    tf.agent_id,
                    tf.session_id,
                    tf.agent_id,
                    None,
                    None,
                    atype if isinstance(atype, str) else None,
                    tuid if isinstance(tuid, str) else None,
                )
            )

    # -- writing ----------------------------------------------------------------------------------------


def _read_long_line(fh, buf: bytes) -> tuple[bytes, int]:
    """Extend `buf` until it holds a newline or MAX_LINE_BYTES; returns (buf, end just past the newline or 0)."""
    parts = [buf]
    size = len(buf)
    while size <= MAX_LINE_BYTES:
        block = fh.read(1024 * 1024)
        if not block:
            break
        parts.append(block)
        size += len(block)
        i = block.find(b"\n")
        if i >= 0:
            data = b"".join(parts)
            return data, size - len(block) + i + 1
    return b"".join(parts), 0


def _skip_long_line(fh, start: int) -> int | None:
    """Offset just past the newline that ends the line running through `start`, or None if unterminated."""
    fh.seek(start)
    pos = start
    while True:
        block = fh.read(1024 * 1024)
        if not block:
            return None
        i = block.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(block)

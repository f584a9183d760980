"""Pure parsing of one Claude Code transcript line into the facts skill-insights keeps.

No I/O here: `parse_line(bytes) -> ParsedLine | None` and raises `MalformedLine` for anything that is not a
well-typed JSON object. Facts verified with the real client (see DESIGN.md §2):

* one API response is written as one line per content block, each repeating the same `usage`; the store
  de-duplicates on (`message.id`, `requestId`), so the parser only reports what each line says;
* `<synthetic>` / `isApiErrorMessage` assistant lines are not billable responses;
* `Skill` → `input.skill`, `Task`/`Agent` → `input.subagent_type`, `mcp__<server>__<tool>`;
* tool results are `tool_result` blocks in user content, with `is_error`;
* slash commands are user text starting with `/`, or `<command-name>/x</command-name>` tags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from skill_insights.records import MAX_RESPONSE_TOKENS, Usage

# Lines larger than this are counted as malformed and never parsed: no real transcript line comes close,
# and parsing one would cost far more memory than the whole rest of an ingest.
MAX_LINE_BYTES = 16 * 1024 * 1024

# Lines at least this large that hold no top-level user/assistant type are not decoded (see parse_line).
LAZY_LINE_BYTES = 4096
_CONVERSATION = re.compile(rb'"type": ?"(?:user|assistant|cost-state)"')
_TIMESTAMP_KEY = b'"timestamp":'
_TIMESTAMP_VALUE = re.compile(rb'\s?"([^"]{10,40})"')
_HEAD_BYTES = 512

SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
_COMMAND_TAG = re.compile(r"<command-name>\s*(/?[^<\s]+)\s*</command-name>")
_SLASH = re.compile(r"/([A-Za-z0-9][\w:.\-]*)")


class MalformedLine(ValueError):
    """A line that is not a JSON object with the field types Claude Code writes."""


@dataclass(slots=True)
class Response:
    message_id: str
    request_id: str
    model: str
    usage: Usage
    # 2.1.330+ marks lines a fork copied from another session with `requestSessionId`.
    copied_from: str | None = None


@dataclass(slots=True)
class ToolUse:
    tool_use_id: str
    name: str
    skill: str | None = None
    subagent_type: str | None = None
    mcp_server: str | None = None
    mcp_tool: str | None = None


@dataclass(slots=True)
class ParsedLine:
    type: str
    timestamp: float | None = None
    uuid: str | None = None
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None
    response: Response | None = None
    # Shared empty tuples by default: most lines have neither, and a list per line costs.
    tool_uses: Sequence[ToolUse] = ()
    # (tool_use_id, is_error)
    tool_results: Sequence[tuple[str, bool]] = ()
    is_prompt: bool = False
    slash_command: str | None = None
    # (agent_id, agent_type) from an Agent/Task tool_result: links a subagent file to its tool call
    agent_link: tuple[str, str | None, str] | None = None
    # A `cost-state` line's ledger (see `parse_ledger`)
    ledger: dict | None = None


# Timestamps outside this range are garbage, not history: they would break date arithmetic downstream.
MIN_TIMESTAMP = 946_684_800.0  # 2000-01-01
MAX_TIMESTAMP = 4_102_444_800.0  # 2100-01-01


_fromisoformat = datetime.fromisoformat  # reads a trailing "Z" since Python 3.11


def parse_timestamp(value: object) -> float | None:
    if type(value) is not str or not value:
        return None
    try:
        ts = _fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return ts if MIN_TIMESTAMP <= ts < MAX_TIMESTAMP else None


def _tokens(v: object, key: str) -> int:
    if v is None:
        return 0
    if type(v) is not int or not 0 <= v <= MAX_RESPONSE_TOKENS:  # bool is not a token count either
        raise MalformedLine(f"usage.{key} is not an integer from 0 to {MAX_RESPONSE_TOKENS}")
    return v


def parse_usage(usage: object) -> Usage:
    if type(usage) is not dict:
        raise MalformedLine("message.usage is not an object")
    get = usage.get
    cc_total = _tokens(get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    split = get("cache_creation")
    cc5 = cc1 = 0
    if type(split) is dict:
        cc5 = _tokens(split.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens")
        cc1 = _tokens(split.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens")
    elif split is not None:
        raise MalformedLine("usage.cache_creation is not an object")
    # Older transcripts carry only the total: it was all 5-minute cache writes then.
    if cc5 + cc1 < cc_total:
        cc5 += cc_total - cc5 - cc1
    return Usage(
        _tokens(get("input_tokens"), "input_tokens"),
        _tokens(get("output_tokens"), "output_tokens"),
        max(cc_total, cc5 + cc1),
        cc5,
        cc1,
        _tokens(get("cache_read_input_tokens"), "cache_read_input_tokens"),
    )


def parse_tool_use(block: dict) -> ToolUse:
    tid = block.get("id")
    name = block.get("name")
    if not isinstance(tid, str) or not isinstance(name, str):
        raise MalformedLine("tool_use without a string id and name")
    tool = ToolUse(tool_use_id=tid, name=name)
    inp = block.get("input")
    if not isinstance(inp, dict):
        inp = {}
    if name == "Skill":
        skill = inp.get("skill")
        tool.skill = skill if isinstance(skill, str) and skill else None
    elif name in SUBAGENT_TOOLS:
        st = inp.get("subagent_type")
        tool.subagent_type = st if isinstance(st, str) and st else "general-purpose"
    elif name.startswith("mcp__"):
        server, _, mtool = name[5:].partition("__")
        tool.mcp_server = server or None
        tool.mcp_tool = mtool or None
    return tool


def slash_command_of(text: str) -> str | None:
    """The command a user line invokes: `<command-name>/x</command-name>` or text that starts with `/x`."""
    m = _COMMAND_TAG.search(text)
    if m:
        name = m.group(1)
        return name if name.startswith("/") else "/" + name
    stripped = text.lstrip()
    if stripped.startswith("/"):
        m = _SLASH.match(stripped)
        if m:
            return "/" + m.group(1)
    return None


def _parse_user(line: ParsedLine, obj: dict, message: dict) -> None:
    content = message.get("content")
    texts: list[str] = []
    results: list[tuple[str, bool]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for block in content:
            btype = _block(block, "user").get("type")
            if btype == "tool_result":
                tid = block.get("tool_use_id")
                if not isinstance(tid, str):
                    raise MalformedLine("tool_result without a string tool_use_id")
                results.append((tid, block.get("is_error") is True))
            elif btype == "text":
                t = block.get("text")
                if isinstance(t, str):
                    texts.append(t)
    elif content is not None:
        raise MalformedLine("message.content is neither a string nor a list")
    if results:
        line.tool_results = results

    result = obj.get("toolUseResult")
    if isinstance(result, dict):
        agent_id = result.get("agentId")
        if isinstance(agent_id, str) and line.tool_results:
            agent_type = result.get("agentType")
            line.agent_link = (
                agent_id,
                agent_type if isinstance(agent_type, str) else None,
                line.tool_results[0][0],
            )

    if obj.get("isMeta") is True or line.tool_results or not texts:
        return
    text = "\n".join(texts)
    line.slash_command = slash_command_of(text)
    # Caveats and command echo lines are written by the client, not typed prompts.
    if not text.startswith(("<local-command-", "<command-")) or line.slash_command:
        line.is_prompt = True


def _block(block: object, role: str) -> dict:
    if type(block) is not dict:
        raise MalformedLine(f"{role} content block is not an object")
    return block


def _parse_assistant(line: ParsedLine, obj: dict, message: dict) -> None:
    content = message.get("content")
    if isinstance(content, list):
        uses = [parse_tool_use(block) for block in content if _block(block, "assistant").get("type") == "tool_use"]
        if uses:
            line.tool_uses = uses
    elif content is not None and not isinstance(content, str):
        raise MalformedLine("message.content is neither a string nor a list")

    model = message.get("model")
    if model is not None and not isinstance(model, str):
        raise MalformedLine("message.model is not a string")
    mid = message.get("id")
    rid = obj.get("requestId")
    usage = message.get("usage")
    if model == "<synthetic>" or obj.get("isApiErrorMessage") is True or not isinstance(mid, str) or usage is None:
        if usage is not None and not isinstance(usage, dict):
            raise MalformedLine("message.usage is not an object")
        return
    if rid is not None and not isinstance(rid, str):
        raise MalformedLine("requestId is not a string")
    origin = obj.get("requestSessionId")
    line.response = Response(
        mid,
        rid or "",
        model or "unknown",
        parse_usage(usage),
        origin if isinstance(origin, str) and origin != obj.get("sessionId") else None,
    )


LEDGER_TOKENS = (
    ("inputTokens", "input_tokens"),
    ("outputTokens", "output_tokens"),
    ("cacheCreationInputTokens", "cache_creation_input_tokens"),
    ("cacheCreationEphemeral5mInputTokens", "cache_creation_5m"),
    ("cacheCreationEphemeral1hInputTokens", "cache_creation_1h"),
    ("cacheReadInputTokens", "cache_read_input_tokens"),
)


def _ledger_cost(v: object, what: str) -> float:
    if type(v) not in (int, float) or not 0 <= v < 1e9:  # type: ignore[operator]
        raise MalformedLine(f"{what} is not a cost in USD")
    return float(v)  # type: ignore[arg-type]


def parse_ledger(obj: dict) -> dict:
    """Claude Code's own running totals for its session (2.1.330+ `cost-state` lines), side calls included:
    `{"total_cost_usd": float, "models": {model: {<TOKEN_COLS>: int, "cost_usd": float}}}`."""
    usage = obj.get("modelUsage")
    if type(usage) is not dict:
        raise MalformedLine("cost-state modelUsage is not an object")
    models: dict[str, dict] = {}
    for model, u in usage.items():
        if type(u) is not dict:
            raise MalformedLine("cost-state modelUsage entry is not an object")
        row: dict = {col: _tokens(u.get(key), key) for key, col in LEDGER_TOKENS}
        if row["cache_creation_5m"] + row["cache_creation_1h"] < row["cache_creation_input_tokens"]:
            row["cache_creation_5m"] = row["cache_creation_input_tokens"] - row["cache_creation_1h"]
        row["cost_usd"] = _ledger_cost(u.get("costUSD", 0), "modelUsage costUSD")
        models[model] = row
    return {"total_cost_usd": _ledger_cost(obj.get("totalCostUSD", 0), "totalCostUSD"), "models": models}


def parse_line(raw: bytes) -> ParsedLine | None:
    """Parse one line (without its newline). None for a blank line; MalformedLine for a bad one."""
    return parse_span(raw, 0, len(raw))


def parse_span(buf: bytes, start: int, end: int) -> ParsedLine | None:
    """`parse_line(buf[start:end])`, without copying the large lines that are never decoded."""
    size = end - start
    if size > MAX_LINE_BYTES:
        raise MalformedLine(f"line of {size} bytes is over the {MAX_LINE_BYTES} byte cap")
    if size >= LAZY_LINE_BYTES and _CONVERSATION.search(buf, start, end) is None:
        # A large line that cannot be a user or assistant line (2.1.330's prompt snapshots and request blobs,
        # ~80% of a transcript's bytes): only its framing and timestamp matter, so it is not decoded.
        if not _framed(buf, start, end):
            raise MalformedLine("not a JSON object")
        return ParsedLine(type="", timestamp=_lazy_timestamp(buf, start, end))
    raw = buf[start:end] if start or end != len(buf) else buf
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:  # includes invalid UTF-8
        if not raw.strip():
            return None  # a blank line
        raise MalformedLine(f"not JSON: {e}") from None
    if type(obj) is not dict:
        raise MalformedLine("not a JSON object")
    get = obj.get
    ltype = get("type")
    uuid, cwd, branch, version = get("uuid"), get("cwd"), get("gitBranch"), get("version")
    if type(ltype) is not str:
        raise MalformedLine("type is not a string")
    # One check for the four optional strings: this runs for every line.
    if not (
        (uuid is None or type(uuid) is str)
        and (cwd is None or type(cwd) is str)
        and (branch is None or type(branch) is str)
        and (version is None or type(version) is str)
    ):
        raise MalformedLine("uuid, cwd, gitBranch and version must be strings")
    line = ParsedLine(ltype, parse_timestamp(get("timestamp")), uuid, cwd, branch, version)
    if ltype == "assistant" or ltype == "user":
        message = get("message")
        if type(message) is not dict:
            raise MalformedLine("message is not an object")
        if ltype == "user":
            _parse_user(line, obj, message)
        else:
            _parse_assistant(line, obj, message)
    elif ltype == "cost-state":
        line.ledger = parse_ledger(obj)
    return line


def _lazy_timestamp(buf: bytes, start: int, end: int) -> float | None:
    """The `timestamp` of a line that is not decoded: the key within its first bytes, else its last one.

    Claude Code writes a line's own keys either first (`api-request-shape`) or after the bulk of the line (an
    attachment's payload, which may hold timestamps of its own), so this finds the line's own timestamp where
    the first one in the line could be the payload's; and it reads two short stretches, not the whole line.
    """
    i = buf.find(_TIMESTAMP_KEY, start, min(end, start + _HEAD_BYTES))
    if i < 0:
        i = buf.rfind(_TIMESTAMP_KEY, start, end)
    if i < 0:
        return None
    m = _TIMESTAMP_VALUE.match(buf, i + len(_TIMESTAMP_KEY), min(end, i + 64))
    return parse_timestamp(m.group(1).decode(errors="replace")) if m else None


def _framed(buf: bytes, start: int, end: int) -> bool:
    """Does buf[start:end] look like one JSON object (`{` … `}`, surrounding whitespace allowed)?"""
    if buf[start] == 0x7B and buf[end - 1] == 0x7D:
        return True
    body = buf[start:end].strip()
    return body.startswith(b"{") and body.endswith(b"}")

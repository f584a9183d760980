"""The agent-signal events, as pure functions: their allow-listed properties, their stable ids, their envelope.

Only the properties named in ALLOWED ever leave, and a string that looks like a local path, an email address or
free text is dropped even from an allowed property: names, counts, a normalised git remote and ids are what the
org dashboards read; prompts, file contents, paths and who the user is are not.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

SKILL_ACTIVATION = "cli:agent-signals:skill-activation"
MCP_ACTIVATION = "cli:agent-signals:mcp-tool-activation"
SESSION_PROCESSED = "cli:agent-signals:session-processed"
PROVIDER = "claude-code"

ALLOWED: dict[str, tuple[str, ...]] = {
    SKILL_ACTIVATION: ("skillName", "skillTile", "provider", "sessionId", "gitRepo", "installedSkills"),
    MCP_ACTIVATION: ("tool", "provider", "sessionId", "gitRepo"),
    SESSION_PROCESSED: (
        "provider",
        "sessionId",
        "sessionGitRepo",
        "totalMessages",
        "totalToolCalls",
        "totalSkillCalls",
        "tesslSkillCalls",
        "tesslMcpCalls",
        "inputTokens",
        "outputTokens",
        "cacheCreationInputTokens",
        "cacheReadInputTokens",
        "totalTokens",
        "model",
    ),
}
INSTALLED_SKILL_KEYS = ("tile", "name", "scope")
MAX_INSTALLED_SKILLS = 200

# What `telemetry enable` tells the user, property by property.
DESCRIPTIONS: dict[str, str] = {
    "skillName": "the skill's name as Claude Code invoked it",
    "skillTile": "the Tessl tile the skill comes from, when it does (workspace/tile)",
    "provider": "always 'claude-code'",
    "sessionId": "Claude Code's random session id",
    "gitRepo": "the normalised git remote of the session's folder (host/org/repo), never a local path",
    "installedSkills": "the skills installed for that folder: [{tile, name, scope}]",
    "tool": "the MCP tool's name (mcp__server__tool)",
    "sessionGitRepo": "as gitRepo, for the session",
    "totalMessages": "user + assistant messages in the session",
    "totalToolCalls": "tool calls in the session",
    "totalSkillCalls": "skill activations in the session",
    "tesslSkillCalls": "activations of skills from Tessl tiles",
    "tesslMcpCalls": "calls to the tessl MCP server",
    "inputTokens": "token counts of the session",
    "outputTokens": "",
    "cacheCreationInputTokens": "",
    "cacheReadInputTokens": "",
    "totalTokens": "",
    "model": "the model that used the most tokens",
}

# A stable namespace: the same (install, event, key) gives the same uuid on every send, so PostHog keeps one.
_NAMESPACE = uuid.UUID("6f1d3b0e-8e0a-5b9e-9a55-0c1f6b2d7a41")
_MAX_TEXT = 200
_NAME_LIKE = re.compile(r"^[\w.:@/+\-]+$")  # identifiers, ids, remotes: no spaces, so no prose
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+\.[\w.\-]+")
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def event_uuid(install_id: str, event: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{install_id}\n{event}\n{key}"))


def safe_text(value: object) -> str | None:
    """`value` when it is a short identifier-like string that is not a path or an email address; else None."""
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        return None
    if value[0] in "/~\\." or _WINDOWS_PATH.match(value) or "\\" in value or "//" in value:
        return None
    if _EMAIL.search(value) or not _NAME_LIKE.match(value):
        return None
    return value


def safe_remote(value: object) -> str | None:
    """A normalised remote (`host/path`): the host must look like a host name, so no local path gets through."""
    text = safe_text(value)
    if text is None or "/" not in text or "@" in text or ":" in text:
        return None
    host = text.split("/", 1)[0]
    return text if "." in host or host == "localhost" else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def allowed(event: str, props: dict[str, Any]) -> dict[str, Any]:
    """Keep only the event's allow-listed properties, with values that pass the checks above; drop None."""
    out: dict[str, Any] = {}
    for name in ALLOWED[event]:
        value = props.get(name)
        if name in ("gitRepo", "sessionGitRepo"):
            value = safe_remote(value)
        elif name == "installedSkills":
            value = _installed(value)
        elif isinstance(value, str):
            value = safe_text(value)
        elif value is not None:
            value = _count(value)
        if value is not None:
            out[name] = value
    return out


def _installed(value: object) -> list[dict[str, str | None]] | None:
    if not isinstance(value, list):
        return None
    out: list[dict[str, str | None]] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        entry = {k: safe_text(item.get(k)) for k in INSTALLED_SKILL_KEYS}
        if entry["name"] is not None and entry not in out:
            out.append(entry)
    out.sort(key=lambda e: (e["tile"] or "", e["name"] or "", e["scope"] or ""))
    return out[:MAX_INSTALLED_SKILLS]


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    event: str, key: str, props: dict[str, Any], ts: float | None, install_id: str, distinct_id: str | None
) -> dict[str, Any]:
    """The event as the PostHog batch endpoint takes it; `props` pass through `allowed` here, always."""
    doc: dict[str, Any] = {
        "event": event,
        "distinct_id": distinct_id or install_id,
        "uuid": event_uuid(install_id, event, key),
        "properties": allowed(event, props),
        "type": "capture",
    }
    stamp = iso(ts)
    if stamp is not None:
        doc["timestamp"] = stamp
    return doc


def skill_activation_props(
    name: str | None,
    tile: str | None,
    session_id: str | None,
    git_repo: str | None,
    installed: list[dict[str, str | None]],
) -> dict[str, Any]:
    return {
        "skillName": name,
        "skillTile": tile,
        "provider": PROVIDER,
        "sessionId": session_id,
        "gitRepo": git_repo,
        "installedSkills": installed,
    }


def mcp_activation_props(
    server: str | None, tool: str | None, session_id: str | None, git_repo: str | None
) -> dict[str, Any]:
    name = f"mcp__{server}__{tool}" if server and tool else (f"mcp__{server}" if server else None)
    return {"tool": name, "provider": PROVIDER, "sessionId": session_id, "gitRepo": git_repo}


def session_props(row: dict[str, Any], tessl_skill_calls: int, tessl_mcp_calls: int) -> dict[str, Any]:
    """From a `sessions` row: its counts, tokens and primary model."""
    return {
        "provider": PROVIDER,
        "sessionId": row.get("session_id"),
        "sessionGitRepo": row.get("git_repo"),
        "totalMessages": (row.get("user_messages") or 0) + (row.get("assistant_messages") or 0),
        "totalToolCalls": row.get("tool_calls") or 0,
        "totalSkillCalls": row.get("skill_calls") or 0,
        "tesslSkillCalls": tessl_skill_calls,
        "tesslMcpCalls": tessl_mcp_calls,
        "inputTokens": row.get("input_tokens") or 0,
        "outputTokens": row.get("output_tokens") or 0,
        "cacheCreationInputTokens": row.get("cache_creation_input_tokens") or 0,
        "cacheReadInputTokens": row.get("cache_read_input_tokens") or 0,
        "totalTokens": row.get("total_tokens") or 0,
        "model": row.get("primary_model"),
    }

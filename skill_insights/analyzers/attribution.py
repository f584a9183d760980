"""Where every activation comes from: captured events joined with the newest stored inventory.

Each activation resolves to (kind, name, source): kind `skill | agent | command | mcp | tool`, source
`builtin | user | project | plugin:<plugin>@<marketplace> | tile:<ws>/<tile> | unknown`. A `Skill` call
resolves by skill name, an `Agent`/`Task` call by `subagent_type`, a `/command` line by command name, an
`mcp__<server>__<tool>` call by server; a project definition (the session's cwd inside its project) wins over
a user one, a user one over a plugin's, a plugin's over a tile's. A name defined nowhere is `unknown`, never
`builtin`: only Claude Code's own agents, commands and tools are.

Nothing here reads a transcript: the stored `events` and `responses` and the stored inventory are joined
afresh on every call, so a new scan changes the attribution of everything captured before it.

Tokens of an activation: every response of its session (subagents' included) written after it and before
the session's next user prompt; activations of the same turn each count that turn's remaining responses.
"""

from __future__ import annotations

import os
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from skill_insights.collectors.skills.extras import always_loaded_tokens
from skill_insights.store.queries import SourceEvent, session_prompt_times, session_response_tokens, source_events

KINDS = ("skill", "agent", "command", "mcp", "tool")
_KIND_OF_EVENT = {"skill": "skill", "subagent": "agent", "slash": "command", "mcp": "mcp", "tool": "tool"}
_TOOL_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SCOPE_RANK = {"project": 0, "user": 1, "plugin": 2, "tile": 3}

# Claude Code's own subagent types, slash commands and tools: these, and only these, are `builtin`.
BUILTIN_AGENTS = frozenset(
    {
        "general-purpose",
        "Explore",
        "Plan",
        "statusline-setup",
        "output-style-setup",
        "claude-code-guide",
    }
)
BUILTIN_COMMANDS = frozenset(
    {
        "add-dir",
        "agents",
        "bashes",
        "bug",
        "clear",
        "compact",
        "config",
        "context",
        "cost",
        "doctor",
        "exit",
        "export",
        "feedback",
        "fast",
        "help",
        "hooks",
        "ide",
        "init",
        "install-github-app",
        "login",
        "logout",
        "mcp",
        "memory",
        "migrate-installer",
        "model",
        "output-style",
        "permissions",
        "plugin",
        "pr-comments",
        "privacy-settings",
        "release-notes",
        "resume",
        "review",
        "rewind",
        "sandbox",
        "security-review",
        "status",
        "statusline",
        "terminal-setup",
        "todos",
        "upgrade",
        "usage",
        "vim",
        "quit",
        "theme",
        "tasks",
        "skills",
        "insights",
    }
)
BUILTIN_TOOLS = frozenset(
    {
        "Agent",
        "AskUserQuestion",
        "Bash",
        "BashOutput",
        "Edit",
        "EnterPlanMode",
        "ExitPlanMode",
        "Glob",
        "Grep",
        "KillBash",
        "KillShell",
        "LS",
        "ListMcpResourcesTool",
        "LSP",
        "MultiEdit",
        "NotebookEdit",
        "NotebookRead",
        "Read",
        "ReadMcpResourceTool",
        "Skill",
        "SlashCommand",
        "Task",
        "TaskCreate",
        "TaskGet",
        "TaskList",
        "TaskOutput",
        "TaskStop",
        "TaskUpdate",
        "TodoRead",
        "TodoWrite",
        "ToolSearch",
        "WebFetch",
        "WebSearch",
        "Write",
        "EnterWorktree",
        "ExitWorktree",
    }
)


@dataclass(frozen=True)
class Definition:
    """One place a name is defined: an inventory item's location."""

    kind: str
    name: str
    item_id: str
    source: str
    scope: str  # project | user | plugin | tile
    project_root: str | None
    claude: bool  # Claude Code loads it (a skill of another agent's folder is listed, not loaded)
    path: str


@dataclass
class Item:
    """An installed skill, agent, command or MCP server, as the sources view lists it."""

    kind: str
    id: str
    name: str
    source: str
    description: str | None
    always_loaded_tokens: int | None  # None: not known (an MCP server's tool schemas are not in transcripts)
    installed: bool


def _within(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root + os.sep) or root == os.sep


def location_source(loc: dict[str, Any]) -> str:
    """A skill location's attribution source."""
    plugin = loc.get("plugin")
    if isinstance(plugin, dict) and plugin.get("name"):
        mkt = plugin.get("marketplace")
        return f"plugin:{plugin['name']}@{mkt}" if mkt else f"plugin:{plugin['name']}"
    tile = loc.get("tile")
    if isinstance(tile, dict) and tile.get("name"):
        return f"tile:{tile['name']}"
    scope = loc.get("scope")
    return scope if scope in ("user", "project") else "unknown"


class Catalog:
    """Names an activation may use → where they are defined, from one inventory document."""

    def __init__(self, doc: dict[str, Any] | None) -> None:
        self.defs: dict[tuple[str, str], list[Definition]] = {}
        self.items: dict[str, Item] = {}
        if not doc:
            return
        for s in doc.get("skills") or []:
            self._skill(s)
        for kind, key in (("agent", "agents"), ("command", "commands"), ("mcp", "mcp_servers")):
            for it in doc.get(key) or []:
                self._item(kind, it)

    def _add(self, d: Definition) -> None:
        self.defs.setdefault((d.kind, d.name), []).append(d)

    def _skill(self, s: dict[str, Any]) -> None:
        """A skill: one item per source it is installed from, its names as Claude Code may invoke it."""
        for loc in s.get("locations") or []:
            if loc.get("installed") is False:
                continue  # a stale plugin version or an uninstalled marketplace plugin
            source = location_source(loc)
            claude = loc.get("agent") == "claude-code" or loc.get("scope") == "plugin"
            iid = f"{s['id']}@{source}"
            for n in loc.get("names") or [s["name"]]:
                self._add(
                    Definition(
                        "skill",
                        n,
                        iid,
                        source,
                        loc.get("scope") or "",
                        loc.get("project_root"),
                        claude,
                        loc.get("path") or "",
                    )
                )
            if claude and iid not in self.items:
                shown = next((n for n in loc.get("names") or [] if ":" in n), None) or s["name"]
                self.items[iid] = Item(
                    "skill",
                    iid,
                    shown,
                    source,
                    s.get("description"),
                    always_loaded_tokens(shown, s.get("description")),
                    True,
                )

    def _item(self, kind: str, it: dict[str, Any]) -> None:
        locs = [loc for loc in it.get("locations") or [] if loc.get("installed") is not False]
        if not locs:
            return
        names = [it["name"]]
        if kind == "mcp":
            for loc in locs:  # a plugin's servers reach the model as mcp__plugin_<plugin>_<server>__<tool>
                plugin = loc.get("plugin")
                if isinstance(plugin, dict) and plugin.get("name"):
                    names.append(f"plugin_{plugin['name']}_{it['name']}")
            # Tool names allow only [A-Za-z0-9_-]: Claude Code writes any other character of a name as `_`.
            names += [_TOOL_NAME_UNSAFE.sub("_", n) for n in names]
            names = list(dict.fromkeys(names))
        elif kind == "command" and any(isinstance(loc.get("plugin"), dict) for loc in locs):
            names.append(it["name"].partition(":")[2])  # `/cmd` reaches a plugin's `plugin:cmd` when no other has it
        for loc in locs:
            for n in names:
                self._add(
                    Definition(
                        kind,
                        n,
                        it["id"],
                        it["source"],
                        loc.get("scope") or "",
                        loc.get("project_root"),
                        True,
                        loc.get("path") or "",
                    )
                )
        tokens = it.get("always_loaded_tokens") if kind != "mcp" else None
        self.items[it["id"]] = Item(kind, it["id"], it["name"], it["source"], it.get("description"), tokens, True)

    def resolve(self, kind: str, name: str, cwd: str | None) -> tuple[str, str | None]:
        """(source, item id or None) of a name of `kind` activated in a session whose cwd is `cwd`."""
        if kind == "command" and name in BUILTIN_COMMANDS:
            return "builtin", None  # Claude Code's own commands cannot be overridden
        if kind == "tool":
            return ("builtin", None) if name in BUILTIN_TOOLS else ("unknown", None)
        cands = self.defs.get((kind, name), [])
        best: Definition | None = None
        best_key: tuple[Any, ...] | None = None
        for d in cands:
            if d.scope == "project" and not (cwd and d.project_root and _within(cwd, d.project_root)):
                continue  # another project's definition: not loaded in this session
            key = (_SCOPE_RANK.get(d.scope, 9), -len(d.project_root or ""), not d.claude, d.path)
            if best_key is None or key < best_key:
                best, best_key = d, key
        if best is not None:
            return best.source, best.item_id
        if kind == "agent" and name in BUILTIN_AGENTS:
            return "builtin", None
        return "unknown", None


@dataclass(frozen=True)
class Attributed:
    """One activation, attributed."""

    kind: str
    name: str
    source: str
    item_id: str | None
    session_id: str | None
    ts: float | None
    date: str | None
    failed: bool
    tokens: int


@dataclass
class _Tokens:
    """A session's responses (cumulative tokens by time) and the boundaries of its turns."""

    times: list[float]
    cumulative: list[int]
    bounds: list[float]

    def between(self, start: float, end: float | None) -> int:
        lo = bisect_right(self.times, start)
        hi = len(self.times) if end is None else bisect_left(self.times, end)
        if hi <= lo:
            return 0
        return self.cumulative[hi - 1] - (self.cumulative[lo - 1] if lo else 0)

    def next_bound(self, ts: float) -> float | None:
        i = bisect_right(self.bounds, ts)
        return self.bounds[i] if i < len(self.bounds) else None


def _activation_name(kind: str, ev: SourceEvent) -> str | None:
    name = ev.name
    if not name:
        return None
    return name.removeprefix("/") if kind == "command" else name


def attribute(
    db: Any, catalog: Catalog, since: str | None = None, until: str | None = None, project: str | None = None
) -> list[Attributed]:
    """Every activation between the days `since` and `until` (of sessions in `project`), attributed and costed."""
    events = source_events(db, since, until, project)
    # A tool call that is a skill, subagent or MCP call counts under that kind only.
    special = {e.key for e in events if e.kind in ("skill", "subagent", "mcp")}
    events = [e for e in events if not (e.kind == "tool" and e.key in special)]
    sessions = {e.session_id for e in events if e.session_id}
    responses = session_response_tokens(db, sessions)
    prompts = session_prompt_times(db, sessions)
    # Without recorded prompts (a store captured before prompts were events) a turn ends at the session's
    # next skill, agent or command activation instead.
    fallback: dict[str, list[float]] = {}
    for e in events:
        if e.session_id and e.ts is not None and e.kind in ("skill", "subagent", "slash"):
            fallback.setdefault(e.session_id, []).append(e.ts)
    per_session: dict[str, _Tokens] = {}
    for sid in sessions:
        rows = responses.get(sid, [])
        bounds = prompts.get(sid) or sorted(fallback.get(sid, []))
        per_session[sid] = _Tokens([t for t, _ in rows], list(accumulate(n for _, n in rows)), bounds)
    out: list[Attributed] = []
    for e in events:
        kind = _KIND_OF_EVENT[e.kind]
        name = _activation_name(kind, e)
        if name is None:
            continue
        source, iid = catalog.resolve(kind, name, e.cwd)
        if kind == "command" and source == "unknown":
            # A user-invocable skill typed as /name: Claude Code loads the skill itself, no Skill call follows.
            as_skill = catalog.resolve("skill", name, e.cwd)
            if as_skill[1] is not None:
                kind, (source, iid) = "skill", as_skill
        if iid is not None and iid in catalog.items:
            name = catalog.items[iid].name
        tokens = 0
        if e.session_id and e.ts is not None:
            st = per_session.get(e.session_id)
            if st is not None:
                tokens = st.between(e.ts, st.next_bound(e.ts))
        out.append(Attributed(kind, name, source, iid, e.session_id, e.ts, e.date, e.failed, tokens))
    return out


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class _Row:
    invocations: int = 0
    errors: int = 0
    sessions: set[str] = field(default_factory=set)
    tokens: int = 0
    last_ts: float | None = None
    recent: int = 0
    item_id: str | None = None


def rollup(
    attributed: Iterable[Attributed],
    catalog: Catalog,
    *,
    by_day: bool = False,
    kind: str | None = None,
    now: float | None = None,
    recent_days: int = 30,
) -> list[dict[str, Any]]:
    """One row per (kind, name, source) — per (date, kind, name, source) with `by_day` — with invocations,
    errors, sessions, tokens, last_used, installed, always-loaded tokens and uses in the last `recent_days`
    days. Without `by_day`, installed items never activated are rows too, with 0 invocations."""
    now = time.time() if now is None else now
    cutoff = now - recent_days * 86400
    rows: dict[tuple[str, ...], _Row] = {}
    used_items: set[str] = set()
    for a in attributed:
        if kind and a.kind != kind:
            continue
        key: tuple[str, ...] = (a.date or "", a.kind, a.name, a.source) if by_day else (a.kind, a.name, a.source)
        r = rows.setdefault(key, _Row(item_id=a.item_id))
        r.invocations += 1
        r.errors += a.failed
        if a.session_id:
            r.sessions.add(a.session_id)
        r.tokens += a.tokens
        if a.ts is not None:
            r.last_ts = a.ts if r.last_ts is None else max(r.last_ts, a.ts)
            r.recent += a.ts >= cutoff
        if a.item_id:
            used_items.add(a.item_id)
    if not by_day:
        for it in catalog.items.values():
            if it.id not in used_items and (kind is None or it.kind == kind):
                rows.setdefault((it.kind, it.name, it.source), _Row(item_id=it.id))
    out = []
    for key, r in rows.items():
        k, name, source = key[-3:]
        item = catalog.items.get(r.item_id) if r.item_id else None
        row: dict[str, Any] = {"date": key[0]} if by_day else {}
        row.update(
            {
                "kind": k,
                "name": name,
                "source": source,
                "invocations": r.invocations,
                "errors": r.errors,
                "sessions": len(r.sessions),
                "tokens": r.tokens,
                "last_used": _iso(r.last_ts),
                "installed": item is not None or source == "builtin",
                "always_loaded_tokens": item.always_loaded_tokens if item is not None else None,
                f"uses_{recent_days}d": r.recent,
                "item_id": r.item_id,
            }
        )
        out.append(row)
    order = {k: i for i, k in enumerate(KINDS)}
    out.sort(key=lambda r: (r.get("date", ""), order.get(r["kind"], 9), -r["invocations"], r["name"], r["source"]))
    return out


def sources_doc(
    db: Any,
    inventory: dict[str, Any] | None,
    *,
    since: str | None = None,
    until: str | None = None,
    kind: str | None = None,
    by_day: bool = False,
    now: float | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """`usage sources --json`: the rows, the never-used installed items with what they cost every session, the
    always-loaded tokens per source, and the MCP servers (whose schema cost is not known)."""
    now = time.time() if now is None else now
    catalog = Catalog(inventory)
    attributed = attribute(db, catalog, since, until, project)
    rows = rollup(attributed, catalog, by_day=by_day, kind=kind, now=now)
    totals = rows if not by_day else rollup(attributed, catalog, kind=kind, now=now)
    never = [
        {
            "kind": r["kind"],
            "name": r["name"],
            "source": r["source"],
            "always_loaded_tokens": r["always_loaded_tokens"],
            "note": (
                f"unused, costs ~{r['always_loaded_tokens']} tokens per session"
                if r["always_loaded_tokens"] is not None
                else "unused; its tool schemas' cost is not known"
            ),
        }
        for r in totals
        if r["invocations"] == 0 and r["installed"]
    ]
    per_source: dict[str, dict[str, Any]] = {}
    for it in catalog.items.values():
        if kind and it.kind != kind:
            continue
        s = per_source.setdefault(
            it.source, {"source": it.source, "items": 0, "always_loaded_tokens": 0, "kinds": {}, "mcp_servers": 0}
        )
        s["items"] += 1
        s["kinds"][it.kind] = s["kinds"].get(it.kind, 0) + 1
        if it.kind == "mcp":
            s["mcp_servers"] += 1
        else:
            s["always_loaded_tokens"] += it.always_loaded_tokens or 0
    return {
        "generated_at": _iso(now),
        "since": since,
        "until": until,
        "project": project,
        "inventory": inventory is not None,
        "inventory_generated_at": (inventory or {}).get("generated_at"),
        "rows": rows,
        "never_used": never,
        "always_loaded": {
            "tokens": sum(s["always_loaded_tokens"] for s in per_source.values()),
            "by_source": sorted(per_source.values(), key=lambda s: (-s["always_loaded_tokens"], s["source"])),
            "method": "name and description of each installed skill, agent and command, ~4 characters per token",
        },
        "mcp_schema_cost": "unknown: MCP tool schemas are not written to transcripts",
    }

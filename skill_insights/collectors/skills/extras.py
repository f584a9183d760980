"""Beside the skills: the subagents (`agents/*.md`), slash commands (`commands/**/*.md`) and MCP servers
(`.mcp.json`, `~/.claude.json`) of every scope the skills scan covers — the user's Claude Code folder, each
project (session cwd), every plugin root the discovery found and every Tessl tile.

The same safety rules as the skills: a definition file is opened non-blocking, only when it is a regular file,
capped, and never through a symlink that leaves the folder it is defined in (that link becomes a finding); a
folder symlink under `commands/` is not walked. An MCP server record is built from an allow-list of fields —
name, transport, command, URL without its query or credentials — so an `env` or `headers` value (where
servers keep their secrets) is never read into the inventory.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from skill_insights.collectors.skills.discover import Discovery, read_manifest
from skill_insights.collectors.skills.jsonfile import SYMLINK_ERRNOS
from skill_insights.collectors.skills.skilldir import SKIP_DIRS, is_utf8, shown, within
from skill_insights.collectors.skills.skillmd import approx_tokens, finding, parse_frontmatter
from skill_insights.safefile import NotRegularFile, TooLarge, read_capped

if TYPE_CHECKING:
    from skill_insights.collectors.skills.manifests import McpServer

MAX_DEFINITION_BYTES = 256 * 1024  # an agent or command file past this is a finding, not read
MAX_CLAUDE_JSON_BYTES = 32 * 1024 * 1024  # ~/.claude.json keeps project history: far bigger than a manifest
MAX_COMMAND_DEPTH = 4  # namespaces nest commands/a/b/c.md
MAX_FILES_PER_DIR = 2000
MAX_DESCRIPTION_CHARS = 1024


@dataclass(frozen=True)
class Scope:
    """Where a definition folder belongs: `source` is the attribution source (user, project,
    plugin:<plugin>@<marketplace>, tile:<ws>/<tile>); `prefix` is what Claude Code puts before its names."""

    scope: str  # user | project | plugin | tile
    source: str
    root: str  # the folder holding agents/, commands/, .mcp.json
    prefix: str = ""  # "plugin:" for a plugin's agents and commands
    project_root: str | None = None
    plugin: dict[str, Any] | None = None
    installed: bool | None = True


def item_id(prefix: str, kind: str, name: str, source: str) -> str:
    return prefix + hashlib.sha256(f"{kind}\0{source}\0{name}".encode()).hexdigest()[:16]


def _one_line(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    return " ".join(text.split())[:limit]


def _read_definition(path: str, folder_real: str, findings: list[dict[str, Any]]) -> str | None:
    """The text of one .md definition, or None with a finding. A symlink is read only when it resolves
    inside `folder_real` (the real path of the agents/ or commands/ folder it sits in)."""
    try:
        raw = read_capped(path, MAX_DEFINITION_BYTES, follow=False)
    except OSError as e:
        if e.errno not in SYMLINK_ERRNOS:
            findings.append(finding("definition_unreadable", f"cannot read: {e.strerror or e}", "warning", path))
            return None
        real = os.path.realpath(path)
        if not within(real, folder_real):
            findings.append(finding("symlink_outside", "a symlink out of its folder: not followed", "warning", path))
            return None
        try:
            raw = read_capped(real, MAX_DEFINITION_BYTES, follow=False)
        except (OSError, NotRegularFile, TooLarge) as e2:
            findings.append(finding("definition_unreadable", f"cannot read: {e2}", "warning", path))
            return None
    except NotRegularFile:
        findings.append(finding("definition_unreadable", "not a regular file: not read", "warning", path))
        return None
    except TooLarge:
        findings.append(
            finding("definition_too_large", f"over {MAX_DEFINITION_BYTES} bytes: not read", "warning", path)
        )
        return None
    return raw.decode("utf-8", "replace")


def _str_field(fm: dict[str, Any] | None, key: str) -> str | None:
    v = (fm or {}).get(key)
    return _one_line(v) if isinstance(v, str) and v.strip() else None


def _tools_field(fm: dict[str, Any] | None) -> list[str] | None:
    v = (fm or {}).get("tools")
    if isinstance(v, str):
        return [t.strip() for t in v.split(",") if t.strip()]
    if isinstance(v, list):
        return [t.strip() for t in v if isinstance(t, str) and t.strip()]
    return None


def _first_line(body: str) -> str | None:
    for line in body.splitlines():
        if line.strip():
            return _one_line(line.lstrip("# "), 200)
    return None


_IGNORED_FRONTMATTER_FINDINGS = {"name_missing", "frontmatter_missing"}  # optional in agents and commands


def _parse_definition(text: str) -> tuple[dict[str, Any] | None, str, list[dict[str, Any]]]:
    fm, body, found = parse_frontmatter(text)
    return fm, body, [f for f in found if f["code"] not in _IGNORED_FRONTMATTER_FINDINGS]


def _md_files(folder: str, recursive: bool, findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(path, path relative to `folder` without .md) of the definitions in `folder`; sub-folders only when
    `recursive`, never through a link."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, str, int]] = [(folder, "", 0)]
    while stack:
        path, rel, depth = stack.pop()
        try:
            with os.scandir(path) as it:
                listing = [(e.name, e.is_dir(follow_symlinks=False), e.is_symlink()) for e in it]
        except OSError as e:
            findings.append(finding("unreadable_dir", f"cannot list: {e.strerror or e}", "warning", path))
            continue
        if len(listing) > MAX_FILES_PER_DIR:
            findings.append(
                finding("too_many_files", f"over {MAX_FILES_PER_DIR} entries: the rest not read", "warning", path)
            )
        for name, is_dir, is_link in sorted(listing)[:MAX_FILES_PER_DIR]:
            child = os.path.join(path, name)
            if not is_utf8(name):
                findings.append(finding("name_not_utf8", "name is not valid UTF-8: skipped", "warning", shown(child)))
                continue
            child_rel = f"{rel}/{name}" if rel else name
            if is_dir:
                if recursive and depth < MAX_COMMAND_DEPTH and name not in SKIP_DIRS and not name.startswith("."):
                    stack.append((child, child_rel, depth + 1))
                continue
            if not name.endswith(".md") or name.startswith("."):
                continue
            if is_link:
                try:
                    st = os.stat(child)
                except OSError:
                    continue  # a dangling link
                if stat.S_ISDIR(st.st_mode):
                    findings.append(
                        finding("symlink_not_followed", "a folder link under commands/: not walked", "info", child)
                    )
                    continue
            out.append((child, child_rel[:-3]))
    return sorted(out)


def _folder_real(path: str) -> str | None:
    try:
        real = os.path.realpath(path, strict=True)
    except OSError:
        return None
    return real if os.path.isdir(real) and is_utf8(real) else None


def _location(sc: Scope, path: str) -> dict[str, Any]:
    loc: dict[str, Any] = {"path": path, "scope": sc.scope, "installed": sc.installed}
    if sc.project_root:
        loc["project_root"] = sc.project_root
    if sc.plugin is not None:
        loc["plugin"] = dict(sc.plugin)
    return loc


def _agents_in(sc: Scope, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    folder = os.path.join(sc.root, "agents")
    real = _folder_real(folder)
    if real is None:
        return []
    out = []
    for path, rel in _md_files(folder, False, findings):
        text = _read_definition(path, real, findings)
        if text is None:
            continue
        fm, _, found = _parse_definition(text)
        base = _str_field(fm, "name") or rel
        desc = _str_field(fm, "description")
        if desc is None:
            found.append(
                finding("description_missing", "the agent has no description: Claude cannot choose it", "warning")
            )
        out.append(
            {
                "kind": "agent",
                "name": sc.prefix + base,
                "source": sc.source,
                "description": desc,
                "model": _str_field(fm, "model"),
                "tools": _tools_field(fm),
                "location": _location(sc, path),
                "findings": found,
            }
        )
    return out


def _commands_in(sc: Scope, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    folder = os.path.join(sc.root, "commands")
    real = _folder_real(folder)
    if real is None:
        return []
    out = []
    for path, rel in _md_files(folder, True, findings):
        text = _read_definition(path, real, findings)
        if text is None:
            continue
        fm, body, found = _parse_definition(text)
        out.append(
            {
                "kind": "command",
                "name": sc.prefix + rel.replace("/", ":"),
                "source": sc.source,
                "description": _str_field(fm, "description") or _first_line(body),
                "argument_hint": _str_field(fm, "argument-hint"),
                "model": _str_field(fm, "model"),
                "location": _location(sc, path),
                "findings": found,
            }
        )
    return out


def _safe_url(url: str) -> str:
    """Where a server lives, scheme and host only: credentials, query, fragment and even the path can carry a
    token (some services put the key in the path)."""
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        if p.port:
            host = f"{host}:{p.port}"
        return urlunsplit((p.scheme, host, "", "", ""))
    except ValueError:
        return "(not a URL)"


def _program(command: str) -> str | None:
    """The program a command line runs, without arguments or leading `VAR=value` assignments (tokens)."""
    for word in command.split():
        if "=" not in word:
            return os.path.basename(word) or None
    return None


def mcp_record(name: str, conf: Any, problems: list[str]) -> dict[str, Any] | None:
    """The inventory's view of one `mcpServers` entry; None, named in `problems`, when it is not an object."""
    from skill_insights.collectors.skills.manifests import mcp_servers  # pydantic: only once a server is met

    servers, found = mcp_servers({name: conf})
    problems += [p.text for p in found]
    return _server_record(name, servers[name]) if name in servers else None


def _server_record(name: str, server: McpServer) -> dict[str, Any]:
    """Only name, transport, command (its program, no arguments: they may carry tokens) and URL; the model
    does not even read `env` and `headers`."""
    transport, url, command = server.type, server.url, server.command
    if transport is None:
        transport = "stdio" if command else ("http" if url else None)
    return {
        "kind": "mcp",
        "name": name,
        "transport": transport,
        "command": _program(command) if command else None,
        "url": _safe_url(url) if url else None,
    }


def _servers(obj: Any, where: str, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if obj is None:
        return []
    from skill_insights.collectors.skills.manifests import mcp_servers

    if isinstance(obj, dict):  # a server without a name the inventory can hold is skipped
        obj = {name: conf for name, conf in obj.items() if name and is_utf8(name)}
    servers, found = mcp_servers(obj)
    if found and found[0].place == ("mcpServers",):
        findings.append(finding("manifest_invalid", found[0].text, "warning", where))
        return []
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        findings.append(finding("manifest_invalid", f"mcpServers: ignored: {found[0].text}{more}", "warning", where))
    return [_server_record(name, server) for name, server in servers.items()]


def _mcp_json(sc: Scope, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    path = os.path.join(sc.root, ".mcp.json")
    real = _folder_real(sc.root)
    if real is None:
        return []
    data = read_manifest(path, ".mcp.json", findings, optional=True, inside=real)
    if data is None:
        return []
    servers = data.get("mcpServers", data if sc.scope == "plugin" else None)
    out = []
    for rec in _servers(servers, path, findings):
        rec.update(source=sc.source, location=_location(sc, path), findings=[])
        out.append(rec)
    return out


def _claude_json(home: Path, claude_dir: Path, findings: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """Claude Code's own state file: `$CLAUDE_CONFIG_DIR/.claude.json`, else `~/.claude.json`. A link to it is
    followed (dotfile setups); it is read only when it is a regular file."""
    for p in (claude_dir / ".claude.json", home / ".claude.json"):
        try:
            raw = read_capped(p, MAX_CLAUDE_JSON_BYTES)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            findings.append(finding("manifest_invalid", f".claude.json: {e.strerror or e}", "warning", str(p)))
            return None
        except (NotRegularFile, TooLarge) as e:
            findings.append(finding("manifest_invalid", f".claude.json: {e}", "warning", str(p)))
            return None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            findings.append(finding("manifest_invalid", ".claude.json: not JSON", "warning", str(p)))
            return None
        if not isinstance(data, dict):
            findings.append(finding("manifest_invalid", ".claude.json: not a JSON object", "warning", str(p)))
            return None
        return str(p), data
    return None


def _plugin_scopes(d: Discovery) -> list[Scope]:
    """One scope per plugin root on disk that could hold agents, commands or an .mcp.json."""
    ip = d.installed_plugins
    out: list[Scope] = []
    seen: set[str] = set()
    for root, info in d.plugins.items():
        name, mkt = info.get("name"), info.get("marketplace")
        if not isinstance(name, str) or not os.path.isdir(root):
            continue
        if not any(os.path.lexists(os.path.join(root, n)) for n in ("agents", "commands", ".mcp.json")):
            continue
        real = os.path.realpath(root)
        if real in seen:
            continue
        seen.add(real)
        key = f"{name}@{mkt}"
        installed: bool | None
        if ip is None:
            installed = None
        elif "/plugins/cache/" in root.replace(os.sep, "/"):
            installed = real in ip["paths"] or (key in ip["keys"] and not ip["paths"])
        else:
            installed = key in ip["keys"]
        source = f"plugin:{name}@{mkt}" if mkt else f"plugin:{name}"
        plugin = {"name": name, "marketplace": mkt, "version": info.get("version"), "installed": installed}
        out.append(Scope("plugin", source, root, f"{name}:", plugin=plugin, installed=installed))
    return out


def _group(found: list[dict[str, Any]], id_prefix: str) -> list[dict[str, Any]]:
    """One item per (name, source), every location it was found at; the first location's fields win."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in found:
        key = (rec["name"], rec["source"])
        loc = rec.pop("location")
        cur = items.get(key)
        if cur is None:
            rec["id"] = item_id(id_prefix, rec.pop("kind"), rec["name"], rec["source"])
            rec["locations"] = [loc]
            items[key] = rec
        else:
            if loc not in cur["locations"]:
                cur["locations"].append(loc)
            for f in rec["findings"]:
                if f not in cur["findings"]:
                    cur["findings"].append(f)
    out = list(items.values())
    for it in out:
        it["installed"] = any(loc.get("installed") is not False for loc in it["locations"])
        if "description" in it:
            it["always_loaded_tokens"] = always_loaded_tokens(it["name"], it.get("description"))
    out.sort(key=lambda it: (it["name"], it["source"]))
    return out


def always_loaded_tokens(name: str, description: str | None) -> int:
    """What listing an item costs every session: its name and description, as the system prompt shows them
    (the same ~4 characters per token approximation as the quality phase)."""
    return approx_tokens(f"- {name}: {description or ''}\n")


def scan_extras(
    d: Discovery, *, agent_dirs: bool, project_dirs: list[Path] | None, home: Path | None, claude_dir: Path | None
) -> dict[str, Any]:
    """{agents, commands, mcp_servers, findings} for every scope of the discovery `d`."""
    findings: list[dict[str, Any]] = []
    home = home or Path.home()
    scopes: list[Scope] = []
    claude_state: tuple[str, dict[str, Any]] | None = None
    if agent_dirs:
        from skill_insights.settings import claude_config_dir

        claude_dir = claude_dir or claude_config_dir()
        scopes.append(Scope("user", "user", str(claude_dir)))
        claude_state = _claude_json(home, claude_dir, findings)
    projects = [str(p) for p in project_dirs or [] if is_utf8(str(p))]
    for proj in projects:
        scopes.append(Scope("project", "project", os.path.join(proj, ".claude"), project_root=proj))
    scopes += _plugin_scopes(d)
    for root, tile in d.tiles.items():
        scopes.append(Scope("tile", f"tile:{tile.get('name')}", root))

    agents: list[dict[str, Any]] = []
    commands: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    for sc in scopes:
        agents += _agents_in(sc, findings)
        commands += _commands_in(sc, findings)
        if sc.scope == "plugin":
            servers += _mcp_json(sc, findings)
    for proj in projects:  # a project's servers sit beside .claude/, not in it
        servers += _mcp_json(Scope("project", "project", proj, project_root=proj), findings)
    if claude_state is not None:
        path, data = claude_state
        user = Scope("user", "user", os.path.dirname(path))
        for rec in _servers(data.get("mcpServers"), path, findings):
            rec.update(source="user", location=_location(user, path), findings=[])
            servers.append(rec)
        per_project = data.get("projects")
        if isinstance(per_project, dict):
            for proj in projects:
                entry = per_project.get(proj)
                if not isinstance(entry, dict):
                    continue
                sc = Scope("project", "project", proj, project_root=proj)
                for rec in _servers(entry.get("mcpServers"), path, findings):
                    rec.update(source="project", location=_location(sc, path), findings=[])
                    servers.append(rec)
    return {
        "agents": _group(agents, "ag_"),
        "commands": _group(commands, "cm_"),
        "mcp_servers": _group(servers, "mc_"),
        "findings": findings,
    }

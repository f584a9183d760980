"""Find skill folders and the manifests around them: every agent's user and project skill dirs, Claude Code
plugins, Tessl tiles and the roots given.

The walk uses os.scandir (file types come with the listing, no stat per entry), stops descending at a folder
holding SKILL.md (its contents are the skill's business), skips VCS/dependency/build folders, caps depth, and
follows a directory symlink only when it is a skill or an agent skills dir — and then once per real path, so
loops cannot recur.

Hostile trees: a folder, link or root whose name is not valid UTF-8 is skipped with a `name_not_utf8` finding
(the inventory is JSON: such a path could not be written); manifests are opened non-blocking and read only
when regular files (a FIFO named tessl.json can't hang the scan), and every manifest is checked against its model
(`manifests`) — what does not fit becomes a `manifest_invalid` finding, never a traceback.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from skill_insights.collectors.skills.jsonfile import SYMLINK_ERRNOS, read_json
from skill_insights.collectors.skills.skilldir import SKILL_MD, SKIP_DIRS, is_utf8, shown
from skill_insights.collectors.skills.skillmd import finding

MAX_WALK_DEPTH = 12

# Skill dirs by the path they end with → agent. Project-level ones are looked for under a project root,
# user-level ones under HOME (DESIGN §4).
PROJECT_DIRS: list[tuple[str, str]] = [
    (".claude/skills", "claude-code"),
    (".agents/skills", "agents"),
    (".codex/skills", "codex"),
    (".github/skills", "copilot"),
    (".gemini/skills", "gemini"),
    (".opencode/skills", "opencode"),
    (".cursor/skills", "cursor"),
    (".windsurf/skills", "windsurf"),
]
USER_DIRS: list[tuple[str, str]] = [
    (".agents/skills", "agents"),
    (".codex/skills", "codex"),
    (".copilot/skills", "copilot"),
    (".gemini/skills", "gemini"),
    (".config/opencode/skills", "opencode"),
    (".cursor/skills", "cursor"),
    (".codeium/windsurf/skills", "windsurf"),
    (".config/amp/skills", "amp"),
]
_SUFFIXES = sorted({s for s, _ in PROJECT_DIRS + USER_DIRS}, key=len, reverse=True)
_AGENT_BY_SUFFIX = dict(PROJECT_DIRS + USER_DIRS)


@dataclass(frozen=True)
class Ctx:
    """What a folder inherits from where the walk found it."""

    scope: str  # user | project | plugin | tile
    agent: str | None = None
    project_root: str | None = None
    plugin: str | None = None  # key into Discovery.plugins (a plugin root)
    tile: str | None = None  # key into Discovery.tiles (a tile root)
    layout: str | None = None  # "cache" | "marketplaces" for Claude plugin folders


@dataclass
class Candidate:
    path: str  # as found (a link keeps its own path)
    realpath: str
    is_link: bool
    ctx: Ctx
    listing: list[tuple[str, bool, bool]] | None = None


@dataclass
class Discovery:
    candidates: dict[str, Candidate] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # path → manifest record
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)  # plugin root → info
    tiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # tile root → info
    findings: list[dict[str, Any]] = field(default_factory=list)
    roots: list[dict[str, Any]] = field(default_factory=list)
    installed_plugins: dict[str, Any] | None = None
    _walked: set[str] = field(default_factory=set)  # real paths of folders already walked
    _starts: set[str] = field(default_factory=set)  # real paths of every start: a root walk skips them
    _bad_manifests: set[str] = field(default_factory=set)  # manifests already reported: one finding each


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def read_manifest(
    path: str,
    kind: str,
    findings: list[dict[str, Any]],
    *,
    optional: bool = False,
    follow: bool = False,
    inside: str | None = None,
) -> dict[str, Any] | None:
    """A manifest's top-level object, or None with a `manifest_invalid` finding (none when `optional` and the
    file is simply not there). `follow`, `inside`: which symlinks are followed (read_json)."""
    try:
        data = read_json(path, follow=follow, inside=inside)
    except OSError as e:
        if optional and e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        why = (
            "a symlink out of its folder: not followed"
            if e.errno in SYMLINK_ERRNOS and not follow
            else (e.strerror or str(e))
        )
        findings.append(finding("manifest_invalid", f"{kind}: {_one_line(why)}", "warning", path))
        return None
    except ValueError as e:
        findings.append(finding("manifest_invalid", f"{kind}: {_one_line(str(e))}", "warning", path))
        return None
    if not isinstance(data, dict):
        findings.append(finding("manifest_invalid", f"{kind}: not a JSON object", "warning", path))
        return None
    return data


def manifest_problems(
    kind: str, path: str, rec: dict[str, Any], problems: list[str], findings: list[dict[str, Any]]
) -> bool:
    """Report what a manifest held that did not fit (one finding); False when the record itself can't be kept
    (text the inventory's JSON can't carry, e.g. a lone surrogate from a \\udXXX escape)."""
    try:
        orjson.dumps(rec)
    except orjson.JSONEncodeError:
        findings.append(
            finding("manifest_invalid", f"{kind}: text that is not valid Unicode: ignored", "warning", path)
        )
        return False
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        findings.append(finding("manifest_invalid", f"{kind}: ignored: {problems[0]}{more}", "warning", path))
    return True


def not_utf8(path: str, what: str = "name") -> dict[str, Any]:
    return finding("name_not_utf8", f"{what} is not valid UTF-8: skipped", "warning", shown(path))


def _agent_for(path: str) -> tuple[str | None, str | None]:
    """(agent, project root) when `path` is an agent skills dir."""
    if not path.endswith("skills"):  # every agent skills dir does: most folders go no further
        return None, None
    norm = path.replace(os.sep, "/")
    for suf in _SUFFIXES:
        if norm.endswith("/" + suf):
            return _AGENT_BY_SUFFIX[suf], path[: -len(suf) - 1] or "/"
    return None, None


class Walker:
    def __init__(self, disc: Discovery) -> None:
        self.d = disc

    def start(self, path: Path | str, ctx: Ctx, kind: str, max_depth: int = MAX_WALK_DEPTH) -> None:
        p = os.path.abspath(os.path.expanduser(str(path)))
        try:
            real = os.path.realpath(p, strict=True)
        except OSError:
            return
        if not os.path.isdir(real):
            return
        if not is_utf8(p):
            self.d.findings.append(not_utf8(p, "path"))
            return
        if not is_utf8(real):
            self.d.findings.append(not_utf8(p, f"real path {shown(real)!r}"))
            return
        root: dict[str, Any] = {"path": p, "kind": kind, "scope": ctx.scope}
        if ctx.agent:
            root["agent"] = ctx.agent
        self.d.roots.append(root)
        self.d._starts.add(real)
        self.walk(p, real, ctx, max_depth)

    def walk(self, top: str, top_real: str, ctx: Ctx, max_depth: int) -> None:
        d = self.d
        # Real paths are carried down (parent real + name) rather than resolved per folder: realpath costs a
        # syscall per path component, and only symlinks can change them.
        stack: list[tuple[str, str, Ctx, int]] = [(top, top_real, ctx, 0)]
        while stack:
            path, real, c, depth = stack.pop()
            if real in d._walked:
                continue
            d._walked.add(real)
            try:
                with os.scandir(path) as it:
                    listing = [(e.name, e.is_dir(follow_symlinks=False), e.is_symlink()) for e in it]
            except OSError as e:
                d.findings.append(finding("unreadable_dir", f"cannot list: {e.strerror or e}", "warning", path))
                continue
            if any(n == SKILL_MD and not isd for n, isd, _ in listing):
                self._candidate(path, real, False, c, listing)
                continue
            names = {n for n, _, _ in listing}
            c = self._manifests(path, real, names, c, depth)
            if "pyvenv.cfg" in names:
                continue  # a virtualenv, whatever its name
            prefix = path if path.endswith(os.sep) else path + os.sep  # os.path.join, for names from a listing
            real_prefix = real if real.endswith(os.sep) else real + os.sep
            for name, is_dir, is_link in listing:
                if not (is_dir or is_link) or name in SKIP_DIRS:
                    continue
                child = prefix + name
                if not is_utf8(name):  # the JSON inventory could not hold it
                    d.findings.append(not_utf8(child))
                    continue
                cc = self._child_ctx(child, c, depth + 1)
                if is_link:
                    self._follow_link(child, cc)
                    continue
                child_real = real_prefix + name
                if depth + 1 > max_depth or child_real in d._starts:
                    continue  # too deep, or a start of its own (walked with its own scope)
                stack.append((child, child_real, cc, depth + 1))

    def _follow_link(self, child: str, c: Ctx) -> None:
        """A directory symlink: a skill (tessl__x, npx skills links) or an agent skills dir; nothing else."""
        try:
            real = os.path.realpath(child, strict=True)
        except OSError as e:
            if "loop" in str(e).lower() or getattr(e, "errno", 0) == 40:
                self.d.findings.append(finding("symlink_loop", "symlink loop: not followed", "warning", child))
            return
        if not os.path.isdir(real):
            return
        if not is_utf8(real):
            self.d.findings.append(not_utf8(child, f"link target {shown(real)!r}"))
            return
        if os.path.isfile(os.path.join(real, SKILL_MD)):
            self._candidate(child, real, True, c, None)
        elif real not in self.d._starts and (
            _agent_for(child)[0] is not None or os.path.basename(child) in ("tiles", "skills")
        ):
            self.walk(child, real, c, 4)

    def _candidate(self, path: str, real: str, is_link: bool, c: Ctx, listing: list | None) -> None:
        if path not in self.d.candidates:
            self.d.candidates[path] = Candidate(path, real, is_link, c, listing if not is_link else None)

    def _child_ctx(self, child: str, c: Ctx, depth: int) -> Ctx:
        agent, proj = _agent_for(child)
        if agent is not None and c.scope in ("user", "project"):
            return replace(c, agent=agent, project_root=proj if c.scope == "project" else None)
        if c.layout == "cache" and c.plugin is None and depth == 2:
            # plugins/cache/<marketplace>/<plugin>/: a plugin even without .claude-plugin/plugin.json
            mkt = os.path.basename(os.path.dirname(child))
            root = child
            self.d.plugins.setdefault(
                root, {"name": os.path.basename(child), "marketplace": mkt, "root": root, "version": None}
            )
            return replace(c, plugin=root)
        if c.layout == "cache" and c.plugin is not None and depth == 3:
            info = dict(self.d.plugins[c.plugin])
            info.update(root=child, version=info.get("version") or os.path.basename(child))
            self.d.plugins.setdefault(child, info)
            return replace(c, plugin=child)
        if c.layout == "marketplaces" and depth == 1:
            return replace(c, plugin=None)
        mp = self.d.plugins.get(child)
        if mp is not None and mp.get("declared_by") == "marketplace":
            return replace(c, plugin=child)
        return c

    def _manifests(self, path: str, real: str, names: set[str], c: Ctx, depth: int) -> Ctx:
        d = self.d
        if "tessl.json" in names:
            self._manifest(os.path.join(path, "tessl.json"), "tessl.json", c, real)
        for fname, kind in (("tile.json", "tile.json"), (".tessl-plugin/plugin.json", "tessl-plugin")):
            if fname.split("/")[0] not in names:
                continue
            m = self._manifest(os.path.join(path, fname), kind, c, real, optional="/" in fname)
            if m is not None and path not in d.tiles:
                name = m.get("name") if isinstance(m.get("name"), str) else None
                ws, _, tile = (name or "").partition("/")
                if not tile:  # .tessl/tiles/<ws>/<tile>: the path says it
                    ws, tile = os.path.basename(os.path.dirname(path)), os.path.basename(path)
                    name = f"{ws}/{tile}"
                d.tiles[path] = {
                    "name": name,
                    "workspace": ws,
                    "tile": tile,
                    "version": m.get("version"),
                    "root": path,
                    "realpath": real,
                    "manifest": m["path"],
                }
            if m is not None:
                return replace(c, tile=path, scope="tile")
        if ".claude-plugin" in names:
            # Opened, not isfile()-checked first: absent is ENOENT, and a FIFO or a link is a finding.
            m = self._manifest(os.path.join(path, ".claude-plugin", "plugin.json"), "claude-plugin", c, real, True)
            if m is not None:
                prev = d.plugins.get(path) or {}
                mkt = prev.get("marketplace")
                if mkt is None and c.layout == "marketplaces":
                    mkt = self._marketplace_of(path)
                d.plugins[path] = {
                    "name": m.get("name") or prev.get("name") or os.path.basename(path),
                    "marketplace": mkt,
                    "root": path,
                    "version": m.get("version") or prev.get("version"),
                }
                return replace(c, plugin=path, scope="plugin", agent="claude-code")
            m = self._manifest(
                os.path.join(path, ".claude-plugin", "marketplace.json"), "claude-marketplace", c, real, True
            )
            if m is not None:
                # The record's plugins: dicts with a non-empty str name, source str|None, skills [str].
                for p in m["plugins"]:
                    src = p["source"]
                    if src is None:
                        continue  # a remote source (github, url): nothing on disk to map
                    root = os.path.normpath(os.path.join(path, src))
                    info = {
                        "name": p["name"],
                        "marketplace": m.get("name") or os.path.basename(path),
                        "root": root,
                        "version": p["version"],
                        "declared_by": "marketplace",
                    }
                    d.plugins.setdefault(root, info)
                    for sk in p["skills"]:
                        d.plugins.setdefault(os.path.normpath(os.path.join(root, sk)), {**info})
                here = d.plugins.get(path)
                if here is not None:
                    return replace(c, plugin=path)
        return c

    def _marketplace_of(self, path: str) -> str | None:
        parts = Path(path).parts
        if "marketplaces" in parts:
            i = len(parts) - 1 - list(reversed(parts)).index("marketplaces")
            return parts[i + 1] if i + 1 < len(parts) else None
        return None

    def _manifest(self, path: str, kind: str, c: Ctx, inside: str, optional: bool = False) -> dict[str, Any] | None:
        """The record of the manifest at `path`, describing the folder whose real path is `inside` (a link
        to a file in that folder is followed)."""
        d = self.d
        if path in d.manifests:
            return d.manifests[path]
        if path in d._bad_manifests:
            return None
        data = read_manifest(path, kind, d.findings, optional=optional, inside=inside)
        if data is None:
            d._bad_manifests.add(path)
            return None
        from skill_insights.collectors.skills.manifests import manifest_record  # pydantic: only once one is met

        problems: list[str] = []
        rec = manifest_record(kind, path, data, c.scope, problems)
        if not manifest_problems(kind, path, rec, problems, d.findings):
            d._bad_manifests.add(path)
            return None
        d.manifests[path] = rec
        return rec


def _installed_plugins(claude_dir: Path, disc: Discovery) -> None:
    """`installed_plugins.json` (v1: {key: {...}}, v2: {key: [{...}]}) → which plugin roots are installed.

    Claude Code's own file, so a link to it is followed (dotfile setups); still opened non-blocking and read
    only when regular. A file whose `plugins` is not an object leaves `installed` unknown, not all-false."""
    path = str(claude_dir / "plugins" / "installed_plugins.json")
    kind = "installed_plugins.json"
    data = read_manifest(path, kind, disc.findings, optional=True, follow=True)
    if data is None:
        return
    from skill_insights.collectors.skills.manifests import InstallRecord, installed_plugins

    model, found = installed_plugins(data)
    for p in found:
        if p.place == ("plugins",):  # no plugins object at all: which plugins are installed stays unknown
            disc.findings.append(finding("manifest_invalid", f"{kind}: {p.text}", "warning", path))
            return
    problems = [p.text for p in found]
    install_paths: set[str] = set()
    entries: list[dict[str, Any]] = []
    for key, val in (model.plugins or {}).items():
        for inst in [val] if isinstance(val, InstallRecord) else val:
            ip = inst.installPath
            if ip is not None:
                try:
                    install_paths.add(os.path.realpath(os.path.expanduser(ip)))
                except (OSError, ValueError):  # a name the OS refuses
                    problems.append("an installPath is not a usable path")
                    ip = None
            entries.append(
                {
                    "plugin": key,
                    "install_path": ip,
                    "version": inst.version,
                    "scope": inst.scope,
                    "last_updated": inst.lastUpdated,
                }
            )
    keys = set(model.plugins or {})
    rec = {
        "kind": "installed_plugins",
        "path": path,
        "scope": "user",
        "name": None,
        "version": None,
        "plugins": entries,
    }
    if not manifest_problems(kind, path, rec, problems, disc.findings):
        return
    disc.installed_plugins = {"keys": keys, "paths": install_paths}
    disc.manifests[path] = rec


def discover(
    roots: list[Path],
    *,
    agent_dirs: bool = True,
    project_dirs: list[Path] | None = None,
    home: Path | None = None,
    claude_dir: Path | None = None,
) -> Discovery:
    """Walk every place skills live. `roots` are walked whole; `project_dirs` (session cwds) only at their
    agent skills dirs and `.tessl`; the user-level dirs, plugins and ~/.tessl when `agent_dirs`."""
    disc = Discovery()
    w = Walker(disc)
    home = home or Path.home()
    if agent_dirs:
        from skill_insights.settings import claude_config_dir

        claude_dir = claude_dir or claude_config_dir()
        _installed_plugins(claude_dir, disc)
        user_starts: list[tuple[Path, Ctx, str]] = [
            (claude_dir / "skills", Ctx("user", "claude-code"), "agent"),
            *[(home / suf, Ctx("user", agent), "agent") for suf, agent in USER_DIRS],
            (claude_dir / "plugins" / "cache", Ctx("plugin", "claude-code", layout="cache"), "plugins"),
            (claude_dir / "plugins" / "marketplaces", Ctx("plugin", "claude-code", layout="marketplaces"), "plugins"),
            (home / ".tessl", Ctx("user"), "tessl"),
        ]
        # Register every start first, so a root that contains one (e.g. HOME) leaves it to its own walk.
        for p, _, _ in user_starts:
            if p.is_dir():
                disc._starts.add(os.path.realpath(p))
        for p, c, kind in user_starts:
            w.start(p, c, kind, max_depth=8)
    for proj in project_dirs or []:
        if not is_utf8(str(proj)):
            if proj.is_dir():
                disc.findings.append(not_utf8(str(proj), "project path"))
            continue
        for suf, agent in PROJECT_DIRS:
            w.start(proj / suf, Ctx("project", agent, project_root=str(proj)), "session-project", max_depth=4)
        w.start(proj / ".tessl", Ctx("project", project_root=str(proj)), "session-project", max_depth=6)
        w._manifest(
            str(proj / "tessl.json"),
            "tessl.json",
            Ctx("project", project_root=str(proj)),
            os.path.realpath(proj),
            optional=True,
        )
    for r in roots:
        w.start(r, Ctx("project"), "root")
    return disc

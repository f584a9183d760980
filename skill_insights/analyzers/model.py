"""The one adapter between the inventory document (issue 4) and the analyzers.

Analyzers never index the inventory dict directly: they take `SkillView`s, so a renamed inventory field is a
change here only. Text on disk (SKILL.md, reference files) is read through `load_doc` under size caps.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from skill_insights.analyzers.refs import Ref, extract_refs
from skill_insights.collectors.skills.skilldir import _O_FLAGS, within
from skill_insights.collectors.skills.skilldir import MAX_DEPTH as MAX_WALK_DEPTH
from skill_insights.collectors.skills.skilldir import MAX_FILES as MAX_WALK_FILES

SKILL_FILE = "SKILL.md"
MAX_SKILL_BYTES = 1_000_000
MAX_FRONTMATTER_BYTES = 64_000
MAX_REF_BYTES = 512_000
# MAX_WALK_FILES, MAX_WALK_DEPTH and _O_FLAGS are the inventory scan's own (skilldir), imported above.
# Folders a walk never enters: they are not part of a skill's own content.
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache"}
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Location:
    path: str
    agent: str | None
    scope: str | None
    is_link: bool


@dataclass(frozen=True)
class SkillView:
    id: str
    name: str
    description: str
    content_hash: str
    locations: tuple[Location, ...]
    names: tuple[str, ...] = ()  # every name an activation may use (`plugin:skill`, folder name, ...)

    @property
    def scopes(self) -> set[str]:
        return {loc.scope for loc in self.locations if loc.scope}

    @property
    def standalone(self) -> bool:
        """Not shipped by a tile or a plugin: the user maintains it, so a registry alternative may help."""
        return not (self.scopes & {"tile", "plugin"})

    def root(self) -> Path | None:
        """The skill folder to read: the first real (non-link) location that exists, else any that exists."""
        ordered = sorted(self.locations, key=lambda loc: loc.is_link)
        for loc in ordered:
            p = _skill_dir(Path(loc.path))
            if (p / SKILL_FILE).is_file():
                return p
        return _skill_dir(Path(ordered[0].path)) if ordered else None

    def ref(self) -> dict[str, str]:
        """How findings and groups name a skill: its inventory id and name."""
        return {"id": self.id, "name": self.name}


def _skill_dir(p: Path) -> Path:
    # A location may name the folder or its SKILL.md; both mean the folder.
    return p.parent if p.name == SKILL_FILE else p


def skills_from_inventory(inventory: dict[str, Any]) -> list[SkillView]:
    views: list[SkillView] = []
    for s in inventory.get("skills") or []:
        locs = tuple(
            Location(
                path=str(loc.get("path") or ""),
                agent=loc.get("agent"),
                scope=loc.get("scope"),
                is_link=bool(loc.get("is_link")),
            )
            for loc in s.get("locations") or []
            if loc.get("path")
        )
        views.append(
            SkillView(
                id=str(s.get("id") or s.get("content_hash") or s.get("name") or ""),
                name=str(s.get("name") or ""),
                description=s.get("description") if isinstance(s.get("description"), str) else "",
                content_hash=str(s.get("content_hash") or ""),
                locations=locs,
                names=tuple(str(n) for n in s.get("names") or () if n),
            )
        )
    return views


# -- SKILL.md text ----------------------------------------------------------------------------------------


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader without anchors/aliases: a "billion laughs" frontmatter fails fast instead of expanding."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases are not allowed in frontmatter")
        return super().compose_node(parent, index)


_FM_RE = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)(?:\r?\n)---[ \t]*(?:\r?\n|\Z)", re.S)


@dataclass
class Frontmatter:
    present: bool
    data: dict[str, Any] | None  # None when absent or unparseable
    error: str | None
    body: str
    body_start_line: int  # 1-based line of the body's first line in SKILL.md


def parse_skill_md(text: str) -> Frontmatter:
    m = _FM_RE.match(text)
    if not m:
        return Frontmatter(False, None, None, text, 1)
    raw = m.group(1)
    body = text[m.end():]
    start = text[: m.end()].count("\n") + 1
    if len(raw.encode("utf-8", "replace")) > MAX_FRONTMATTER_BYTES:
        return Frontmatter(True, None, f"frontmatter larger than {MAX_FRONTMATTER_BYTES} bytes", body, start)
    try:
        data = yaml.load(raw, Loader=_NoAliasLoader)
    except yaml.YAMLError as e:
        return Frontmatter(True, None, f"invalid YAML: {str(e).splitlines()[0]}", body, start)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return Frontmatter(True, None, "frontmatter is not a mapping", body, start)
    return Frontmatter(True, {str(k): v for k, v in data.items()}, None, body, start)


@dataclass
class SkillDoc:
    """What the pure cores see of one skill on disk: SKILL.md, its files and the markdown texts inside."""

    view: SkillView
    folder: str  # the folder's name
    text: str | None  # SKILL.md, None when unreadable
    frontmatter: Frontmatter
    files: frozenset[str]  # relative posix paths of files and folders under the root
    texts: dict[str, str]  # relative path → text, for markdown files other than SKILL.md
    read_error: str | None = None
    root: Path | None = None  # the folder read (`view.root()`)

    def exists(self, rel: str) -> bool:
        return rel.rstrip("/") in self.files

    @property
    def top_dirs(self) -> set[str]:
        """Folder names at the skill's root (entries without a slash or a dot)."""
        return {p for p in self.files if "/" not in p and "." not in p}

    def body_refs(self) -> list[Ref]:
        """File references in SKILL.md's body, with SKILL.md line numbers (not body-relative ones)."""
        offset = self.frontmatter.body_start_line - 1
        return [replace(r, line=r.line + offset) for r in extract_refs(self.frontmatter.body, self.top_dirs)]


def load_doc(view: SkillView, *, walk: bool = True, texts: bool = True) -> SkillDoc:
    """SKILL.md of the skill's folder; with `walk`, the folder's file list too, and with `texts` the other
    markdown files' texts. A phase that needs neither asks for less and reads only SKILL.md."""
    root = view.root()
    if root is None:
        return SkillDoc(view, "", None, parse_skill_md(""), frozenset(), {}, "no location")
    real_root = os.path.realpath(root)
    try:
        raw = read_inside(real_root, str(root / SKILL_FILE), MAX_SKILL_BYTES + 1)
        text: str | None = raw[:MAX_SKILL_BYTES].decode("utf-8", "replace")
        err = None
    except OSError as e:
        text, err = None, f"cannot read {SKILL_FILE}: {e.strerror or e}"
    files, md = walk_skill(root, real_root, texts) if walk else (frozenset(), {})
    return SkillDoc(view, root.name, text, parse_skill_md(text or ""), files, md, err, root)


def read_inside(real_root: str, path: str, cap: int) -> bytes:
    """Up to `cap` bytes of the regular file `path`, only when its real path lies inside `real_root`.

    Why: a SKILL.md or reference that links out of the skill would leak that file into the analysis (and to
    the `--llm` judge) — the scanner refuses such files too; and a FIFO named `x.md` would block a plain open.
    """
    real = os.path.realpath(path)
    if not within(real, real_root):
        raise OSError(errno.EACCES, "it points outside the skill folder: not read")
    fd = os.open(real, _O_FLAGS)  # O_NOFOLLOW: a link swapped in since realpath is refused; O_NONBLOCK: FIFOs
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file: not read")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        return f.read(cap)


def walk_skill(root: Path, real_root: str | None = None,
               read_texts: bool = True) -> tuple[frozenset[str], dict[str, str]]:
    """Relative paths under `root` (capped), and (`read_texts`) the markdown texts besides SKILL.md.

    Symlinks are listed but never followed or read: a link may point outside the skill root. Only regular
    files inside `real_root` (default: the real path of `root`) are read.
    """
    real_root = real_root or os.path.realpath(root)
    files: set[str] = set()
    texts: dict[str, str] = {}
    root_s = str(root)
    for dirpath, dirnames, filenames in os.walk(root_s, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root_s)
        depth = 0 if rel_dir == "." else rel_dir.count(os.sep) + 1
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and depth < MAX_WALK_DEPTH]
        for name in dirnames + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            files.add(rel)
            full = os.path.join(dirpath, name)
            if (
                read_texts
                and name in filenames
                and name.lower().endswith(".md")
                and rel != SKILL_FILE
                and not os.path.islink(full)
                and len(texts) < 200
            ):
                with contextlib.suppress(OSError):
                    texts[rel] = read_inside(real_root, full, MAX_REF_BYTES).decode("utf-8", "replace")
        if len(files) > MAX_WALK_FILES:
            break
    return frozenset(files), texts


def finding(
    view: SkillView, rule: str, severity: str, message: str, fix: str, evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    assert severity in SEVERITIES, severity
    return {
        "skill": view.ref(),
        "rule": rule,
        "severity": severity,
        "message": message,
        "fix": fix,
        "evidence": evidence or {},
    }


def phase_output(phase: str, items_key: str, items: list[dict[str, Any]], findings: list[dict[str, Any]],
                 skills: int, **summary: Any) -> dict[str, Any]:
    """A phase's document: its records under `items_key`, its findings, and a summary that always starts with
    the skill and finding counts."""
    return {
        "phase": phase,
        "schema_version": 1,
        items_key: items,
        "findings": findings,
        "summary": {"skills": skills, "findings": len(findings), **summary},
    }

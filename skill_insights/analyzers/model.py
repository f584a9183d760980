"""The one adapter between the inventory document and the analyzers.

Analyzers never index the inventory dict directly: they take `SkillView`s and `SkillDoc`s, so a renamed
inventory field is a change here only. What the scan found in SKILL.md (frontmatter, references and their
status, files) comes from the inventory; only text the inventory does not hold (SKILL.md's body, reference
files) is read from disk, through `read_inside`, under size caps.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skill_insights.analyzers.refs import Ref, from_links, judged
from skill_insights.collectors.skills.skilldir import process_skill, within
from skill_insights.collectors.skills.skillmd import split_frontmatter
from skill_insights.safefile import NotRegularFile, read_prefix

SKILL_FILE = "SKILL.md"
MAX_SKILL_BYTES = 1_000_000
MAX_REF_BYTES = 512_000
MAX_TEXTS = 200  # markdown files read per skill besides SKILL.md
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
    # The scan's facts of its SKILL.md and files (FACT_KEYS), None when the inventory does not carry them.
    facts: dict[str, Any] | None = field(default=None, compare=False, repr=False)

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
                facts={k: s.get(k) for k in FACT_KEYS} if "links" in s and "frontmatter" in s else None,
            )
        )
    return views


# -- SKILL.md facts ----------------------------------------------------------------------------------------

# What the scan records of a skill's SKILL.md and files: the analyzers judge these facts and do not parse
# SKILL.md again, so a phase and the scan cannot disagree on a frontmatter or a reference.
FACT_KEYS = ("frontmatter", "findings", "links", "files", "body_lines", "approx_tokens")


def scanned_facts(root: Path) -> dict[str, Any]:
    """The facts of a skill folder read by the scan's own reader: for an inventory that does not carry them
    (one written by hand or by an older version)."""
    return process_skill(os.path.realpath(root))


@dataclass(frozen=True)
class Frontmatter:
    present: bool
    data: dict[str, Any] | None  # None when absent or unusable
    error: str | None  # why a present frontmatter is unusable, as the scan found it


def frontmatter_of(facts: dict[str, Any]) -> Frontmatter:
    """The scan's verdict on the frontmatter: its data, or the finding that says why there is none."""
    problems = [
        f
        for f in facts.get("findings") or []
        if isinstance(f, dict) and str(f.get("code") or "").startswith("frontmatter_")
    ]
    if any(f.get("code") == "frontmatter_missing" for f in problems):
        return Frontmatter(False, None, None)
    data = facts.get("frontmatter")
    if isinstance(data, dict):
        return Frontmatter(True, data, None)
    return Frontmatter(True, None, str(problems[0].get("message")) if problems else "frontmatter could not be read")


_UNREADABLE = ("skill_md_unreadable", "skill_md_too_large")


@dataclass
class SkillDoc:
    """What the pure cores see of one skill: the scan's facts (frontmatter, references with their status,
    files), and on demand SKILL.md's text and the other markdown files' texts."""

    view: SkillView
    folder: str  # the folder's name
    frontmatter: Frontmatter
    refs: list[Ref]  # SKILL.md's references, lines as in SKILL.md, each with the scan's status
    files: frozenset[str]  # relative posix paths of the skill's files and of the folders holding them
    body_lines: int
    approx_tokens: int
    texts: dict[str, str] = field(default_factory=dict)  # relative path → text, markdown files besides SKILL.md
    read_error: str | None = None
    root: Path | None = None  # the folder read (`view.root()`)
    _text: str | None = field(default=None, repr=False)
    _text_read: bool = field(default=False, repr=False)

    @property
    def text(self) -> str | None:
        """SKILL.md (capped), read on first use; None when it cannot be read inside the skill folder."""
        if not self._text_read:
            self._text_read = True
            if self.root is not None and self.read_error is None:
                try:
                    raw = read_inside(os.path.realpath(self.root), str(self.root / SKILL_FILE), MAX_SKILL_BYTES + 1)
                    self._text = raw[:MAX_SKILL_BYTES].decode("utf-8", "replace")
                except OSError as e:
                    self.read_error = f"cannot read {SKILL_FILE}: {e.strerror or e}"
        return self._text

    @property
    def body(self) -> str:
        """SKILL.md after its frontmatter, split where the scan splits it."""
        return split_frontmatter(self.text or "")[1]

    def exists(self, rel: str) -> bool:
        return rel.rstrip("/") in self.files

    @property
    def top_dirs(self) -> set[str]:
        """Folder names at the skill's root."""
        return {p.split("/", 1)[0] for p in self.files if "/" in p}

    def body_refs(self) -> list[Ref]:
        """The references of SKILL.md the phases judge (see refs.judged)."""
        return judged(self.refs, self.top_dirs)

    def missing(self, ref: Ref) -> bool:
        """A reference to nothing in the skill folder: the scan's status when it has one."""
        if ref.status is not None:
            return ref.status == "missing"
        return not self.exists(ref.path)


def _file_set(files: list[Any]) -> tuple[frozenset[str], list[str]]:
    """(every file and folder path, the markdown files to read besides SKILL.md) of the scan's file list."""
    out: set[str] = set()
    markdown: list[str] = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            continue
        rel = f["path"]
        out.add(rel)
        parts = rel.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if rel != SKILL_FILE and rel.lower().endswith(".md") and not f.get("is_link"):
            markdown.append(rel)
    return frozenset(out), markdown


def load_doc(view: SkillView, *, texts: bool = True) -> SkillDoc:
    """One skill's facts, from the inventory (or the scan's reader when the inventory lacks them); with
    `texts`, the other markdown files' texts too (SKILL.md's own text is read only when asked for)."""
    root = view.root()
    if root is None:
        return SkillDoc(view, "", Frontmatter(False, None, None), [], frozenset(), 0, 0, read_error="no location")
    facts = view.facts if view.facts is not None else scanned_facts(root)
    files, markdown = _file_set(facts.get("files") or [])
    unreadable = next(
        (f for f in facts.get("findings") or [] if isinstance(f, dict) and f.get("code") in _UNREADABLE), None
    )
    doc = SkillDoc(
        view,
        root.name,
        frontmatter_of(facts),
        from_links(facts.get("links") or []),
        files,
        int(facts.get("body_lines") or 0),
        int(facts.get("approx_tokens") or 0),
        read_error=str(unreadable.get("message")) if unreadable else None,
        root=root,
    )
    if texts:
        real_root = os.path.realpath(root)
        for rel in markdown[:MAX_TEXTS]:
            with contextlib.suppress(OSError):
                doc.texts[rel] = read_inside(real_root, str(root / rel), MAX_REF_BYTES).decode("utf-8", "replace")
    return doc


def read_inside(real_root: str, path: str, cap: int) -> bytes:
    """Up to `cap` bytes of the regular file `path`, only when its real path lies inside `real_root`.

    Why: a SKILL.md or reference that links out of the skill would leak that file into the analysis (and to
    the `--llm` judge) — the scanner refuses such files too; and a FIFO named `x.md` would block a plain open.
    """
    real = os.path.realpath(path)
    if not within(real, real_root):
        raise OSError(errno.EACCES, "it points outside the skill folder: not read")
    try:  # follow=False: a link swapped in since realpath is refused
        return read_prefix(real, cap, follow=False)
    except NotRegularFile:
        raise OSError(errno.EINVAL, "not a regular file: not read") from None


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


def phase_output(
    phase: str, items_key: str, items: list[dict[str, Any]], findings: list[dict[str, Any]], skills: int, **summary: Any
) -> dict[str, Any]:
    """A phase's document: its records under `items_key`, its findings, and a summary that always starts with
    the skill and finding counts."""
    return {
        "phase": phase,
        "schema_version": 1,
        items_key: items,
        "findings": findings,
        "summary": {"skills": skills, "findings": len(findings), **summary},
    }

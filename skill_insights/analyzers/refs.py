"""File references as the analyzers judge them, from the scan's one extractor.

SKILL.md's references are the inventory's `links` (the scan found them with `skillmd.extract_refs` and
resolved each against the skill folder); a reference file's text goes through the same extractor here. Pure
functions: no file is read.

Which references the phases judge: every link, and a path mentioned in prose only when it starts in a folder
the skill has (or a conventional one: scripts/, references/, …): `python tool.py --in data/x.csv` names the
user's file, not one the skill ships.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skill_insights.collectors.skills.skillmd import WINDOWS_ABSOLUTE
from skill_insights.collectors.skills.skillmd import extract_refs as extract_targets

CONVENTIONAL_DIRS = ("scripts", "references", "reference", "assets", "templates", "examples", "resources", "docs")


@dataclass(frozen=True)
class Ref:
    raw: str  # as written (fragment and query dropped)
    path: str  # normalised: forward slashes, leading ./ removed, relative to the skill root
    kind: str  # "link" | "path"
    line: int  # 1-based, in the file the text comes from
    absolute: bool
    backslash: bool
    escapes: bool  # normalises to a path above the skill root
    status: str | None = None  # the scan's verdict for a SKILL.md reference (ok, missing, dir, …)


def classify(target: str, kind: str, line: int, base_dir: str = "") -> Ref:
    """A target from the extractor, normalised against `base_dir` (the folder of the file it is written in,
    relative to the skill root)."""
    backslash = "\\" in target
    norm = target.replace("\\", "/")
    if WINDOWS_ABSOLUTE.match(target) or norm.startswith(("/", "~")):
        return Ref(target, norm, kind, line, True, backslash, False)
    joined = posixpath.normpath(posixpath.join(base_dir, norm))
    escapes = joined == ".." or joined.startswith("../")
    return Ref(target, joined, kind, line, False, backslash, escapes)


def extract_refs(text: str, base_dir: str = "") -> list[Ref]:
    """References in a markdown text by the scan's extractor (linear in the text, whatever it holds)."""
    return [classify(r.target, r.kind, r.line, base_dir) for r in extract_targets(text)]


def from_links(links: Iterable[dict[str, Any]]) -> list[Ref]:
    """The inventory's `links` of one skill as Refs, the scan's status kept."""
    out: list[Ref] = []
    for link in links:
        target = str(link.get("target") or "")
        if not target:
            continue
        ref = classify(target, str(link.get("kind") or "link"), int(link.get("line") or 1))
        status = link.get("status")
        out.append(
            Ref(
                ref.raw,
                link.get("path") or ref.path,
                ref.kind,
                ref.line,
                ref.absolute or status == "absolute",
                ref.backslash,
                ref.escapes or status == "escapes",
                status if isinstance(status, str) else None,
            )
        )
    return out


def judged(refs: Iterable[Ref], top_dirs: Iterable[str]) -> list[Ref]:
    """The references the phases judge: every link; a path mention only inside one of the skill's folders."""
    prefixes = set(CONVENTIONAL_DIRS) | set(top_dirs)
    return [r for r in refs if r.kind == "link" or (not r.absolute and r.path.split("/", 1)[0] in prefixes)]

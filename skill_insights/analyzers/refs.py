"""File references in a skill's markdown: which strings are paths into the skill, and which are not.

Pure functions. Markdown links with a relative target are references; so are bare or backticked paths that
start with a conventional skill folder (scripts/, references/, ...) or with a folder the skill actually has.
URLs, anchors, placeholders (`{lang}/`, `<name>`, `$VAR`, globs), package names (`@scope/pkg`, `pkg@1`) and
absolute URL paths (`/api/search`) are not file references.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

CONVENTIONAL_DIRS = ("scripts", "references", "reference", "assets", "templates", "examples", "resources", "docs")

_LINK_RE = re.compile(r"(!?)\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFDEF_RE = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)", re.M)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_WINDOWS_ABS_RE = re.compile(r"^[A-Za-z]:[\\/]")
_PLACEHOLDER_CHARS = set("{}<>$*?|")
_TOKEN_STRIP = "`'\"()[],;:!.”“’‘*_"


@dataclass(frozen=True)
class Ref:
    raw: str  # as written
    path: str  # normalised: forward slashes, fragment and query dropped, url-decoded, leading ./ removed
    kind: str  # "link" | "path"
    line: int  # 1-based, within the text given
    absolute: bool
    backslash: bool
    escapes: bool  # normalises to a path above the skill root


def _is_placeholder(s: str) -> bool:
    return any(c in _PLACEHOLDER_CHARS for c in s) or "%s" in s or "..." in s


def _classify(raw: str, kind: str, line: int, base_dir: str = "") -> Ref | None:
    target = raw.strip()
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1].strip()
    if not target or target.startswith("#"):
        return None
    if _WINDOWS_ABS_RE.match(target):
        return Ref(raw, target.replace("\\", "/"), kind, line, True, "\\" in target, False)
    if _SCHEME_RE.match(target):
        # file:// is a path in disguise (absolute); any other scheme is a URL
        if target.lower().startswith("file:"):
            return Ref(raw, target[5:].lstrip("/"), kind, line, True, False, False)
        return None
    target = target.split("#", 1)[0].split("?", 1)[0]
    target = unquote(target)  # never raises: a malformed escape stays as text
    if not target or _is_placeholder(target) or target.startswith("@") or "@" in target.split("/")[0]:
        return None
    backslash = "\\" in target
    norm = target.replace("\\", "/")
    if norm.startswith(("/", "~")):
        return Ref(raw, norm, kind, line, True, backslash, False)
    joined = posixpath.normpath(posixpath.join(base_dir, norm)) if base_dir else posixpath.normpath(norm)
    escapes = joined == ".." or joined.startswith("../")
    return Ref(raw, joined, kind, line, False, backslash, escapes)


def _looks_like_file_link(target: str) -> bool:
    # A bare word without a slash or an extension is more likely a package or a wiki-style name than a file.
    t = target.split("#", 1)[0].split("?", 1)[0]
    last = t.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return "/" in t or "\\" in t or "." in last


def extract_refs(text: str, top_dirs: set[str] | frozenset[str] = frozenset(), base_dir: str = "") -> list[Ref]:
    """File references in `text`. `top_dirs` are folder names the skill really has at its root; `base_dir` is
    the folder (relative to the skill root) of the file the text comes from, for relative links."""
    refs: list[Ref] = []
    seen: set[tuple[str, str]] = set()
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        lo, hi = 0, len(line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    def add(ref: Ref | None) -> None:
        if ref is not None and (ref.kind, ref.path) not in seen:
            seen.add((ref.kind, ref.path))
            refs.append(ref)

    masked = list(text)
    for rx in (_LINK_RE, _REFDEF_RE):
        for m in rx.finditer(text):
            target = m.group(m.lastindex or 1)
            if _looks_like_file_link(target.strip("<>")) or _SCHEME_RE.match(target) or target.startswith("/"):
                add(_classify(target, "link", line_of(m.start()), base_dir))
            for i in range(m.start(), m.end()):  # a link's text and target are not scanned again as paths
                masked[i] = " "
    rest = "".join(masked)
    prefixes = set(CONVENTIONAL_DIRS) | set(top_dirs)
    for m in re.finditer(r"\S+", rest):
        tok = m.group(0)
        if "://" in tok:
            continue
        tok = tok.strip(_TOKEN_STRIP)
        if tok.startswith("./"):
            tok = tok[2:]
        if "/" not in tok and "\\" not in tok:
            continue
        first = re.split(r"[/\\]", tok, maxsplit=1)[0]
        if first not in prefixes:
            continue
        # `references/{lang}/x.md`: the placeholder may sit right after the token's end, e.g. `{` split off
        end = m.end()
        if end < len(rest) and rest[end:end + 1] in _PLACEHOLDER_CHARS:
            continue
        ref = _classify(tok, "path", line_of(m.start()), base_dir)
        if ref is not None and not ref.absolute:
            add(ref)
    return refs

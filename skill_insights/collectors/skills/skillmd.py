"""Parse one SKILL.md: frontmatter (safe YAML, capped), body stats, links and referenced paths.

Pure functions over text: no file system access here, so a hostile SKILL.md can only ever produce findings.
"""

from __future__ import annotations

import datetime as _dt
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

FRONTMATTER_MAX_BYTES = 64 * 1024  # the spec's fields fit in a few hundred bytes; 64 KiB is generous
MAX_DEPTH = 20  # nesting depth kept when making frontmatter JSON-safe
# What a frontmatter may expand to once shared (aliased) nodes are copied out: far above any real one (a few
# dozen values, a few KB), far below what _yaml.MAX_ALIASES (32) aliases can make of 64 KiB (3^32 copies of a list).
MAX_VALUES = 10_000
MAX_CHARS = 4 * FRONTMATTER_MAX_BYTES  # dates' ISO text and big integers' digits may outgrow their source
SPEC_FIELDS = frozenset({"name", "description", "license", "compatibility", "metadata", "allowed-tools"})

_FENCE = re.compile(r"^---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
# Each pattern below stays linear on a 1 MB body: no two starts rescan the same run of characters.
# A link: group 1 its text, group 2 its target. The text holds brackets one level deep (`[see [1]](x)`,
# `[![badge](img.png)](target)`) and no stray `[`, so no `[` starts a scan over text an earlier `[` scanned;
# the target never holds a `](`, so each start in a long unclosed `[a](b[a](b…` scans only its own stretch.
# A target in angle brackets may hold spaces (`[api](<references/api ref.md>)`): group 2, else group 3.
_MD_LINK = re.compile(
    r"!?\[([^\[\]\n]*+(?:\[[^\[\]\n]*+\][^\[\]\n]*+)*+)\]"
    r"\(\s*(?:<([^<>\n]*+)>|<?([^)\s>\]]++(?:\](?!\()[^)\s>\]]*+)*+|(?:\](?!\()[^)\s>\]]*+)++)>?)"
    r"(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)"
)
# A reference definition: its leading blanks and its optional title stay on its line. `^\s*` rescanned a run
# of blank lines from each of them; `\s+.*` after the target swallowed a definition on the next line.
_REF_LINK = re.compile(r"^[^\S\n]*\[[^\]\n]+\]:\s*<?(\S+?)>?(?:[^\S\n]+.*)?$", re.M)
# A bare path mention: has a slash and either starts like a path or ends in an extension. It starts only
# after a character that can't be in one (the lookbehind holds every character the path can hold).
_PATH = re.compile(
    r"(?<![\w/.:@~+-])((?:(?:\.{1,2}/)+|~/|/)[\w.@+-]+(?:/[\w.@+-]+)*/?"
    r"|[\w@+-][\w.@+-]*(?:/[\w.@+-]+)+/?)(?![\w/])"
)
_FENCE_BLOCK = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?(?:^[ \t]*\1[^\n]*$|\Z)", re.M | re.S)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
# Characters of templates, variables and globs (`references/{lang}.md`, `$HOME/x`, `<name>/SKILL.md`,
# `scripts/*.py`): a target holding one, or a path mention touching one, names no single file.
_PLACEHOLDER = frozenset("{}<>$%*|")
_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")


# Matched against a line without its trailing blanks (a lazy value before `[ \t]*$` was quadratic in them).
_SIMPLE_LINE = re.compile(r"^([A-Za-z_][\w-]*):[ \t]+([^\s\-?:,\[\]{}#&*!|>'\"%@`][^\n]*)$")


def _yaml() -> Any:
    """The YAML side (PyYAML, the alias-capped loader): imported on the first frontmatter to parse, so a
    re-scan that parses nothing never loads it."""
    from skill_insights.collectors.skills import _yaml as y

    return y


def _simple_mapping(text: str) -> dict[str, str] | None:
    """`key: plain text` lines (the usual frontmatter) without a YAML parser, or None when YAML is needed.

    Exactly what YAML would give: each value must be a plain scalar that YAML resolves to a string.
    """
    out: dict[str, str] = {}
    resolve = _yaml().simple_tag
    for line in text.split("\n"):
        m = _SIMPLE_LINE.match(line.rstrip(" \t\r"))
        if m is None:
            return None
        value = m.group(2)
        if ": " in value or " #" in value or value.endswith(":") or "\t" in value:
            return None
        for scalar in (m.group(1), value):
            if resolve(scalar) != "tag:yaml.org,2002:str":
                return None  # true, 1.5, 2024-01-01, null, on… keep YAML's types
        out[m.group(1)] = value
    return out


def safe_yaml(text: str) -> Any:
    """`yaml.safe_load` under the alias cap: plain `key: text` lines without a parser, the rest through _yaml."""
    simple = _simple_mapping(text)
    if simple is not None:
        return simple
    return _yaml().load(text)


class FrontmatterTooComplex(ValueError):
    """json_safe met more values (or text) than a frontmatter plausibly holds."""


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # over Python's int→str digit limit (a `0b…` or `1:0:0:…` scalar): a finding
        raise ValueError(f"an integer of {value.bit_length()} bits is too long to keep") from None


def _key_text(k: Any) -> str:
    return _int_text(k) if isinstance(k, int) else str(k)


def json_safe(value: Any, depth: int = 0, max_values: int = MAX_VALUES, max_chars: int = MAX_CHARS) -> Any:
    """YAML values → JSON values (dates as ISO text, keys as strings), depth-capped.

    Raises FrontmatterTooComplex past `max_values` values or `max_chars` characters of text (keys included).
    The alias cap bounds how many YAML nodes there are, not how often each is reached: 32 aliases of
    `&lN [*prev, *prev, *prev]` over a 25,000-item list reach that list 3^N times, and a copy of each would
    be 3^N copies. The budgets stop the copy early, whatever shares what.
    """
    return _json_value(value, depth, [max_values, max_chars, max_values, max_chars])


def _text(s: str, budget: list[int]) -> str:
    budget[1] -= len(s)
    if budget[1] < 0:
        raise FrontmatterTooComplex(f"more than {budget[3]} characters of text")
    return s


def _json_value(value: Any, depth: int, budget: list[int]) -> Any:
    """json_safe's walk; budget: [values left, characters left, max values, max characters]."""
    budget[0] -= 1
    if budget[0] < 0:
        raise FrontmatterTooComplex(f"more than {budget[2]} values")
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, str):
        return _text(value, budget)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # JSON encoders here take 64-bit integers: a bigger one (`version: 123456789012345678901234567890`)
        # is kept as its digits instead of failing the whole scan.
        return value if -(2**63) <= value < 2**63 else _text(_int_text(value), budget)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, _dt.date | _dt.datetime):
        return _text(value.isoformat(), budget)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = _text(k if isinstance(k, str) else _key_text(k), budget)
            out[key] = _json_value(v, depth + 1, budget)
        return out
    if isinstance(value, list | tuple | set):
        return [_json_value(v, depth + 1, budget) for v in value]
    if isinstance(value, bytes):
        return _text(value.decode("utf-8", "replace"), budget)
    return _text(str(value), budget)


@dataclass
class Ref:
    target: str  # as written (fragment and query stripped)
    kind: str  # "link" (markdown link) or "path" (a path mentioned in the text)
    line: int


@dataclass
class ParsedSkillMd:
    frontmatter: dict[str, Any] | None
    body: str
    body_lines: int
    approx_tokens: int
    refs: list[Ref] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        v = (self.frontmatter or {}).get("name")
        return v.strip() if isinstance(v, str) and v.strip() else None

    @property
    def description(self) -> str | None:
        v = (self.frontmatter or {}).get("description")
        return v.strip() if isinstance(v, str) and v.strip() else None

    @property
    def extra_fields(self) -> list[str]:
        return sorted(k for k in (self.frontmatter or {}) if k not in SPEC_FIELDS)


def finding(code: str, message: str, severity: str = "warning", path: str | None = None) -> dict[str, Any]:
    f: dict[str, Any] = {"code": code, "severity": severity, "message": message}
    if path is not None:
        f["path"] = path
    return f


def approx_tokens(text: str) -> int:
    # ~4 characters per token for English prose: good enough to flag a body over the ~5k token budget.
    return (len(text) + 3) // 4


def _one_line(e: BaseException, limit: int = 200) -> str:
    """An exception as one short line: PyYAML's messages run over several lines, and a bad scalar's repr
    (`could not convert string to float: 'xxx…'`) can be as long as the frontmatter."""
    msg = str(e).strip()
    msg = msg.splitlines()[0] if msg else type(e).__name__
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def split_frontmatter(text: str) -> tuple[str | None, str, dict[str, Any] | None]:
    """(the frontmatter's YAML text or None, the body, the finding when there is no complete block).

    The one place that decides where SKILL.md's frontmatter ends: the scan and every analysis phase split
    here, so they agree on the body and on whether a frontmatter is there."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.startswith("---"):
        return None, text, finding("frontmatter_missing", "SKILL.md does not start with a --- frontmatter block")
    m = _FENCE.match(text)
    if not m:
        return None, text, finding("frontmatter_unterminated", "the frontmatter block has no closing ---", "error")
    return m.group(1), text[m.end() :], None


def parse_frontmatter(text: str) -> tuple[dict[str, Any] | None, str, list[dict[str, Any]]]:
    """(frontmatter or None, body, findings). Never raises on bad input."""
    raw, body, missing = split_frontmatter(text)
    if raw is None:
        return None, body, [missing] if missing else []
    findings: list[dict[str, Any]] = []
    if len(raw.encode("utf-8", "replace")) > FRONTMATTER_MAX_BYTES:
        findings.append(
            finding("frontmatter_too_large", f"frontmatter over {FRONTMATTER_MAX_BYTES} bytes: not parsed", "error")
        )
        return None, body, findings
    y = _yaml()
    try:
        data = safe_yaml(raw)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            findings.append(finding("frontmatter_not_mapping", "frontmatter is not a mapping of fields", "error"))
            return None, body, findings
        fm = json_safe(data)
    except y.AliasLimitError as e:
        findings.append(finding("frontmatter_aliases", f"frontmatter refused ({e}): possible YAML bomb", "error"))
        return None, body, findings
    except FrontmatterTooComplex as e:
        findings.append(finding("frontmatter_too_complex", f"frontmatter refused: it expands to {e}", "error"))
        return None, body, findings
    except RecursionError:
        findings.append(finding("frontmatter_invalid_yaml", "frontmatter nests too deeply", "error"))
        return None, body, findings
    except Exception as e:  # YAMLError, and whatever PyYAML's constructors let out on bad values
        # `2024-13-45`, `!!int abc`, `!!float x`, `2024-01-01 25:00:00` raise ValueError from the constructor,
        # not a YAMLError; whatever a hostile frontmatter makes it raise is a finding, never a failed scan.
        findings.append(finding("frontmatter_invalid_yaml", f"frontmatter is not valid YAML: {_one_line(e)}", "error"))
        return None, body, findings
    for key in ("name", "description"):
        if key not in fm:
            findings.append(finding(f"{key}_missing", f"frontmatter has no `{key}`", "error"))
        elif not isinstance(fm[key], str):
            findings.append(finding(f"{key}_not_string", f"frontmatter `{key}` is not a string", "error"))
    return fm, body, findings


def _link_target(m: re.Match[str]) -> str:
    return m.group(2) if m.group(2) is not None else m.group(3)


def _clean_target(t: str, kind: str) -> str | None:
    """A written target as the file it names, or None when it names none: an anchor, a URL, a placeholder, a
    package (`@scope/pkg`, `pkg@1.0`), or a link to a bare word (`[lodash](lodash)`: a package or wiki name
    more often than a file). `file:` URLs are their absolute path; a link's %-escapes are decoded."""
    t = t.strip().strip("<>").strip()
    if not t or t.startswith("#"):
        return None
    if t[:5].lower() == "file:":
        t = "/" + t[5:].lstrip("/")
    elif _SCHEME.match(t) and not WINDOWS_ABSOLUTE.match(t):
        return None  # http:, mailto:, …
    t = t.split("#", 1)[0].split("?", 1)[0]
    if kind == "link" and "%" in t:
        t = unquote(t)  # never raises: a malformed escape stays as text
    if not t or "%s" in t or "..." in t or not _PLACEHOLDER.isdisjoint(t):
        return None
    first = t.replace("\\", "/").split("/", 1)[0]
    if "@" in first:
        return None
    if kind == "link" and "/" not in t and "\\" not in t and "." not in t.rstrip("/"):
        return None
    return t


def extract_refs(body: str) -> list[Ref]:
    """Markdown links and path mentions in the body, each once, in order of appearance.

    Runs each pattern once over the whole body (not per line): this is on the scan's hot path. Linear in the
    body, whatever it holds.
    """
    fences = [(m.start(), m.end()) for m in _FENCE_BLOCK.finditer(body)] if ("```" in body or "~~~" in body) else []
    fence_starts = [a for a, _ in fences]

    def fenced(pos: int) -> bool:
        i = bisect_right(fence_starts, pos) - 1
        return i >= 0 and pos < fences[i][1]

    found: list[tuple[int, str, str]] = []
    blank: list[tuple[int, int]] = []  # spans whose text is a link's, not to be read again as a path mention
    if "](" in body:
        for m in _MD_LINK.finditer(body):
            if not fenced(m.start()):
                found.append((m.start(), "link", _link_target(m)))
            a, b = m.span(1)
            if body.find("](", a, b) >= 0:  # an image or link in the link text: `[![badge](img.png)](target)`
                found += [
                    (n.start(), "link", _link_target(n)) for n in _MD_LINK.finditer(body, a, b) if not fenced(n.start())
                ]
            blank.append(m.span())
    if "]:" in body:
        for m in _REF_LINK.finditer(body):
            if not fenced(m.start()):
                found.append((m.start(), "link", m.group(1)))
            blank.append(m.span(1))
    scan = body
    if blank:  # the same offsets, links blanked
        blank.sort()
        parts: list[str] = []
        pos = 0
        for a, b in blank:
            if b > pos:
                a = max(a, pos)
                parts += (body[pos:a], " " * (b - a))
                pos = b
        parts.append(body[pos:])
        scan = "".join(parts)
    # A path mention has a slash and never spans lines: the pattern runs on the lines with a slash only.
    slash = scan.find("/")
    while slash >= 0:
        a = scan.rfind("\n", 0, slash) + 1
        b = scan.find("\n", slash)
        if b < 0:
            b = len(scan)
        for m in _PATH.finditer(scan, a, b):
            tok = m.group(1)
            start, end = m.span(1)
            if scan[max(0, start - 3) : start].endswith("://") or "//" in tok:
                continue
            if scan[start - 1 : start] in _PLACEHOLDER or scan[end : end + 1] in _PLACEHOLDER:
                continue  # part of `{base}/scripts/x.py`, `$HOME/x.sh`, `<name>/SKILL.md`
            if tok.endswith(".") and not tok.endswith(".."):
                tok = tok[:-1]  # the sentence's full stop
            # Keep it only when it looks like a file path, not prose like "and/or".
            if tok.startswith(("./", "../", "~/", "/")) or _EXT.search(tok.rstrip("/")):
                found.append((start, "path", tok))
        slash = scan.find("/", b)
    if not found:
        return []
    found.sort()
    refs: list[Ref] = []
    seen: set[tuple[str, str]] = set()
    line, counted = 1, 0  # lines counted up to `counted`, on from there: counting from 0 per ref was quadratic
    for pos, kind, raw in found:
        t = _clean_target(raw, kind)
        if t is None or (kind, t) in seen:
            continue
        seen.add((kind, t))
        line += body.count("\n", counted, pos)
        counted = pos
        refs.append(Ref(t, kind, line))
    return refs


def parse_skill_md(text: str) -> ParsedSkillMd:
    """Frontmatter, body stats and refs of one SKILL.md; a ref's line is its line in SKILL.md."""
    fm, body, findings = parse_frontmatter(text)
    above = text.count("\n", 0, len(text) - len(body))  # the frontmatter's lines
    refs = extract_refs(body)
    if above:
        for r in refs:
            r.line += above
    return ParsedSkillMd(
        frontmatter=fm,
        body=body,
        body_lines=len(body.splitlines()),
        approx_tokens=approx_tokens(body),
        refs=refs,
        findings=findings,
    )

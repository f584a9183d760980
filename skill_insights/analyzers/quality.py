"""Quality: a deterministic rubric from the Agent Skills specification and Anthropic's authoring guidance.

`check(doc)` is the pure core: findings (rule id, severity, message, fix) and a 0–100 score shaped like
Tessl's review — validation 0.2, description 0.4, content 0.4. An optional LLM judge (`llm.py`) replaces the
description and content dimensions with its own scores when asked for.
"""

from __future__ import annotations

import re
from typing import Any

from skill_insights.analyzers.model import SkillDoc, finding, load_doc, phase_output, skills_from_inventory
from skill_insights.analyzers.refs import extract_refs, judged
from skill_insights.collectors.skills.skillmd import SPEC_FIELDS

PHASE = "quality"

ALLOWED_KEYS = SPEC_FIELDS  # the spec's top-level keys, as the scanner knows them
# Keys one agent understands and the spec does not: worth knowing, not wrong.
AGENT_KEYS = {
    "argument-hint": "Claude Code",
    "disable-model-invocation": "Claude Code",
    "user-invocable": "Claude Code",
    "model": "Claude Code",
    "context": "Claude Code",
    "agent": "Claude Code",
    "hooks": "Claude Code",
    "when_to_use": "Claude Code",
}
RESERVED_WORDS = ("anthropic", "claude")
NAME_MAX, DESC_MAX, BODY_MAX_LINES, BODY_MAX_TOKENS, TOC_MIN_LINES = 64, 1024, 500, 5000, 100

_XML_RE = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
_FIRST_PERSON_RE = re.compile(r"\b(I|I'm|I'll|I've|I'd|me|my|we|we're|our|us)\b")
_SECOND_PERSON_RE = re.compile(
    r"(^\s*you\b|\byou (can|could|should|will|may|might)\b|\b(helps|lets|allows|enables) you\b|\byour\b)", re.I
)
_WHEN_RE = re.compile(
    r"\b(when|whenever|if the user|if you|use (it |this (skill )?)?(for|to|on|with|in|before|after)|"
    r"used (for|to|when)|triggers?|invoke|applies to)\b",
    re.I,
)
_TOC_HEADING_RE = re.compile(r"^#{1,6}\s*(table of contents|contents|toc|index|outline)\b", re.I | re.M)
_ANCHOR_LINK_RE = re.compile(r"\]\(#[^)]+\)")

# Which score dimension each rule weighs on, and how much one finding costs there.
DIMENSION = {
    "frontmatter": "validation",
    "name": "validation",
    "description.missing": "validation",
    "description.too-long": "validation",
    "description.xml": "validation",
    "description": "description",
    "body": "content",
    "references": "content",
}
PENALTY = {"error": 50, "warning": 25, "info": 0}
WEIGHTS = {"validation": 0.2, "description": 0.4, "content": 0.4}


def _dimension(rule: str) -> str:
    key = rule.split(".", 1)[0]
    return DIMENSION.get(rule) or DIMENSION.get(key, "content")


def has_toc(text: str) -> bool:
    head = "\n".join(text.splitlines()[:60])
    return bool(_TOC_HEADING_RE.search(head)) or len(_ANCHOR_LINK_RE.findall(head)) >= 3


def check(doc: SkillDoc) -> dict[str, Any]:
    """The rubric over one skill. Returns {skill, score, dimensions, findings}."""
    v = doc.view
    out: list[dict[str, Any]] = []

    def add(rule: str, severity: str, message: str, fix: str, **evidence: Any) -> None:
        out.append(finding(v, f"quality.{rule}", severity, message, fix, evidence))

    fm = doc.frontmatter
    data = fm.data or {}
    if doc.text is None:
        add("frontmatter.unreadable", "error", doc.read_error or "SKILL.md cannot be read", "Restore SKILL.md.")
    elif not fm.present:
        add(
            "frontmatter.missing",
            "error",
            "SKILL.md has no YAML frontmatter",
            "Start SKILL.md with a `---` block holding at least `name` and `description`.",
        )
    elif fm.data is None:
        add(
            "frontmatter.invalid",
            "error",
            f"frontmatter cannot be parsed: {fm.error}",
            "Fix the YAML between the `---` lines (quote values containing `:`).",
            error=fm.error,
        )

    for key in sorted(data):
        if key in ALLOWED_KEYS:
            continue
        if key in AGENT_KEYS:
            add(
                "frontmatter.agent-key",
                "info",
                f"`{key}` is specific to {AGENT_KEYS[key]}",
                "Fine for that agent; other agents ignore it.",
                key=key,
                agent=AGENT_KEYS[key],
            )
        else:
            add(
                "frontmatter.unknown-key",
                "warning",
                f"`{key}` is not a top-level key of the Agent Skills spec",
                "Move it under `metadata:` or remove it.",
                key=key,
            )

    if fm.data is not None:
        _check_name(data.get("name"), doc.folder, add)
        _check_description(data.get("description"), add)
    if doc.text is not None:
        _check_body(doc, add)
        _check_references(doc, add)

    dims = score(out)
    return {"skill": v.ref(), "score": dims["total"], "dimensions": dims, "findings": out}


def _check_name(name: Any, folder: str, add) -> None:
    if name is None or (isinstance(name, str) and not name.strip()):
        add("name.missing", "error", "frontmatter has no `name`", f"Add `name: {folder or 'my-skill'}`.")
        return
    name = str(name)
    if _XML_RE.search(name):
        add("name.xml", "error", "`name` contains an XML tag", "Remove the tag from `name`.", name=name)
        return
    if len(name) > NAME_MAX:
        add(
            "name.too-long",
            "error",
            f"`name` has {len(name)} characters (max {NAME_MAX})",
            "Shorten the name.",
            length=len(name),
        )
    if not re.fullmatch(r"[a-z0-9-]+", name):
        add(
            "name.charset",
            "error",
            "`name` may only use lowercase letters, digits and hyphens",
            f"Rename to `{re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-')}`.",
            name=name,
        )
    if name.startswith("-") or name.endswith("-") or "--" in name:
        add(
            "name.hyphens",
            "error",
            "`name` starts or ends with a hyphen or has two in a row",
            f"Rename to `{re.sub(r'-+', '-', name).strip('-')}`.",
            name=name,
        )
    if any(w in name.lower() for w in RESERVED_WORDS):
        add(
            "name.reserved",
            "warning",
            "`name` contains a reserved word (anthropic, claude)",
            "Choose a name without the reserved word.",
            name=name,
        )
    if folder and name != folder:
        add(
            "name.folder-mismatch",
            "error",
            f"`name` {name!r} differs from its folder {folder!r}",
            "Rename the folder or the `name` so they match.",
            name=name,
            folder=folder,
        )


def _check_description(desc: Any, add) -> None:
    if desc is None or not str(desc).strip():
        add(
            "description.missing",
            "error",
            "frontmatter has no `description`",
            "Add a one-paragraph `description`: what the skill does and when to use it.",
        )
        return
    desc = str(desc)
    if len(desc) > DESC_MAX:
        add(
            "description.too-long",
            "error",
            f"`description` has {len(desc)} characters (max {DESC_MAX})",
            "Cut it to the essentials; move detail into the body.",
            length=len(desc),
        )
    if _XML_RE.search(desc):
        add("description.xml", "error", "`description` contains an XML tag", "Remove the tag from `description`.")
    m = _FIRST_PERSON_RE.search(desc) or _SECOND_PERSON_RE.search(desc)
    if m:
        add(
            "description.person",
            "warning",
            f"`description` is not in the third person ({m.group(0).strip()!r})",
            "Write it as 'Extracts tables from PDFs…', not 'I can…' or 'You can…'.",
            match=m.group(0).strip(),
        )
    if not _WHEN_RE.search(desc):
        add(
            "description.when",
            "warning",
            "`description` does not say when to use the skill",
            "Add a trigger: 'Use when …'.",
        )


def _check_body(doc: SkillDoc, add) -> None:
    if not doc.body.strip():
        add(
            "body.missing",
            "error",
            "SKILL.md has no instructions after the frontmatter",
            "Write the instructions the agent should follow.",
        )
        return
    lines, tokens = doc.body_lines, doc.approx_tokens  # counted by the scan
    if lines > BODY_MAX_LINES:
        add(
            "body.too-long",
            "warning",
            f"body has {lines} lines (keep it ≤ {BODY_MAX_LINES})",
            "Move detail into reference files linked from SKILL.md.",
            lines=lines,
        )
    if tokens > BODY_MAX_TOKENS:
        add(
            "body.too-many-tokens",
            "warning",
            f"body is about {tokens} tokens (keep it ≤ {BODY_MAX_TOKENS})",
            "Move detail into reference files linked from SKILL.md.",
            tokens=tokens,
        )


def _check_references(doc: SkillDoc, add) -> None:
    tops = doc.top_dirs
    linked_md: list[str] = []
    for ref in doc.body_refs():
        if ref.absolute:
            add(
                "references.absolute",
                "warning",
                f"reference {ref.raw!r} is an absolute path",
                "Use a path relative to the skill folder.",
                ref=ref.raw,
                line=ref.line,
            )
            continue
        if ref.backslash:
            add(
                "references.backslash",
                "warning",
                f"reference {ref.raw!r} uses backslashes",
                "Use forward slashes: they work on every platform.",
                ref=ref.raw,
                line=ref.line,
            )
        if ref.escapes:
            add(
                "references.escapes-root",
                "warning",
                f"reference {ref.raw!r} points outside the skill folder",
                "Copy the file into the skill folder and link it relatively.",
                ref=ref.raw,
                line=ref.line,
            )
            continue
        if doc.missing(ref):
            add(
                "references.missing",
                "warning",
                f"reference {ref.raw!r} does not exist",
                "Create the file or fix the path.",
                ref=ref.raw,
                path=ref.path,
                line=ref.line,
            )
        elif ref.path.lower().endswith(".md") and ref.path in doc.texts:
            linked_md.append(ref.path)
    # One level deep: a reference file should not send the agent on to further files.
    for path in dict.fromkeys(linked_md):
        text = doc.texts[path]
        base = path.rsplit("/", 1)[0] if "/" in path else ""
        nested = [
            r.path
            for r in judged(extract_refs(text, base), tops)
            if not r.absolute
            and not r.escapes
            and r.path != "SKILL.md"
            and r.path != path
            and doc.exists(r.path)
            and "." in r.path.rsplit("/", 1)[-1]
        ]
        if nested:
            add(
                "references.nested",
                "warning",
                f"{path} links on to {', '.join(nested[:3])}",
                "Link every reference file directly from SKILL.md (one level deep).",
                file=path,
                links=nested[:10],
            )
    for path, text in sorted(doc.texts.items()):
        n = text.count("\n") + 1
        if n > TOC_MIN_LINES and not has_toc(text):
            add(
                "references.toc",
                "info" if path not in linked_md else "warning",
                f"{path} has {n} lines and no table of contents",
                "Start it with a short '## Contents' list so a partial read still shows its scope.",
                file=path,
                lines=n,
            )


def score(findings: list[dict[str, Any]]) -> dict[str, int]:
    dims = {d: 100 for d in WEIGHTS}
    for f in findings:
        rule = f["rule"].removeprefix("quality.")
        dims[_dimension(rule)] -= PENALTY[f["severity"]]
        if rule == "body.missing":
            dims["content"] = 0
        elif rule in ("frontmatter.missing", "frontmatter.invalid", "frontmatter.unreadable"):
            # no usable frontmatter: nothing validates, and there is no description to judge either
            dims["validation"] = dims["description"] = 0
            if rule == "frontmatter.unreadable":
                dims["content"] = 0
        elif rule == "description.missing":
            dims["description"] = 0
    dims = {d: max(0, min(100, s)) for d, s in dims.items()}
    total = round(sum(dims[d] * w for d, w in WEIGHTS.items()))
    return {**dims, "total": total}


def combine(dims: dict[str, int], judged: dict[str, Any]) -> dict[str, int]:
    """Scores with the LLM judge's description and content dimensions in place of the heuristics'."""
    out = dict(dims)
    for d in ("description", "content"):
        if isinstance(judged.get(d), int | float):
            out[d] = max(0, min(100, round(judged[d])))
    out["total"] = round(sum(out[d] * w for d, w in WEIGHTS.items()))
    return out


def run(inventory: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    skills: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    judge = None
    llm_status: dict[str, Any] = {"status": "off"}
    if options.get("llm"):
        from skill_insights.analyzers import llm

        judge, llm_status = llm.client_from_options(options)
    for view in skills_from_inventory(inventory):
        doc = load_doc(view)
        res = check(doc)
        entry: dict[str, Any] = {"skill": res["skill"], "score": res["score"], "dimensions": res["dimensions"]}
        if judge is not None:
            judged = judge.judge_skill(view, doc.text or "")
            entry["llm"] = judged
            if judged.get("status") == "ok":
                entry["dimensions"] = combine(res["dimensions"], judged)
                entry["score"] = entry["dimensions"]["total"]
        skills.append(entry)
        findings.extend(res["findings"])
    if judge is not None:
        llm_status = judge.status()
    scores = [s["score"] for s in skills]
    return phase_output(
        PHASE,
        "skills",
        skills,
        findings,
        len(skills),
        mean_score=round(sum(scores) / len(scores), 1) if scores else None,
        llm=llm_status,
    )

"""One problem, one finding: the scan and the phases often see the same problem (a broken reference is found by
the scan, the quality rubric and the staleness phase); for display and counting they become one finding that
names every phase and rule that saw it.

Pure functions over finding dicts of the shape {phase, skill_id, skill_name, rule, severity, message, fix,
evidence}; `analyze` (the CLI) and the report both count what `merge` returns, so they count the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SEV_RANK = {"critical": 0, "error": 1, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3}
PHASE_ORDER = {"scan": 0, "quality": 1, "staleness": 2, "duplicates": 3, "registry": 4}

# rule → the problem it describes, where several rules describe one problem
_PROBLEM_OF_RULE = {
    "quality.references.missing": "missing-reference",
    "staleness.broken-reference": "missing-reference",
    "link_missing": "missing-reference",
    "quality.references.escapes-root": "reference-outside",
    "link_escapes_root": "reference-outside",
    "symlink_outside": "reference-outside",
    "quality.references.absolute": "absolute-reference",
    "link_absolute": "absolute-reference",
    "quality.description.missing": "missing-description",
    "description_missing": "missing-description",
    "quality.frontmatter.missing": "missing-frontmatter",
    "frontmatter_missing": "missing-frontmatter",
    "quality.frontmatter.invalid-yaml": "invalid-frontmatter",
    "frontmatter_invalid_yaml": "invalid-frontmatter",
}
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def _target(f: dict[str, Any]) -> str:
    """The file or link a reference finding is about: from its evidence, else the first quoted text."""
    ev = f.get("evidence")
    if isinstance(ev, dict):
        for k in ("ref", "target", "path"):
            if isinstance(ev.get(k), str) and ev[k]:
                return ev[k].removeprefix("./")
    m = _QUOTED.search(f.get("message") or "")
    return m.group(1).removeprefix("./") if m else ""


def problem_key(f: dict[str, Any]) -> tuple:
    """What makes two findings the same problem."""
    rule = f.get("rule") or ""
    evidence = f.get("evidence")
    ev: dict[str, Any] = evidence if isinstance(evidence, dict) else {}
    if rule == "duplicates.near" and ev.get("group") is not None:
        return ("duplicate-group", ev["group"])  # one group, whichever member reported it
    problem = _PROBLEM_OF_RULE.get(rule)
    skill = f.get("skill_id") or f.get("skill_name") or ""
    if problem is None:
        return ("rule", skill, rule, f.get("message") or "")
    if problem.endswith("reference") or problem == "reference-outside":
        return (problem, skill, _target(f))
    return (problem, skill)


def merge(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings with each problem once: the worst severity, the fullest message, every phase and rule that saw
    it (`phases`, `rules`). Order: worst first, then by phase and rule."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for f in findings:
        groups.setdefault(problem_key(f), []).append(f)
    out = []
    for same in groups.values():
        worst = min(
            same, key=lambda f: (SEV_RANK.get(f.get("severity") or "", 3), PHASE_ORDER.get(f.get("phase") or "", 9))
        )
        fullest = max(same, key=lambda f: len(f.get("message") or ""))
        merged = {
            **worst,
            "message": fullest.get("message") or "",
            "fix": worst.get("fix") or fullest.get("fix"),
            "phases": sorted({f.get("phase") or "" for f in same}, key=lambda p: PHASE_ORDER.get(p, 9)),
            "rules": list(dict.fromkeys(f.get("rule") or "" for f in same)),
        }
        if merged["rules"][0] == "duplicates.near":
            names = list(dict.fromkeys(f.get("skill_name") or "" for f in same))
            if len(names) > 1:
                merged["skill_name"] = ", ".join(n for n in names if n)
                sim = re.match(r"about \d+%", fullest.get("message") or "")
                merged["message"] = f"{' and '.join(n for n in names if n)} are near-duplicates" + (
                    f" ({sim.group(0)} similar)" if sim else ""
                )
        out.append(merged)
    out.sort(
        key=lambda f: (
            SEV_RANK.get(f.get("severity") or "", 3),
            f.get("phase") or "",
            f.get("rule") or "",
            f.get("skill_name") or "",
        )
    )
    return out


def counts(findings: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Findings per severity, worst first."""
    out: dict[str, int] = {}
    for f in findings:
        out[f.get("severity") or "info"] = out.get(f.get("severity") or "info", 0) + 1
    return dict(sorted(out.items(), key=lambda kv: SEV_RANK.get(kv[0], 3)))


def scan_findings(inventory: dict[str, Any]) -> list[dict[str, Any]]:
    """The inventory document's own findings (per skill and workspace-wide) in the analysis findings' shape."""
    out = []
    for s in inventory.get("skills") or []:
        if not isinstance(s, dict):
            continue
        sid = str(s.get("id") or s.get("content_hash") or s.get("name"))
        for f in s.get("findings") or []:
            if isinstance(f, dict):
                out.append(_scan(f, sid, str(s.get("name") or "(unnamed)")))
    out += [_scan(f, None, f.get("path")) for f in inventory.get("findings") or [] if isinstance(f, dict)]
    return out


def _scan(f: dict[str, Any], skill_id: str | None, skill_name: str | None) -> dict[str, Any]:
    return {
        "phase": "scan",
        "skill_id": skill_id,
        "skill_name": skill_name,
        "rule": f.get("code") or f.get("rule"),
        "severity": f.get("severity") or "warning",
        "message": f.get("message") or "",
        "fix": f.get("fix"),
        "evidence": {k: v for k, v in f.items() if k in ("path", "target")},
    }


def flatten(f: dict[str, Any]) -> dict[str, Any]:
    """An `analyze --json` finding ({phase, skill: {id, name}, …}) in the flat shape."""
    given = f.get("skill")
    skill: dict[str, Any] = given if isinstance(given, dict) else {}
    return {
        "phase": f.get("phase"),
        "skill_id": skill.get("id") or f.get("skill_id"),
        "skill_name": skill.get("name") or f.get("skill_name"),
        "rule": f.get("rule"),
        "severity": f.get("severity"),
        "message": f.get("message"),
        "fix": f.get("fix"),
        "evidence": f.get("evidence"),
    }


def _clip(s: str, n: int) -> str:
    # skill names come from files anyone can write: no control characters to the terminal, bounded width
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= n else s[: n - 1] + "…"


def summary_lines(doc: dict[str, Any], run_id: int, inventory: dict[str, Any], shown_max: int = 40) -> list[str]:
    """`analyze` for a person: each phase, the problem counts, the problems (not info) and the duplicate groups.
    The scan's findings count too, and each problem once: the report counts exactly these."""
    from skill_insights.usage import plural

    lines = [f"analysis run {run_id} over {plural(len(inventory.get('skills') or []), 'skill')}"]
    for name, p in doc["phases"].items():
        extra = p.get("error") or plural(p.get("findings", 0), "finding")
        lines.append(f"  {name:<11} {p['status']:<8} {p['seconds']:>7.2f}s  {extra}")
    problems = merge([*(flatten(f) for f in doc["findings"]), *scan_findings(inventory)])
    c = counts(problems)
    lines.append(
        f"problems: {plural(c.get('error', 0), 'error')}, {plural(c.get('warning', 0), 'warning')}, "
        f"{c.get('info', 0)} info"
    )
    shown = [f for f in problems if f["severity"] != "info"]
    for f in shown[:shown_max]:
        seen_by = "+".join(f["phases"])
        lines.append(
            f"  {f['severity'].upper():<7} {_clip(f['skill_name'] or '(workspace)', 24):<24} "
            f"{_clip(seen_by, 24):<24} {_clip(f['message'], 160)}"
        )
    if len(shown) > shown_max:
        lines.append(f"  … {len(shown) - shown_max} more (use --json)")
    for g in doc["duplicate_groups"]:
        names = ", ".join(_clip(s["name"], 40) for s in g["skills"])
        lines.append(f"duplicates ({g['kind']}, {g['similarity']:.2f}): {names}")
    return lines

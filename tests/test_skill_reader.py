"""One SKILL.md reader: the scan and every analysis phase agree on a skill's frontmatter and references, and
no SKILL.md body, however hostile, makes any of them slow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from skill_insights.analyzers import duplicates, quality, registry, staleness
from skill_insights.analyzers.model import load_doc, skills_from_inventory
from skill_insights.analyzers.runner import validate
from skill_insights.collectors.skills import scan
from skill_insights.collectors.skills.skillmd import extract_refs

SKILL_MD = """\
---
name: sql-format
description: &desc Formats SQL files. Use when the user asks to format SQL.
metadata:
  summary: *desc
---
# Format SQL

Read [the style](references/style.md) and [the rules](references/rules.md).
Run `scripts/format.py`, then `scripts/check.py` on the result.
See [the glossary][gloss] for terms.

[gloss]: references/glossary.md
"""


def _options(tmp_path: Path) -> dict[str, Any]:
    return {
        "now": 1.8e9,
        "stale_days": 180,
        "usage": {},
        "cache_dir": str(tmp_path / "cache"),
        "home": str(tmp_path / "home"),
        "registry": {"skills_api_url": None},
        "llm": False,
    }


def _scan_one(tmp_path: Path, skill_md: str, files: dict[str, str]) -> dict[str, Any]:
    skill = tmp_path / "repo" / ".claude" / "skills" / "sql-format"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(skill_md)
    for rel, text in files.items():
        (skill / rel).parent.mkdir(parents=True, exist_ok=True)
        (skill / rel).write_text(text)
    return scan([tmp_path / "repo"], agent_dirs=False, cache_file=tmp_path / "cache.json")


def test_the_scan_and_every_phase_agree_on_frontmatter_and_references(tmp_path: Path) -> None:
    inv = _scan_one(tmp_path, SKILL_MD, {"references/style.md": "# Style\n", "scripts/format.py": "print()\n"})
    [skill] = inv["skills"]
    # The scan: one alias is fine, the reference definition is a link, lines are SKILL.md's.
    assert skill["frontmatter"]["metadata"] == {"summary": skill["description"]}
    assert not [f for f in skill["findings"] if f["code"].startswith("frontmatter_")]
    links = {(lk["kind"], lk["target"], lk["line"]): lk["status"] for lk in skill["links"]}
    assert links == {
        ("link", "references/style.md", 9): "ok",
        ("link", "references/rules.md", 9): "missing",
        ("path", "scripts/format.py", 10): "ok",
        ("path", "scripts/check.py", 10): "missing",
        ("link", "references/glossary.md", 13): "missing",
    }
    scan_missing = {(line, target) for (_, target, line), status in links.items() if status == "missing"}

    # What every phase is given of it: the scan's frontmatter and references, not a parse of its own.
    doc = load_doc(skills_from_inventory(inv)[0])
    assert doc.frontmatter.data == skill["frontmatter"] and doc.frontmatter.error is None
    assert {(r.kind, r.raw, r.line) for r in doc.body_refs()} == set(links)

    options = _options(tmp_path)
    q = quality.run(inv, options)
    assert validate("quality", q) == []
    rules = {f["rule"] for f in q["findings"]}
    assert not {r for r in rules if r.startswith("quality.frontmatter")}  # the alias made it "invalid"
    assert {
        (f["evidence"]["line"], f["evidence"]["ref"])
        for f in q["findings"]
        if f["rule"] == "quality.references.missing"
    } == scan_missing

    s = staleness.run(inv, options)
    assert validate("staleness", s) == []
    assert {(b["line"], b["ref"]) for b in s["skills"][0]["broken_references"]} == scan_missing

    d = duplicates.run(inv, options)
    assert validate("duplicates", d) == [] and d["summary"]["skills"] == 1
    r = registry.run(inv, options)
    assert validate("registry", r) == [] and r["summary"]["skills"] == 1


def test_an_inventory_without_the_facts_is_read_by_the_scans_reader(tmp_path: Path) -> None:
    # A hand-written (or older) inventory lists the skill only: the phases read it the way the scan does.
    inv = _scan_one(tmp_path, SKILL_MD, {"references/style.md": "# Style\n"})
    bare = {
        **inv,
        "skills": [{k: v for k, v in s.items() if k not in ("frontmatter", "links", "files")} for s in inv["skills"]],
    }
    full, thin = load_doc(skills_from_inventory(inv)[0]), load_doc(skills_from_inventory(bare)[0])
    assert thin.frontmatter == full.frontmatter
    assert thin.refs == full.refs and thin.files == full.files
    assert quality.run(bare, _options(tmp_path))["findings"] == quality.run(inv, _options(tmp_path))["findings"]


def test_the_extractor_leaves_out_what_names_no_file() -> None:
    body = (
        "Guides: `references/{lang}/guide.md`, <name>/SKILL.md, `$HOME/scripts/x.sh`, `{base}/tool.py`.\n"
        "Install `@scope/pkg/index.js`; see [lodash](lodash) and [the API](file:///opt/api/spec.md).\n"
        "Then run scripts/fill.py.\n"
        "[a %20 b](references/a%20b.md)\n"
    )
    assert [(r.kind, r.target, r.line) for r in extract_refs(body)] == [
        ("link", "/opt/api/spec.md", 2),
        ("path", "scripts/fill.py", 3),
        ("link", "references/a b.md", 4),
    ]


# -- hostile bodies -----------------------------------------------------------------------------------------

K = 200_000
HOSTILE = {
    "brackets": "[" * K,
    "link-starts": "[a](b" * (K // 5),
    "angle-link-starts": "[a](<" * (K // 5),
    "images": "![a" * (K // 3),
    "close-open": "](" * (K // 2),
    "plus-words": "+a" * (K // 2) + " scripts/y.md\n",
    "blank-lines": "\n" * K + "[r]: x.md\n",
    "fences": "```\nx\n```\n[a](b.md)\n" * (K // 20),
    "slashes": "a/" * (K // 2),
    "angles": "<" * K,
    "braces": "{a}/b.md " * (K // 9),
    "ref-defs": "[a]: " * (K // 5),
    "spaces-in-links": "[a](" + " " * K,
}

# Scan the tree, then run each phase, each timed on its own, in a child process: a quadratic pattern cannot
# be interrupted from within (the regex engine does not check for signals), so the parent keeps the clock.
CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from skill_insights.analyzers import duplicates, quality, registry, staleness
    from skill_insights.collectors.skills import scan

    tmp = Path(sys.argv[1])
    options = json.loads(sys.argv[2])
    t = time.perf_counter()
    inv = scan([tmp / "repo"], agent_dirs=False, cache_file=tmp / "cache.json")
    times = {"scan": time.perf_counter() - t}
    for phase in (staleness, quality, duplicates, registry):
        t = time.perf_counter()
        out = phase.run(inv, options)
        times[out["phase"]] = time.perf_counter() - t
    print(json.dumps({"times": times, "skills": len(inv["skills"])}))
""")


def test_hostile_bodies_keep_the_scan_and_every_phase_fast(tmp_path: Path) -> None:
    skills = tmp_path / "repo" / ".claude" / "skills"
    for name, body in HOSTILE.items():
        d = skills / name
        (d / "references").mkdir(parents=True)
        (d / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Hostile. Use when testing.\n---\n"
            f"See [the notes](references/notes.md).\n{body}"
        )
        (d / "references" / "notes.md").write_text(body)  # a reference file's text is read for links too
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(_options(tmp_path))],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the scan and the phases took over 120 s on hostile SKILL.md bodies")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["skills"] == len(HOSTILE)
    # Linear work on 13 bodies of 200 KB is tens of milliseconds; a generous bound for a busy machine.
    slow = {k: round(v, 2) for k, v in result["times"].items() if v > 5.0}
    assert slow == {}, result["times"]

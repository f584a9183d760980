"""SKILL.md parsing: the fast frontmatter path agrees with YAML, bombs and oversize input become findings."""

from __future__ import annotations

import pytest
import yaml

from skill_insights.collectors.skills.skillmd import FRONTMATTER_MAX_BYTES, extract_refs, parse_skill_md, safe_yaml

CASES = [
    "name: x\ndescription: Does a thing. Use when you need it.",
    "name: x\ndescription: yes",
    "version: 1.5\nname: x",
    "created: 2024-01-01",
    "on: x",
    "name: 'quoted'",
    "name: foo # comment",
    "license: Apache-2.0\nallowed-tools: Read, Grep, Bash(git:*)",
    "name: x\nmetadata:\n  author: me\n  tags: [a, b]",
    "description: >\n  folded\n  text",
    "name: null",
    "name: foo [bar] {baz}",
]


@pytest.mark.parametrize("text", CASES)
def test_safe_yaml_matches_pyyaml(text):
    assert safe_yaml(text) == yaml.safe_load(text)


def test_bomb_and_oversize_are_findings_not_crashes():
    bomb = "---\na: &a [x, x, x]\n" + "".join(f"k{i}: *a\n" for i in range(100)) + "---\nbody\n"
    p = parse_skill_md(bomb)
    assert p.frontmatter is None and [f["code"] for f in p.findings] == ["frontmatter_aliases"]
    big = "---\nname: x\ndescription: " + "y" * (FRONTMATTER_MAX_BYTES + 10) + "\n---\nbody\n"
    assert [f["code"] for f in parse_skill_md(big).findings] == ["frontmatter_too_large"]
    assert parse_skill_md("no frontmatter at all\n").findings[0]["code"] == "frontmatter_missing"
    assert parse_skill_md("---\n- a\n- b\n---\n").findings[0]["code"] == "frontmatter_not_mapping"
    few = parse_skill_md("---\nname: x\ndescription: &d text\nsummary: *d\n---\nb\n")
    assert few.findings == [] and few.frontmatter["summary"] == "text"  # a few aliases are fine


def test_refs_links_paths_and_fences():
    body = (
        "Intro [guide](references/guide.md#top) and [site](https://example.invalid/a/b.md).\n"
        "Run `python scripts/fill.py` or read ../../etc/passwd and/or whatever.\n"
        "```\n[not a link](fenced.md)\npython scripts/in_fence.py\n```\n"
        "[ref]: references/other.md\n"
    )
    refs = [(r.kind, r.target, r.line) for r in extract_refs(body)]
    assert ("link", "references/guide.md", 1) in refs
    assert ("path", "scripts/fill.py", 2) in refs and ("path", "../../etc/passwd", 2) in refs
    assert ("path", "scripts/in_fence.py", 5) in refs  # commands in code blocks still reference files
    assert ("link", "references/other.md", 7) in refs
    assert not any(t in ("fenced.md", "and/or") or t.startswith("https") for _, t, _ in refs)
    p = parse_skill_md("---\nname: a\ndescription: b\n---\n" + body)
    assert p.body_lines == 7 and p.approx_tokens > 0 and p.name == "a"


def test_a_huge_integer_in_frontmatter_is_kept_as_text_and_the_scan_goes_on(tmp_path):
    from skill_insights.collectors.skills import scan
    from skill_insights.collectors.skills.store import stored_text

    skill = tmp_path / "repo" / ".claude" / "skills" / "big"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: big\ndescription: d\nversion: 123456789012345678901234567890\n"
        "build: 9223372036854775807\n---\nbody\n"
    )
    doc = scan([tmp_path / "repo"], agent_dirs=False, cache_file=tmp_path / "cache.json")
    fm = doc["skills"][0]["frontmatter"]
    assert fm["version"] == "123456789012345678901234567890"
    assert fm["build"] == 9223372036854775807  # the largest 64-bit integer stays a number
    assert "123456789012345678901234567890" in stored_text(doc)  # storable, and cached above

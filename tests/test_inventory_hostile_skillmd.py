"""Hostile SKILL.md files: bad YAML values, YAML bombs through shared nodes and C-stack-deep nesting are findings,
never exceptions or a dead process; nothing here grows without bound.

No wall times are asserted: the inputs are big enough that a regression hangs a test (or kills it) instead.
"""

from __future__ import annotations

import pytest

from skill_insights.collectors.skills.skillmd import (
    FRONTMATTER_MAX_BYTES,
    MAX_VALUES,
    json_safe,
    parse_skill_md,
)

HEAD = "---\nname: x\ndescription: y\n"


def codes(text: str) -> list[str]:
    return [f["code"] for f in parse_skill_md(text).findings]


BAD_VALUES = [
    "date: 2024-13-45",  # the timestamp resolver matches, datetime.date refuses: ValueError
    "v: !!int abc",
    "x: !!float x",
    "t: 2024-01-01 25:00:00",
    "t: 2024-01-01 10:00:00 +99:00",  # tz offset of 99 hours
    "v: 1" + ":0" * 20_000,  # a sexagesimal integer of 118,000 bits: past Python's int→str digit limit
    "v: 0b1" + "1" * 60_000,
    "? 1" + ":0" * 20_000 + "\n: as a key",
    "v: 1" + "0" * 5_000,  # a 5,001-digit decimal integer: int() refuses it
    "x: !!float " + "x" * 50_000,  # the error's repr of the scalar is as long as the frontmatter
]


@pytest.mark.parametrize("line", BAD_VALUES, ids=lambda s: s[:24])
def test_a_bad_yaml_value_is_an_invalid_yaml_finding(line: str) -> None:
    p = parse_skill_md(HEAD + line + "\n---\nbody\n")
    assert p.frontmatter is None and p.body == "body\n"
    [f] = p.findings
    assert f["code"] == "frontmatter_invalid_yaml" and f["severity"] == "error"
    assert f["message"].startswith("frontmatter is not valid YAML: ")
    assert "\n" not in f["message"] and len(f["message"]) < 300


DEEP = {
    "flow-seq": "[" * 30_000 + "]" * 30_000,
    "block-seq": "\n" + "- " * 30_000 + "x",
    "flow-map": "{" * 30_000 + "}" * 30_000,
}


@pytest.mark.parametrize("nest", DEEP.values(), ids=DEEP.keys())
def test_nesting_that_would_overflow_the_c_loaders_stack_is_a_finding(nest: str) -> None:
    # PyYAML's C composer recurses without a check: this depth killed the process with SIGSEGV.
    p = parse_skill_md(HEAD + "v: " + nest + "\n---\nbody\n")
    assert p.frontmatter is None and [f["code"] for f in p.findings] == ["frontmatter_invalid_yaml"]


def bomb(levels: int, items: int) -> str:
    """A list of `items` and `levels` lists of three aliases each to the level below: 3^levels · items values."""
    lines = ["a: &a [" + ",".join(["1"] * items) + "]"]
    prev = "a"
    for i in range(levels):
        lines.append(f"l{i}: &l{i} [*{prev}, *{prev}, *{prev}]")
        prev = f"l{i}"
    return HEAD + "\n".join(lines) + "\n---\nbody\n"


@pytest.mark.parametrize(("levels", "items"), [(10, 25_000), (10, 1_000), (9, 1), (1, 3_000)])
def test_shared_nodes_that_expand_past_the_budget_are_refused(levels: int, items: int) -> None:
    # 10 levels over 25,000 items (a 50 KB frontmatter, 30 aliases) would be 1.5 billion values, ~19 GB.
    text = bomb(levels, items)
    assert len(text) < FRONTMATTER_MAX_BYTES and 3 * levels <= 32  # under both older caps
    p = parse_skill_md(text)
    assert p.frontmatter is None and p.body == "body\n"
    [f] = p.findings
    assert f["code"] == "frontmatter_too_complex" and f["severity"] == "error"
    assert str(MAX_VALUES) in f["message"]


def test_a_self_referencing_list_is_refused_not_copied_to_the_depth_cap() -> None:
    # 3 aliases, 3^20 copies down to MAX_DEPTH
    assert codes(HEAD + "a: &a [*a, *a, *a]\n---\n") == ["frontmatter_too_complex"]


def test_a_long_text_aliased_many_times_is_refused() -> None:
    text = HEAD.replace("y", "&d " + "y" * 60_000) + "more: [" + ", ".join(["*d"] * 30) + "]\n---\n"
    p = parse_skill_md(text)
    assert p.frontmatter is None and [f["code"] for f in p.findings] == ["frontmatter_too_complex"]
    assert "characters" in p.findings[0]["message"]


def test_shared_nodes_within_the_budget_are_kept() -> None:
    p = parse_skill_md(bomb(3, 100))  # 2,700 values
    assert p.findings == [] and p.name == "x"
    assert p.frontmatter is not None and len(p.frontmatter["l2"]) == 3 and p.frontmatter["l2"][2][2][2] == [1] * 100
    fm = parse_skill_md(HEAD + "defaults: &d {retries: 3, timeout: 30}\nprod: *d\n---\n").frontmatter
    assert fm == {"name": "x", "description": "y", "defaults": {"retries": 3, "timeout": 30},
                  "prod": {"retries": 3, "timeout": 30}}


def test_more_aliases_than_the_cap_are_still_refused_as_aliases() -> None:
    text = "---\nname: &n x\ndescription: y\nv: [" + ", ".join(["*n"] * 40) + "]\n---\n"
    assert codes(text) == ["frontmatter_aliases"]


def test_json_safe_counts_every_value_it_makes() -> None:
    shared = list(range(10))
    assert json_safe({"a": [shared] * 5}) == {"a": [list(range(10))] * 5}
    with pytest.raises(ValueError, match="more than 50 values"):
        json_safe({"a": [shared] * 5}, max_values=50)
    with pytest.raises(ValueError, match="characters"):
        json_safe({"k": ["abcd"] * 4}, max_chars=15)

"""Hostile SKILL.md files: bad YAML values, YAML bombs through shared nodes and C-stack-deep nesting are findings,
never exceptions or a dead process; refs come out of a body of up to 1 MB in linear time, whatever it holds,
and the refs of ordinary markdown are what they were.

No wall times are asserted: the inputs are big enough that a regression hangs a test (a quadratic pattern
takes minutes on them) or kills it, instead.
"""

from __future__ import annotations

import pytest

from skill_insights.collectors.skills.skillmd import (
    FRONTMATTER_MAX_BYTES,
    MAX_VALUES,
    extract_refs,
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
    assert fm == {
        "name": "x",
        "description": "y",
        "defaults": {"retries": 3, "timeout": 30},
        "prod": {"retries": 3, "timeout": 30},
    }


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


def refs(body: str) -> list[tuple[str, str, int]]:
    return [(r.kind, r.target, r.line) for r in extract_refs(body)]


ORDINARY = (
    "# PDF report\n"
    "\n"
    "Read [the guide](references/guide.md#setup) and [the API](<references/api ref.md>), then\n"
    '[the form](./forms/form.md "Form") or [home](https://example.invalid/docs/a.md) and [top](#usage).\n'
    "![diagram](assets/flow.png) ![logo](assets/logo.svg 'Logo') [mail](mailto:a@example.invalid)\n"
    "Run `python scripts/fill.py --in data/input.csv`, see ../shared/style.md, ~/notes/todo.md,\n"
    "/etc/hosts and C++/x.md or a+b/c.md, but not and/or, http://example.invalid/x/y.md or a//b.md.\n"
    "[ref]: references/other.md\n"
    "More text.\n"
    '  [ref2]: <references/third.md> "Third"\n'
    "```bash\n"
    "[not a link](fenced.md)\n"
    "python scripts/in_fence.py\n"
    "```\n"
    "~~~\n"
    "[also not](tilde.md)\n"
    "~~~\n"
    "Done: [again](references/guide.md) and scripts/fill.py.\n"
)


def test_the_refs_of_ordinary_markdown_are_unchanged() -> None:
    # What the patterns before the linear rewrite found, to the line; but a link target in angle brackets may
    # hold spaces (it was missed), and a reference definition's target is its link, not also a path mention.
    assert refs(ORDINARY) == [
        ("link", "references/guide.md", 3),
        ("link", "references/api ref.md", 3),
        ("link", "./forms/form.md", 4),
        ("link", "assets/flow.png", 5),
        ("link", "assets/logo.svg", 5),
        ("path", "scripts/fill.py", 6),
        ("path", "data/input.csv", 6),
        ("path", "../shared/style.md", 6),
        ("path", "~/notes/todo.md", 6),
        ("path", "/etc/hosts", 7),
        ("path", "C++/x.md", 7),
        ("path", "a+b/c.md", 7),
        ("link", "references/other.md", 8),
        ("link", "references/third.md", 10),
        ("path", "scripts/in_fence.py", 13),
    ]


def test_brackets_in_link_text_nest_one_level() -> None:
    # A badge inside a link: the image and the link's own target (the target used to be missed, or seen as a
    # mere path mention); a bracketed word in the text no longer hides the link.
    assert refs("[![badge](img.png)](docs/target.md) x\n") == [("link", "docs/target.md", 1), ("link", "img.png", 1)]
    assert refs("[see [1]](notes/x.md)\n") == [("link", "notes/x.md", 1)]
    assert refs("[a [b](c.md)\n") == [("link", "c.md", 1)]  # a stray `[` is text
    assert refs("```\n[![b](in.png)](fenced.md)\n```\n") == []


def test_a_reference_definition_after_blank_lines_is_on_its_own_line() -> None:
    # `^\s*` let the match start on the first blank line above it, and reported that line.
    assert refs("Intro\n\n\n[r]: x.md\n") == [("link", "x.md", 4)]


MB = 1_000_000


def test_a_long_run_of_plus_separated_words_before_a_path() -> None:
    # `+` was missing from the path pattern's lookbehind: a match started at every `a` and rescanned the run.
    assert refs("+a" * (MB // 2 - 8) + " x/y.md\n") == [("path", "x/y.md", 1)]


def test_a_line_of_opening_brackets() -> None:
    # Every `[` used to start a scan to the end of the line.
    assert refs("[" * (MB - 8) + "\n](x.md)\n") == []
    assert refs("![a" * (MB // 3 - 8) + "\n[b](x.md)\n") == [("link", "x.md", 2)]


def test_a_long_unclosed_chain_of_link_starts() -> None:
    # Each `[a](b` started a target scan to the end of the chain.
    assert refs("[a](b" * (MB // 5 - 8) + " x\n") == []


def test_many_fenced_blocks_and_links() -> None:
    # Every link was checked against every fence.
    body = "```\nx\n```\n[a](b.md)\n" * (MB // 20)
    assert refs(body) == [("link", "b.md", 4)]


def test_many_blank_lines_before_a_reference_definition() -> None:
    n = MB - 16
    assert refs("\n" * n + "x ]:\n") == []
    assert refs("\n" * n + "[r]: x.md\n") == [("link", "x.md", n + 1)]


def test_many_distinct_refs_get_their_lines() -> None:
    # Counting each ref's line from the top was quadratic in the number of refs.
    n = MB // 12
    got = refs("".join(f"see d/f{i}.md\n" for i in range(n)))
    assert len(got) == n and got[-1] == ("path", f"d/f{n - 1}.md", n)


def test_a_frontmatter_line_with_a_long_run_of_inner_blanks() -> None:
    # The fast path's lazy value before `[ \t]*$` was quadratic in the blanks (64 KiB of frontmatter at most).
    value = "v" + " " * 60_000 + "x"
    p = parse_skill_md("---\nname: n\ndescription: d\nk: " + value + "\n---\nbody\n")
    assert p.findings == [] and p.frontmatter == {"name": "n", "description": "d", "k": value}
    p = parse_skill_md("---\nname: n \t \r\ndescription: d" + " " * 60_000 + "\n---\nbody\n")
    assert p.findings == [] and p.frontmatter == {"name": "n", "description": "d"}


def test_reference_definitions_on_consecutive_lines_are_each_a_link() -> None:
    # Regression: the optional title's `\s+.*` ran into the next line, so the second of two adjacent
    # definitions was swallowed (found only as a path mention).
    body = 'Intro.\n\n[a]: refs/a.md\n[b]: refs/b.md "Title"\n[c]: <refs/c.md>\nEnd.\n'
    links = [(r.target, r.line) for r in extract_refs(body) if r.kind == "link"]
    assert links == [("refs/a.md", 3), ("refs/b.md", 4), ("refs/c.md", 5)]

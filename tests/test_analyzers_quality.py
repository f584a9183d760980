"""Quality rubric: hand-made skills that each trip one rule, the score, references, and the LLM judge."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from test_analyzers_support import inventory, messages_reply, serve, skill_entry, write_skill

from skill_insights.analyzers import quality
from skill_insights.analyzers.model import load_doc, skills_from_inventory
from skill_insights.analyzers.refs import extract_refs, judged
from skill_insights.analyzers.runner import validate
from skill_insights.store import open_db

LONG = "\n".join(f"Line {i} of the reference." for i in range(150)) + "\n"


def rules_of(path: Path, **entry: Any) -> tuple[set[str], dict[str, Any]]:
    view = skills_from_inventory(inventory(skill_entry(path, **entry)))[0]
    res = quality.check(load_doc(view))
    return {f["rule"].removeprefix("quality.") for f in res["findings"]}, res


# (folder, write_skill kwargs, the exact rules expected)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("no-fm", {"raw_frontmatter": "", "body": "# Just a body\n"}, {"frontmatter.missing"}),
    ("bad-yaml", {"raw_frontmatter": "---\nname: [unclosed\n---\n"}, {"frontmatter.invalid"}),
    ("agent-key", {"extra": {"argument-hint": "[file]"}}, {"frontmatter.agent-key"}),
    ("unknown-key", {"extra": {"version": "1.0"}}, {"frontmatter.unknown-key"}),
    (
        "no-name",
        {"raw_frontmatter": "---\ndescription: Formats SQL. Use when asked to format SQL.\n---\n"},
        {"name.missing"},
    ),
    ("xml-name", {"name": "<b>xml</b>"}, {"name.xml"}),
    ("a" * 65, {}, {"name.too-long"}),
    ("My_Skill", {}, {"name.charset"}),
    ("-bad--name-", {}, {"name.hyphens"}),
    ("claude-helper", {}, {"name.reserved"}),
    ("alpha", {"name": "beta"}, {"name.folder-mismatch"}),
    ("no-desc", {"description": None}, {"description.missing"}),
    (
        "long-desc",
        {"description": "Formats SQL files. Use when the user asks. " + "Detail. " * 130},
        {"description.too-long"},
    ),
    ("xml-desc", {"description": "Formats <sql> files. Use when the user asks to format SQL."}, {"description.xml"}),
    (
        "first-person",
        {"description": "I can format SQL files. Use when the user asks to format SQL."},
        {"description.person"},
    ),
    ("no-when", {"description": "Formats SQL files with the house style."}, {"description.when"}),
    ("no-body", {"body": "\n  \n"}, {"body.missing"}),
    ("long-body", {"body": "step\n" * 600}, {"body.too-long"}),
    ("big-body", {"body": ("word " * 60 + "\n") * 100}, {"body.too-many-tokens"}),
    ("abs-ref", {"body": "Read [the config](/etc/skill/config.md).\n"}, {"references.absolute"}),
    (
        "backslash-ref",
        {"body": "Read [api](references\\api.md).\n", "files": {"references/api.md": "# API\n"}},
        {"references.backslash"},
    ),
    ("escaping-ref", {"body": "Read [other](../other/SKILL.md).\n"}, {"references.escapes-root"}),
    ("missing-ref", {"body": "Read [api](references/api.md).\n"}, {"references.missing"}),
    (
        "nested-ref",
        {
            "body": "Read [a](references/a.md).\n",
            "files": {"references/a.md": "See [b](b.md).\n", "references/b.md": "# B\n"},
        },
        {"references.nested"},
    ),
    (
        "toc-ref",
        {"body": "Read [long](references/long.md).\n", "files": {"references/long.md": LONG}},
        {"references.toc"},
    ),
]


@pytest.mark.parametrize(("folder", "kwargs", "expected"), CASES, ids=[c[0][:20] for c in CASES])
def test_each_rule_trips_on_its_own_skill(
    tmp_path: Path, folder: str, kwargs: dict[str, Any], expected: set[str]
) -> None:
    path = write_skill(tmp_path, folder, **kwargs)
    rules, res = rules_of(path)
    assert rules == expected
    for f in res["findings"]:
        assert f["message"] and f["fix"] and f["severity"] in ("error", "warning", "info")


def test_every_rule_of_the_rubric_is_exercised() -> None:
    tripped = {r for _, _, rules in CASES for r in rules} | {"frontmatter.unreadable"}
    import re

    src = Path(quality.__file__).read_text()
    declared = set(re.findall(r'add\("([a-z]+\.[a-z.-]+)"', src))
    assert declared and declared <= tripped


def test_unreadable_skill_md(tmp_path: Path) -> None:
    (tmp_path / "gone").mkdir()
    view = skills_from_inventory(
        inventory(
            {
                "id": "x",
                "name": "gone",
                "content_hash": "h",
                "locations": [
                    {"path": str(tmp_path / "gone"), "agent": "claude-code", "scope": "user", "is_link": False}
                ],
            }
        )
    )[0]
    res = quality.check(load_doc(view))
    assert [f["rule"] for f in res["findings"]] == ["quality.frontmatter.unreadable"]


def test_clean_skill_scores_100_and_not_file_references_are_ignored(tmp_path: Path) -> None:
    body = (
        "# Format SQL\n\nRun `scripts/format.py` on the file, then check [the style](references/style.md).\n"
        "Localised guides live in `references/{lang}/guide.md` and <name>/SKILL.md.\n"
        "Install with `npm install @acme/sql-formatter` or `pip install sqlfluff@2.0`.\n"
        "The service answers `GET /api/search?q=x` and https://example.org/docs/page.md.\n"
        "Jump to [usage](#usage) or [home](https://example.org).\n\n## Usage\n\nDone.\n"
    )
    path = write_skill(
        tmp_path,
        "sql-format",
        body=body,
        files={"scripts/format.py": "print('x')\n", "references/style.md": "# Style\n"},
    )
    rules, res = rules_of(path)
    assert rules == set()
    assert res["score"] == 100
    assert res["dimensions"] == {"validation": 100, "description": 100, "content": 100, "total": 100}


def test_score_is_weighted_by_dimension(tmp_path: Path) -> None:
    # Two description warnings (person, when): description 50 → 0.2*100 + 0.4*50 + 0.4*100 = 80.
    path = write_skill(tmp_path, "weak-desc", description="I format SQL files.")
    rules, res = rules_of(path)
    assert rules == {"description.person", "description.when"}
    assert res["dimensions"]["description"] == 50
    assert res["score"] == 80
    # No frontmatter: validation is 0, and the body is still judged as content.
    _, res2 = rules_of(write_skill(tmp_path, "nofm", raw_frontmatter="", body="Body\n"))
    assert res2["dimensions"]["validation"] == 0
    assert res2["score"] < res["score"]


def test_extract_refs_classifies_links_and_paths() -> None:
    text = (
        "[a](references/a.md#part) [b](<refs with space/b.md>) ![img](assets/logo.png)\n"
        "[up](../../etc/passwd) [win](C:\\Users\\x\\f.md) [file](file:///tmp/x.md)\n"
        "python scripts/run.py --in data/x.csv\n"
        "[pkg](lodash) `@scope/pkg` `templates/{lang}/x.md` `$HOME/scripts/x.sh`\n"
    )
    refs = {r.path: r for r in judged(extract_refs(text), ())}
    assert set(refs) == {
        "references/a.md",
        "refs with space/b.md",
        "assets/logo.png",
        "../../etc/passwd",
        "C:/Users/x/f.md",
        "/tmp/x.md",
        "scripts/run.py",
    }
    assert refs["../../etc/passwd"].escapes
    assert refs["C:/Users/x/f.md"].absolute and refs["C:/Users/x/f.md"].backslash
    assert refs["/tmp/x.md"].absolute
    assert refs["scripts/run.py"].kind == "path" and refs["scripts/run.py"].line == 3
    # `data/x.csv` is not a conventional skill folder unless the skill has one
    assert "data/x.csv" in {r.path for r in judged(extract_refs(text), {"data"})}


def test_quality_phase_output_matches_its_schema(tmp_path: Path) -> None:
    a = write_skill(tmp_path, "sql-format")
    b = write_skill(tmp_path, "Bad_Name", description=None)
    out = quality.run(inventory(skill_entry(a), skill_entry(b)), {"llm": False})
    assert validate("quality", out) == []
    assert out["summary"]["skills"] == 2
    assert {s["skill"]["name"] for s in out["skills"]} == {"sql-format", "Bad_Name"}


# -- LLM judge ------------------------------------------------------------------------------------------


def _llm_options(tmp_path: Path, base_url: str, timeout: float = 5.0) -> dict[str, Any]:
    db_path = tmp_path / "store.db"
    open_db(db_path).conn.close()
    return {
        "llm": True,
        "db_path": str(db_path),
        "llm_config": {
            "base_url": base_url,
            "model": "test-model",
            "key_file": str(tmp_path / "nokey"),
            "timeout": timeout,
        },
    }


def test_llm_judge_scores_description_and_content_and_is_cached(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-secret-123")
    path = write_skill(tmp_path / "s", "sql-format")
    inv = inventory(skill_entry(path))
    with serve(lambda req: (200, messages_reply({"description": 40, "content": 90, "reason": "ok"}))) as srv:
        opts = _llm_options(tmp_path, srv.url)
        out = quality.run(inv, opts)
        assert validate("quality", out) == []
        s = out["skills"][0]
        assert s["llm"]["status"] == "ok" and s["llm"]["cached"] is False
        assert s["dimensions"] == {"validation": 100, "description": 40, "content": 90, "total": 72}
        assert s["score"] == 72
        req = srv.requests[0]
        assert req.path == "/v1/messages" and req.headers["x-api-key"] == "sk-test-secret-123"
        assert req.headers["anthropic-version"]
        body = json.loads(req.body)
        assert body["model"] == "test-model" and "sql-format" in body["messages"][0]["content"]
        again = quality.run(inv, opts)
        assert len(srv.requests) == 1  # answered from the cache
        assert again["skills"][0]["llm"]["cached"] is True and again["skills"][0]["score"] == 72
    assert "sk-test-secret-123" not in json.dumps(out) + json.dumps(again)


def test_llm_500_and_timeout_keep_the_deterministic_score(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    inv = inventory(*(skill_entry(write_skill(tmp_path / "s", n)) for n in ("one-skill", "two-skill")))
    with serve(lambda req: (500, {"error": "overloaded"})) as srv:
        out = quality.run(inv, _llm_options(tmp_path, srv.url))
        assert [s["score"] for s in out["skills"]] == [100, 100]
        assert all(s["llm"]["status"] == "error" for s in out["skills"])
        assert out["summary"]["llm"]["status"] == "unavailable"
        assert len(srv.requests) == 1  # a 5xx stops the judge for the rest of the run

    def slow(req):  # longer than the client's timeout
        time.sleep(2.0)
        return 200, messages_reply({"description": 1, "content": 1})

    with serve(slow) as srv:
        out = quality.run(inv, _llm_options(tmp_path, srv.url, timeout=0.3))
        assert out["summary"]["llm"]["error"] == "LLM API timed out"
        assert [s["score"] for s in out["skills"]] == [100, 100]
        assert validate("quality", out) == []


def test_llm_key_file_must_be_private(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    inv = inventory(skill_entry(write_skill(tmp_path / "s", "sql-format")))
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    with serve(lambda req: (200, messages_reply({"description": 80, "content": 80}))) as srv:
        opts = _llm_options(tmp_path, srv.url)
        opts["llm_config"]["key_file"] = str(key_file)
        os.chmod(key_file, 0o644)
        out = quality.run(inv, opts)
        assert out["summary"]["llm"]["status"] == "not configured"
        assert "chmod 600" in out["summary"]["llm"]["error"]
        assert srv.requests == []
        os.chmod(key_file, 0o600)
        out = quality.run(inv, opts)
        assert out["summary"]["llm"]["status"] == "ok"
        assert srv.requests[0].headers["x-api-key"] == "sk-from-file"
        assert "sk-from-file" not in json.dumps(out)

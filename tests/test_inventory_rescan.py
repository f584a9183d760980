"""The fast paths of the skills scan give the same inventory as a plain one: forked workers, the stat-signature
cache of a re-scan (and what it must notice), the walk's caps; and the store's incremental rewrite."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from skill_insights.collectors.skills import scan, worker_count
from skill_insights.collectors.skills.skilldir import MAX_FILES, process_skill, signature


def _skill(d: Path, name: str, body: str = "See [guide](references/guide.md) and `scripts/run.sh`.\n") -> Path:
    (d / "scripts").mkdir(parents=True, exist_ok=True)
    (d / "references").mkdir(exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}.\n---\n{body}")
    (d / "scripts" / "run.sh").write_text(f"echo {name}\n")
    (d / "references" / "guide.md").write_text(f"# {name}\n")
    return d


def _tree(root: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        out.append(_skill(root / f"repo{i % 7}" / ".claude" / "skills" / f"s{i:03d}", f"s{i:03d}"))
    # a vendored copy (collapses with s000), a nested skill and a link inside a skill
    _skill(root / "vendor" / ".agents" / "skills" / "s000", "s000")
    _skill(out[1] / "inner", "inner")
    os.symlink("guide.md", out[2] / "references" / "alias.md")
    return out


def _content(doc: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in doc.items() if k not in ("generated_at", "duration_seconds")},
                        option=orjson.OPT_SORT_KEYS)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "tree"
    return root, _tree(root, 130)


def test_forked_workers_give_the_same_inventory(tree: tuple[Path, list[Path]]) -> None:
    root, _ = tree
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        pytest.skip("workers only fork in a single-threaded process")
    assert worker_count(2, 131) == 2
    serial = scan([root], agent_dirs=False, workers=1)
    forked = scan([root], agent_dirs=False, workers=2)
    assert _content(forked) == _content(serial)
    assert serial["stats"]["skills"] == 131  # 130 + the nested one; the vendored copy collapses into s000


def test_rescan_reuses_unchanged_results_and_sees_every_change(tree: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, skills = tree
    cache = tmp_path / "cache.json"
    first = scan([root], agent_dirs=False, cache_file=cache, workers=2)
    written = cache.stat().st_mtime_ns
    again = scan([root], agent_dirs=False, cache_file=cache, workers=2)
    assert _content(again) == _content(first)
    assert cache.stat().st_mtime_ns == written  # nothing changed: the cache is not rewritten

    # Same size, new content; a new file; a removed file; a link retargeted: each one is noticed.
    (skills[3] / "scripts" / "run.sh").write_text("echo ZZZZ\n")  # as long as "echo s003\n"
    (skills[4] / "references" / "new.md").write_text("new\n")
    (skills[5] / "scripts" / "run.sh").unlink()
    os.unlink(skills[2] / "references" / "alias.md")
    os.symlink("../scripts/run.sh", skills[2] / "references" / "alias.md")
    changed = scan([root], agent_dirs=False, cache_file=cache, workers=2)
    fresh = scan([root], agent_dirs=False)
    assert _content(changed) == _content(fresh)
    assert _content(changed) != _content(first)
    by_name = {s["name"]: s for s in changed["skills"]}
    assert "references/new.md" in {f["path"] for f in by_name["s004"]["files"]}
    assert "scripts/run.sh" not in {f["path"] for f in by_name["s005"]["files"]}


def test_signature_matches_what_a_full_read_records(tree: tuple[Path, list[Path]]) -> None:
    _, skills = tree
    for d in skills[:4]:
        real = os.path.realpath(d)
        res = process_skill(real)
        assert res["sig"] == signature(real)
        assert process_skill(real, None, res) is res  # unchanged: the cached result itself


def test_file_cap_keeps_the_first_files_and_says_so(tmp_path: Path) -> None:
    d = _skill(tmp_path / "big", "big")
    for i in range(MAX_FILES + 5):
        (d / f"f{i:05d}.txt").write_text("x")
    res = process_skill(os.path.realpath(d))
    assert len(res["files"]) == MAX_FILES
    assert [f["code"] for f in res["findings"]].count("too_many_files") == 1
    assert res["sig"] == signature(os.path.realpath(d))

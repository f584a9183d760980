"""Registry search against a real local HTTP server: answers, 500s, timeouts, offline, cache, lock file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from test_analyzers_support import by_name, closed_port_url, inventory, serve, skill_entry, write_skill

from skill_insights.analyzers import registry
from skill_insights.analyzers.runner import validate


def _inv(tmp_path: Path) -> dict[str, Any]:
    root = tmp_path / "skills"
    return inventory(
        skill_entry(write_skill(root, "pdf-extract")),
        skill_entry(write_skill(root, "sql-format")),
        skill_entry(write_skill(root, "review-pr"), scope="tile", agent="tessl"),
        skill_entry(write_skill(root, "plugin-skill"), scope="plugin"),
        skill_entry(write_skill(root, "cli-installed"), scope="user"),
    )


def _opts(tmp_path: Path, url: str | None, timeout: float = 5.0) -> dict[str, Any]:
    home = tmp_path / "home"
    (home / ".agents").mkdir(parents=True, exist_ok=True)
    (home / ".agents" / ".skill-lock.json").write_text(
        json.dumps({"version": 1, "skills": {"cli-installed": {"source": "acme/skills"}}})
    )
    return {
        "now": time.time(),
        "cache_dir": str(tmp_path / "cache"),
        "home": str(home),
        "registry": {"skills_api_url": url, "timeout": timeout, "cache_ttl_days": 7},
    }


def search_answer(req) -> tuple[int, Any]:
    q = parse_qs(urlparse(req.path).query)
    text = q["q"][0]
    assert urlparse(req.path).path == "/api/search" and q["limit"] == ["10"]
    if text == "pdf extract":
        return 200, {
            "skills": [
                {"id": "acme/pdf-extract", "name": "pdf-extract", "installs": 1200, "source": "acme/skills"},
                {"id": "x/unrelated", "name": "spreadsheet-magic", "installs": 5, "source": "x/skills"},
            ]
        }
    return 200, {"skills": []}


def test_standalone_skills_are_searched_and_alternatives_found(tmp_path: Path) -> None:
    with serve(search_answer) as srv:
        out = registry.run(_inv(tmp_path), _opts(tmp_path, srv.url))
        assert validate("registry", out) == []
        s = by_name(out)
        assert s["pdf-extract"]["status"] == "checked"
        assert s["pdf-extract"]["alternatives"][0]["installs"] == 1200
        assert s["sql-format"]["status"] == "checked" and s["sql-format"]["alternatives"] == []
        for name in ("review-pr", "plugin-skill", "cli-installed"):
            assert s[name]["status"] == "skipped" and s[name]["standalone"] is False
        assert [(f["skill"]["name"], f["rule"]) for f in out["findings"]] == [("pdf-extract", "registry.alternative")]
        assert [a["name"] for a in out["findings"][0]["evidence"]["alternatives"]] == ["pdf-extract"]
        assert len(srv.requests) == 2
        # a second run is answered from the on-disk cache
        again = registry.run(_inv(tmp_path), _opts(tmp_path, srv.url))
        assert len(srv.requests) == 2
        assert by_name(again)["pdf-extract"]["alternatives"] == s["pdf-extract"]["alternatives"]
    assert out["summary"] == {"skills": 5, "findings": 1, "checked": 2, "not_checked": 0, "skipped": 3}


def test_500_timeout_and_offline_mean_not_checked(tmp_path: Path) -> None:
    with serve(lambda req: (500, {"error": "boom"})) as srv:
        out = registry.run(_inv(tmp_path), _opts(tmp_path, srv.url))
        s = by_name(out)
        assert s["pdf-extract"]["status"] == "not checked" and "HTTP 500" in s["pdf-extract"]["reason"]
        assert s["sql-format"]["status"] == "not checked"
        assert len(srv.requests) == 1  # a failing registry is not asked again in the same run
        assert validate("registry", out) == []

    def slow(req):
        time.sleep(2.0)
        return search_answer(req)

    with serve(slow) as srv:
        out = registry.run(_inv(tmp_path), _opts(tmp_path, srv.url, timeout=0.3))
        assert {s["status"] for s in out["skills"] if s["standalone"]} == {"not checked"}
        assert "timeout" in by_name(out)["pdf-extract"]["reason"]

    out = registry.run(_inv(tmp_path), _opts(tmp_path, closed_port_url()))
    assert out["summary"]["not_checked"] == 2 and out["findings"] == []
    assert "unreachable" in by_name(out)["sql-format"]["reason"]

    out = registry.run(_inv(tmp_path), _opts(tmp_path, None))
    assert by_name(out)["pdf-extract"] == {
        "skill": by_name(out)["pdf-extract"]["skill"],
        "standalone": True,
        "status": "not checked",
        "reason": "no registry configured",
    }


def test_malformed_answer_is_not_checked(tmp_path: Path) -> None:
    with serve(lambda req: (200, {"results": "nope"})) as srv:
        out = registry.run(_inv(tmp_path), _opts(tmp_path, srv.url))
    assert by_name(out)["pdf-extract"]["status"] == "not checked"
    assert "not {skills" in by_name(out)["pdf-extract"]["reason"]


def test_adapter_interface_takes_a_second_registry(tmp_path: Path) -> None:
    class Static:
        name = "static"

        def search(self, query: str) -> list[registry.Alternative]:
            return [registry.Alternative(id="s/sql-format", name="sql-format", source="static/skills")]

    views = registry.skills_from_inventory(_inv(tmp_path))
    with serve(search_answer) as srv:
        records, findings = registry.search_all(views, [registry.SkillsApiAdapter(srv.url), Static()], None, set())
    recs = {r["skill"]["name"]: r for r in records}
    assert [a["registry"] for a in recs["pdf-extract"]["alternatives"]] == ["skills-api", "skills-api", "static"]
    assert {f["skill"]["name"] for f in findings} == {"pdf-extract", "sql-format"}


def test_disk_cache_entries_that_put_did_not_write_are_refetched(tmp_path) -> None:
    # Regression: an entry with an unexpected key raised TypeError (the whole phase failed), and a FIFO in
    # the cache folder blocked the read; both now read as "not cached".
    import json
    import os

    from skill_insights.analyzers.registry import DiskCache

    cache = DiskCache(tmp_path, ttl_seconds=60, now=1000.0)
    cache.put("skills", "ok", [])
    assert cache.get("skills", "ok") == []
    bad = cache._path("skills", "bad")
    bad.write_text(json.dumps({"fetched_at": 1000.0, "results": [{"name": "x", "surprise": 1}]}))
    assert cache.get("skills", "bad") is None
    fifo = cache._path("skills", "fifo")
    os.mkfifo(fifo)
    assert cache.get("skills", "fifo") is None
